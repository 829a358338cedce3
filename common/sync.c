/* SPDX-License-Identifier: MIT */
/* Directory sync from the Management API and the change list (sync.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "authz.h"
#include "fileio.h"
#include "identity.h"
#include "json.h"
#include "localdb.h"
#include "log.h"
#include "memory.h"
#include "mgmt.h"
#include "names.h"
#include "owners.h"
#include "relay.h"
#include "sync.h"
#include "util.h"

#define REASON_MAX   400 /* bytes of a skip reason built from several collisions */
#define PROGRESS_GAP 500 /* users between "mapping" progress calls */

/* ------------------------------------------------------------------------------------------ */
/* Names */

const char *logto_sync_change_kind_name(enum logto_sync_change_kind kind)
{
    static const char *const names[] = {
        [LOGTO_SYNC_USER_ADDED] = "user-added",
        [LOGTO_SYNC_USER_REMOVED] = "user-removed",
        [LOGTO_SYNC_USER_CHANGED] = "user-changed",
        [LOGTO_SYNC_GROUP_ADDED] = "group-added",
        [LOGTO_SYNC_GROUP_REMOVED] = "group-removed",
        [LOGTO_SYNC_GROUP_CHANGED] = "group-changed",
        [LOGTO_SYNC_MEMBER_ADDED] = "member-added",
        [LOGTO_SYNC_MEMBER_REMOVED] = "member-removed",
    };
    return (unsigned)kind < ELEMENTSOF(names) ? names[kind] : "?";
}

const char *logto_sync_skip_kind_name(enum logto_sync_skip_kind kind)
{
    switch (kind) {
    case LOGTO_SYNC_SKIP_IDENTITY:
        return "identity";
    case LOGTO_SYNC_SKIP_COLLISION:
        return "collision";
    case LOGTO_SYNC_SKIP_LOCAL:
        return "local";
    case LOGTO_SYNC_SKIP_NAME:
        return "name";
    }
    return "?";
}

/* ------------------------------------------------------------------------------------------ */
/* The report */

static void change_clear(struct logto_sync_change *c)
{
    free(c->name);
    free(c->group);
    free(c->sub);
    logto_strv_free(c->fields);
    free(c->detail);
}

void logto_sync_report_free(struct logto_sync_report *report)
{
    if (!report)
        return;
    free(report->path);
    free(report->previous_problem);
    for (size_t i = 0; i < report->n_changes; i++)
        change_clear(&report->changes[i]);
    free(report->changes);
    for (size_t i = 0; i < report->n_skipped; i++) {
        free(report->skipped[i].sub);
        free(report->skipped[i].username);
        free(report->skipped[i].name);
        free(report->skipped[i].reason);
    }
    free(report->skipped);
    for (size_t i = 0; i < report->n_collisions; i++) {
        struct logto_sync_collision *c = &report->collisions[i];
        free(c->value);
        free(c->a_sub);
        free(c->a_name);
        free(c->b_sub);
        free(c->b_name);
    }
    free(report->collisions);
    for (size_t i = 0; i < report->n_groups_skipped; i++) {
        free(report->groups_skipped[i].name);
        free(report->groups_skipped[i].source);
        free(report->groups_skipped[i].reason);
    }
    free(report->groups_skipped);
    for (size_t i = 0; i < report->n_uid_moves; i++) {
        free(report->uid_moves[i].sub);
        free(report->uid_moves[i].name);
        free(report->uid_moves[i].keeper_sub);
        free(report->uid_moves[i].keeper_name);
    }
    free(report->uid_moves);
    logto_blocked_free(report->blocked);
    free(report);
}

/* Room for one more element in *array (n used). */
static int grow_array(void *arrayp, size_t n, size_t elem)
{
    void *array, *p;

    /* Powers of two: grow when n is 0 or a power of two >= 8. */
    if (n >= 8 && (n & (n - 1)) != 0)
        return 0;
    if (n > 0 && n < 8)
        return 0;
    memcpy(&array, arrayp, sizeof(array));
    p = realloc(array, (n < 8 ? 8 : n * 2) * elem);
    if (!p)
        return -1;
    memcpy(arrayp, &p, sizeof(p));
    return 0;
}

/* A display copy of a string from the network: control characters replaced, capped. */
static char *display_copy(const char *s)
{
    char buf[160];

    if (!s)
        return NULL;
    return strdup(logto_log_sanitize(buf, sizeof(buf), s));
}

static int add_skip(struct logto_sync_report *report, enum logto_sync_skip_kind kind,
                    const char *sub, const char *username, const char *name, const char *reason)
{
    struct logto_sync_skip *s;

    if (grow_array(&report->skipped, report->n_skipped, sizeof(*report->skipped)) < 0)
        return -LOGTO_E_NOMEM;
    s = &report->skipped[report->n_skipped];
    *s = (struct logto_sync_skip){ .kind = kind };
    report->n_skipped++;
    s->sub = display_copy(sub ? sub : "?");
    s->username = display_copy(username);
    s->name = logto_strdup_or_null(name);
    s->reason = display_copy(reason ? reason : "refused");
    if (!s->sub || (username && !s->username) || (name && !s->name) || !s->reason)
        return -LOGTO_E_NOMEM;
    return 0;
}

static int add_change(struct logto_sync_report *report, enum logto_sync_change_kind kind,
                      const char *name, const char *group, const char *sub, char **fields,
                      char *detail)
{
    struct logto_sync_change *c;

    if (grow_array(&report->changes, report->n_changes, sizeof(*report->changes)) < 0) {
        logto_strv_free(fields);
        free(detail);
        return -LOGTO_E_NOMEM;
    }
    c = &report->changes[report->n_changes++];
    *c = (struct logto_sync_change){ .kind = kind, .fields = fields, .detail = detail };
    c->name = logto_strdup_or_null(name);
    c->group = logto_strdup_or_null(group);
    c->sub = logto_strdup_or_null(sub);
    report->counts[kind]++;
    if ((name && !c->name) || (group && !c->group) || (sub && !c->sub))
        return -LOGTO_E_NOMEM;
    return 0;
}

static int add_group_skip(struct logto_sync_report *report, const char *name, uint32_t gid,
                          uint32_t kind, const char *source, size_t members, const char *reason)
{
    struct logto_sync_group_skip *g;

    if (grow_array(&report->groups_skipped, report->n_groups_skipped,
                   sizeof(*report->groups_skipped)) < 0)
        return -LOGTO_E_NOMEM;
    g = &report->groups_skipped[report->n_groups_skipped++];
    *g = (struct logto_sync_group_skip){ .gid = gid, .kind = kind, .members = members };
    g->name = logto_strdup_or_null(name);
    g->source = display_copy(source ? source : "");
    g->reason = display_copy(reason);
    if ((name && !g->name) || !g->source || !g->reason)
        return -LOGTO_E_NOMEM;
    return 0;
}

static void progress(const struct logto_sync_options *opts, const char *phase, size_t done,
                     size_t total)
{
    if (opts && opts->progress)
        opts->progress(opts->progress_data, phase, done, total);
}

/* ------------------------------------------------------------------------------------------ */
/* Building the directory */

/* identity-skip-group lines logto_identity_groups logs, captured so the report can say why a
 * role or organization has no group. */
struct group_note {
    uint32_t kind;
    char *source; /* as logged: at most 64 bytes, control characters replaced */
    char *group;  /* may be NULL */
    char *reason;
};

struct capture {
    const struct logto_log *orig;
    struct group_note *notes;
    size_t n;
    bool oom;
};

static uint32_t kind_from_name(const char *s, size_t len)
{
    for (uint32_t k = LOGTO_GROUP_PRIVATE; k <= LOGTO_GROUP_CLAIM; k++)
        if (strlen(logto_group_kind_name(k)) == len &&
            memcmp(logto_group_kind_name(k), s, len) == 0)
            return k;
    return UINT32_MAX;
}

static bool note_known(const struct capture *c, uint32_t kind, const char *source)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->notes[i].kind == kind && strcmp(c->notes[i].source, source) == 0)
            return true;
    return false;
}

/* "identity-skip-group user=U kind=K source="S"[ group=G gid=N] reason="R"" */
static void capture_log(void *userdata, int priority, const char *line)
{
    struct capture *c = userdata;
    const char *k, *s, *s_end, *g, *why;
    struct group_note note = { 0 };
    bool has_group;
    uint32_t kind;

    if (!logto_startswith(line, "identity-skip-group ")) {
        logto_log(c->orig, priority, "%s", line);
        return;
    }
    k = strstr(line, " kind=");
    s = strstr(line, " source=\"");
    why = strstr(line, " reason=\"");
    if (!k || !s || !why || why < s)
        return;
    k += 6;
    s += 9;
    g = strstr(s, "\" group=");
    s_end = g && g < why ? g : why - 1;
    if (s_end < s || *s_end != '"')
        return;
    kind = kind_from_name(k, strcspn(k, " "));
    if (kind == UINT32_MAX)
        return;
    note.source = strndup(s, (size_t)(s_end - s));
    if (!note.source) {
        c->oom = true;
        return;
    }
    if (note_known(c, kind, note.source)) {
        free(note.source);
        return;
    }
    note.kind = kind;
    has_group = g && g < why;
    if (has_group) {
        g += 8;
        note.group = strndup(g, strcspn(g, " "));
    }
    why += 9;
    note.reason = strndup(why, why[0] ? strlen(why) - (why[strlen(why) - 1] == '"') : 0);
    if (!note.reason || (has_group && !note.group) ||
        grow_array(&c->notes, c->n, sizeof(*c->notes)) < 0) {
        free(note.source);
        free(note.group);
        free(note.reason);
        c->oom = true;
        return;
    }
    c->notes[c->n++] = note;
}

static void capture_done(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->notes[i].source);
        free(c->notes[i].group);
        free(c->notes[i].reason);
    }
    free(c->notes);
}

static const struct group_note *note_find(const struct capture *c, uint32_t kind,
                                          const char *source)
{
    char logged[65];

    snprintf(logged, sizeof(logged), "%s", source);
    for (size_t i = 0; i < c->n; i++) {
        char safe[65];
        if (c->notes[i].kind == kind &&
            strcmp(c->notes[i].source, logto_log_sanitize(safe, sizeof(safe), logged)) == 0)
            return &c->notes[i];
    }
    return NULL;
}

/* A group entry contributed by one user. */
struct gent {
    const struct logto_dir_group *g;
    size_t user;
};

static int cmp_gent(const void *a, const void *b)
{
    const struct gent *x = a, *y = b;
    int c = strcmp(x->g->name, y->g->name);
    if (c)
        return c;
    if (x->g->kind != y->g->kind)
        return x->g->kind < y->g->kind ? -1 : 1;
    c = strcmp(x->g->source ? x->g->source : "", y->g->source ? y->g->source : "");
    if (c)
        return c;
    if (x->g->gid != y->g->gid)
        return x->g->gid < y->g->gid ? -1 : 1;
    return x->user < y->user ? -1 : x->user > y->user;
}

static bool same_group(const struct logto_dir_group *x, const struct logto_dir_group *y)
{
    return x->kind == y->kind && x->gid == y->gid && strcmp(x->name, y->name) == 0 &&
           logto_streq(x->source, y->source);
}

/* A distinct group of the merge: its template and its members, a run of the sorted entries. */
struct merged {
    struct logto_dir_group g; /* borrowed name/source; members unused */
    size_t first, count;      /* in the sorted entries */
    const char *why;          /* skipped: why; NULL: kept */
};

struct by_source {
    uint32_t kind;
    const char *source;
    size_t index;
};

static int cmp_by_source(const void *a, const void *b)
{
    const struct by_source *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->source, y->source);
}

struct build {
    const struct logto_ctx *ctx;
    const struct logto_sync_user *users;
    size_t n;
    struct logto_sync_report *report;
    struct logto_error *err;
    bool *refused;
    struct logto_dir_group **groups; /* per user, from logto_identity_groups */
    size_t *n_groups;
    struct gent *ents;
    size_t n_ents;
    struct merged *merged;
    size_t n_merged;
    struct capture cap;
    char **why_store; /* reasons we built (freed at the end) */
};

static const char *keep_reason(struct build *b, char *s)
{
    if (!s || logto_strv_push_take(&b->why_store, s) < 0)
        return NULL;
    return s;
}

static int cmp_user_name(const void *a, const void *b, void *userdata);

/* "alice (sub x), bob (sub y)": the claimants of a name other than skip, for reasons. */
static char *others_text(const struct logto_identity *const *run, size_t n, size_t skip)
{
    char *out = strdup("");

    for (size_t k = 0; out && k < n; k++) {
        char *next;
        if (k == skip)
            continue;
        next = logto_asprintf("%s%s%s (sub %s)", out, out[0] ? ", " : "", run[k]->name_claim,
                              run[k]->sub);
        free(out);
        out = next;
        if (out && strlen(out) > REASON_MAX)
            break;
    }
    return out;
}

/* One run of users mapping to the same name: the owner keeps it (owners.h), the others are
 * refused; with no owner, all are, and the name is blocked. */
static int resolve_name_run(struct build *b, const size_t *idx, size_t count,
                            const struct logto_identity **run)
{
    const char *name = b->users[idx[0]].id->name;
    ssize_t owner;
    int r = 0;

    for (size_t k = 0; k < count; k++)
        run[k] = b->users[idx[k]].id;
    owner = logto_owner_pick(run, count);
    if (owner < 0) {
        _cleanup_free_ char *why =
            logto_asprintf("%zu Logto users claim the name %s and %s", count, name,
                           "not exactly one of them by a user name identical to it");
        if (!why || logto_blocked_add(b->report->blocked, name, 0, why, run, count) < 0)
            return LOGTO_OOM(b->err);
        logto_log(&b->ctx->log, LOG_WARNING,
                  "sync-name-blocked name=%s claimants=%zu reason=\"%s\"", name, count, why);
    }
    for (size_t k = 0; k < count && r >= 0; k++) {
        const struct logto_sync_user *u = &b->users[idx[k]];
        _cleanup_free_ char *others = NULL, *reason = NULL;
        if ((ssize_t)k == owner)
            continue;
        others = others_text(run, count, owner < 0 ? k : SIZE_MAX);
        if (!others)
            return LOGTO_OOM(b->err);
        if (owner < 0)
            reason = logto_asprintf("the name %s is blocked: also claimed by %s, and nobody's "
                                    "user name is identical to it",
                                    name, others);
        else
            reason = logto_asprintf("the name %s belongs to %s (sub %s), whose user name is "
                                    "identical to it",
                                    name, run[owner]->name_claim, run[owner]->sub);
        if (!reason)
            return LOGTO_OOM(b->err);
        if (owner >= 0)
            logto_log(&b->ctx->log, LOG_NOTICE, "sync-name-yield name=%s sub=%s owner_sub=%s", name,
                      u->id->sub, run[owner]->sub);
        b->refused[idx[k]] = true;
        r = add_skip(b->report, LOGTO_SYNC_SKIP_NAME, u->sub, u->username, name, reason);
    }
    return r < 0 ? LOGTO_OOM(b->err) : 0;
}

/* Names are owned by one user or blocked (owners.h), over every user that mapped. */
static int resolve_names(struct build *b)
{
    _cleanup_free_ size_t *idx = calloc(b->n + 1, sizeof(size_t));
    _cleanup_free_ const struct logto_identity **run = calloc(b->n + 1, sizeof(*run));
    size_t m = 0;
    int r = 0;

    if (!idx || !run)
        return LOGTO_OOM(b->err);
    for (size_t i = 0; i < b->n; i++)
        if (!b->refused[i])
            idx[m++] = i;
    qsort_r(idx, m, sizeof(size_t), cmp_user_name, (void *)(uintptr_t)b->users);
    for (size_t start = 0; start < m && r >= 0;) {
        size_t end = start + 1;
        while (end < m && strcmp(b->users[idx[start]].id->name, b->users[idx[end]].id->name) == 0)
            end++;
        if (end - start > 1)
            r = resolve_name_run(b, idx + start, end - start, run);
        start = end;
    }
    return r;
}

/* Every UID still shared after logto_sync_resolve_uids goes into the blocked file, with all the
 * users who share it (they are all refused). */
static int block_uids(struct build *b, const struct logto_identity *const *ids, size_t m,
                      const struct logto_identity_collision *col, size_t n_col)
{
    _cleanup_free_ const struct logto_identity **same = calloc(m + 1, sizeof(*same));

    if (!same)
        return LOGTO_OOM(b->err);
    for (size_t k = 0; k < n_col; k++) {
        uint32_t uid = ids[col[k].a]->uid;
        size_t n_same = 0;
        char why[128];
        if (col[k].kind != LOGTO_COLLISION_UID || logto_blocked_find_uid(b->report->blocked, uid))
            continue;
        for (size_t i = 0; i < m; i++)
            if (ids[i]->uid == uid)
                same[n_same++] = ids[i];
        snprintf(why, sizeof(why), "%zu Logto users have the UID %" PRIu32 "%s", n_same, uid,
                 ids[col[k].a]->uid_hashed && ids[col[k].b]->uid_hashed
                     ? " by the hash of their sub (logtoctl sync resolves it unless "
                       "--no-persist-uids)"
                     : "");
        if (logto_blocked_add(b->report->blocked, same[0]->name, uid, why, same, n_same) < 0)
            return LOGTO_OOM(b->err);
    }
    return 0;
}

static int refuse_collisions(struct build *b)
{
    _cleanup_free_ const struct logto_identity **ids = NULL;
    _cleanup_free_ size_t *map = NULL;
    _cleanup_free_ struct logto_identity_collision *col = NULL;
    char **reasons = NULL;
    size_t m = 0, n_col = 0;
    int r;

    ids = calloc(b->n + 1, sizeof(*ids));
    map = calloc(b->n + 1, sizeof(*map));
    reasons = calloc(b->n + 1, sizeof(*reasons));
    if (!ids || !map || !reasons) {
        free(reasons);
        return LOGTO_OOM(b->err);
    }
    for (size_t i = 0; i < b->n; i++)
        if (!b->refused[i]) {
            map[m] = i;
            ids[m++] = b->users[i].id;
        }
    r = logto_identity_find_collisions((const struct logto_identity *const *)ids, m, &col, &n_col,
                                       b->err);
    if (r >= 0)
        r = block_uids(b, (const struct logto_identity *const *)ids, m, col, n_col);
    if (r < 0)
        goto out;
    for (size_t k = 0; k < n_col && r >= 0; k++) {
        const struct logto_identity *x = ids[col[k].a], *y = ids[col[k].b];
        struct logto_sync_collision *c;
        char value[64];

        switch (col[k].kind) {
        case LOGTO_COLLISION_SUB:
            snprintf(value, sizeof(value), "%.60s", x->sub);
            break;
        case LOGTO_COLLISION_NAME:
            snprintf(value, sizeof(value), "%s", x->name);
            break;
        case LOGTO_COLLISION_UID:
            snprintf(value, sizeof(value), "%" PRIu32, x->uid);
            break;
        case LOGTO_COLLISION_GID:
            snprintf(value, sizeof(value), "%" PRIu32, x->gid);
            break;
        }
        if (grow_array(&b->report->collisions, b->report->n_collisions,
                       sizeof(*b->report->collisions)) < 0) {
            r = -LOGTO_E_NOMEM;
            break;
        }
        c = &b->report->collisions[b->report->n_collisions++];
        *c = (struct logto_sync_collision){ .kind = col[k].kind };
        c->value = strdup(value);
        c->a_sub = strdup(x->sub);
        c->a_name = strdup(x->name);
        c->b_sub = strdup(y->sub);
        c->b_name = strdup(y->name);
        if (!c->value || !c->a_sub || !c->a_name || !c->b_sub || !c->b_name) {
            r = -LOGTO_E_NOMEM;
            break;
        }
        logto_log(&b->ctx->log, LOG_WARNING,
                  "sync-collision kind=%s value=%s user=%s sub=%s other=%s other_sub=%s",
                  logto_collision_kind_name(col[k].kind), value, x->name, x->sub, y->name, y->sub);
        /* Both sides are refused; each gets the other named in its reason. */
        for (int side = 0; side < 2; side++) {
            size_t me = side ? col[k].b : col[k].a;
            const struct logto_identity *other = side ? x : y;
            char *prev = reasons[me], *next;
            if (prev && strlen(prev) > REASON_MAX)
                continue;
            next = logto_asprintf("%s%sshares its %s %s with %s (sub %s)", prev ? prev : "",
                                  prev ? "; " : "", logto_collision_kind_name(col[k].kind), value,
                                  other->name, other->sub);
            if (!next) {
                r = -LOGTO_E_NOMEM;
                break;
            }
            free(prev);
            reasons[me] = next;
        }
    }
    for (size_t k = 0; k < m; k++) {
        size_t i = map[k];
        if (!reasons[k])
            continue;
        b->refused[i] = true;
        if (r >= 0)
            r = add_skip(b->report, LOGTO_SYNC_SKIP_COLLISION, b->users[i].sub,
                         b->users[i].username, b->users[i].id->name, reasons[k]);
    }
out:
    for (size_t k = 0; k < m; k++)
        free(reasons[k]);
    free(reasons);
    return r == -LOGTO_E_NOMEM ? LOGTO_OOM(b->err) : r;
}

/* One use of an ID by a user being synced: their UID or GID, or the GID of a derived group. */
struct id_use {
    uint32_t id;
    size_t user;
    const struct logto_dir_group *group; /* a derived group of user; NULL: the user's own ID */
    bool chosen;                         /* the user's own ID, from custom_data */
};

static int cmp_id_use(const void *a, const void *b)
{
    const struct id_use *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int push_use(struct id_use **v, size_t *n, uint32_t id, size_t user,
                    const struct logto_dir_group *group, bool chosen)
{
    if (grow_array(v, *n, sizeof(**v)) < 0)
        return -1;
    (*v)[(*n)++] = (struct id_use){ .id = id, .user = user, .group = group, .chosen = chosen };
    return 0;
}

/* Whether user u's chosen ID is used by anyone else; *ret_why says by whom (NULL when out of
 * memory: the user is refused all the same). */
static bool chosen_id_taken(const struct build *b, const struct id_use *uses, size_t n_uses,
                            size_t u, uint32_t id, const char *what, char **ret_why)
{
    struct id_use key = { .id = id };
    const struct id_use *hit = bsearch(&key, uses, n_uses, sizeof(*uses), cmp_id_use);

    if (!hit)
        return false;
    while (hit > uses && hit[-1].id == id)
        hit--;
    for (; hit < uses + n_uses && hit->id == id; hit++) {
        const struct logto_identity *o = b->users[hit->user].id;
        if (hit->group)
            *ret_why =
                logto_asprintf("%s %" PRIu32 " from custom_data is the GID of %s group %s", what,
                               id, logto_group_kind_name(hit->group->kind), hit->group->name);
        else if (hit->user != u && !hit->chosen)
            *ret_why = logto_asprintf("%s %" PRIu32 " from custom_data is in use by %s (sub %s)",
                                      what, id, o->name, o->sub);
        else
            continue;
        return true;
    }
    return false;
}

/*
 * IDs from custom_data never displace anything (identity.h): a user whose chosen UID or GID is
 * another user's UID or GID (either ID space) or the GID of any group some user would get is
 * refused, and the holder stays. Two chosen IDs that are equal are left to the pairwise collision
 * check after this one, which refuses both. This one runs first: the pairwise check would refuse
 * a hashed holder together with the chooser.
 */
static int refuse_chosen_ids(struct build *b)
{
    struct logto_dir_group **cand = calloc(b->n + 1, sizeof(*cand));
    size_t *n_cand = calloc(b->n + 1, sizeof(*n_cand)), n_uses = 0;
    _cleanup_free_ bool *refuse = calloc(b->n + 1, sizeof(bool));
    _cleanup_free_ char **why = calloc(b->n + 1, sizeof(char *));
    struct id_use *uses = NULL;
    bool any = false;
    int r = 0;

    if (!cand || !n_cand || !refuse || !why) {
        r = LOGTO_OOM(b->err);
        goto out;
    }
    for (size_t i = 0; i < b->n; i++)
        any = any || (!b->refused[i] && (logto_identity_uid_chosen(b->users[i].id) ||
                                         logto_identity_gid_chosen(b->users[i].id)));
    if (!any)
        goto out;
    for (size_t i = 0; i < b->n && r >= 0; i++) {
        const struct logto_identity *id = b->users[i].id;
        if (b->refused[i])
            continue;
        if (push_use(&uses, &n_uses, id->uid, i, NULL, logto_identity_uid_chosen(id)) < 0 ||
            (id->gid != id->uid &&
             push_use(&uses, &n_uses, id->gid, i, NULL, logto_identity_gid_chosen(id)) < 0)) {
            r = LOGTO_OOM(b->err);
            break;
        }
        r = logto_identity_candidate_groups(b->ctx, id, &cand[i], &n_cand[i], b->err);
        for (size_t k = 0; r >= 0 && k < n_cand[i]; k++)
            if (cand[i][k].kind != LOGTO_GROUP_PRIVATE &&
                push_use(&uses, &n_uses, cand[i][k].gid, i, &cand[i][k], false) < 0)
                r = LOGTO_OOM(b->err);
    }
    if (r < 0)
        goto out;
    if (n_uses > 1)
        qsort(uses, n_uses, sizeof(*uses), cmp_id_use);
    for (size_t i = 0; i < b->n; i++) {
        const struct logto_identity *id = b->users[i].id;
        if (b->refused[i])
            continue;
        refuse[i] = (logto_identity_uid_chosen(id) &&
                     chosen_id_taken(b, uses, n_uses, i, id->uid, "UID", &why[i])) ||
                    (logto_identity_gid_chosen(id) && id->gid != id->uid &&
                     chosen_id_taken(b, uses, n_uses, i, id->gid, "GID", &why[i]));
    }
    for (size_t i = 0; i < b->n && r >= 0; i++) {
        if (!refuse[i])
            continue;
        b->refused[i] = true;
        logto_log(&b->ctx->log, LOG_WARNING, "sync-skip-chosen-id user=%s sub=%s reason=\"%s\"",
                  b->users[i].id->name, b->users[i].id->sub, why[i]);
        if (add_skip(b->report, LOGTO_SYNC_SKIP_COLLISION, b->users[i].sub, b->users[i].username,
                     b->users[i].id->name, why[i]) < 0)
            r = LOGTO_OOM(b->err);
    }
out:
    for (size_t i = 0; cand && n_cand && i < b->n; i++)
        logto_identity_groups_free(cand[i], n_cand[i]);
    for (size_t i = 0; why && i < b->n; i++)
        free(why[i]);
    free(cand);
    free(n_cand);
    free(uses);
    return r;
}

/* Local files: the identity itself, then its groups (which also refuses a private group that
 * clashes with a local group). Only LOGTO_E_COLLISION refuses a user; any other error (an
 * unreadable /etc/passwd) fails the sync: we never serve what we could not check. */
static int check_local_and_groups(struct build *b)
{
    _cleanup_(logto_localdb_freep) struct logto_localdb *db = NULL;
    struct logto_ctx lctx = *b->ctx;
    int r;

    /* Read once for all users: one consistent view, and no 2 x N reads of /etc. */
    r = logto_localdb_load(b->ctx, &db, b->err);
    if (r < 0) {
        logto_error_prefix(b->err, "sync: cannot check against the local account files");
        return r;
    }

    /* logto_identity_groups logs each dropped group once per user: capture them instead. */
    b->cap.orig = &b->ctx->log;
    lctx.log.fn = capture_log;
    lctx.log.userdata = &b->cap;
    for (size_t i = 0; i < b->n; i++) {
        const struct logto_identity *id = b->users[i].id;
        struct logto_error e = { 0 };

        if (b->refused[i])
            continue;
        r = logto_identity_check_local_db(db, id, &e);
        if (r >= 0)
            r = logto_identity_groups_db(&lctx, db, id, &b->groups[i], &b->n_groups[i], &e);
        if (b->cap.oom)
            return LOGTO_OOM(b->err);
        if (r == -LOGTO_E_COLLISION) {
            b->refused[i] = true;
            logto_log(&b->ctx->log, LOG_WARNING, "sync-skip-local user=%s sub=%s reason=\"%s\"",
                      id->name, id->sub, e.message);
            r = add_skip(b->report, LOGTO_SYNC_SKIP_LOCAL, b->users[i].sub, b->users[i].username,
                         id->name, e.message);
            if (r < 0)
                return LOGTO_OOM(b->err);
            continue;
        }
        if (r < 0) {
            *b->err = e;
            logto_error_prefix(b->err, "sync");
            return r;
        }
    }
    return 0;
}

/* Does user u hold the role / organization / organization role `source`? */
static bool holds(const struct build *b, size_t u, uint32_t kind, const char *source)
{
    const struct logto_config *cfg = b->ctx->cfg;
    const struct logto_identity *id = b->users[u].id;

    switch (kind) {
    case LOGTO_GROUP_ROLE:
        return cfg->groups_from_roles && logto_strv_contains(id->roles, source);
    case LOGTO_GROUP_ORG:
        return cfg->groups_from_orgs && logto_strv_contains(id->orgs, source);
    case LOGTO_GROUP_ORG_ROLE:
        return cfg->groups_from_org_roles && logto_strv_contains(id->org_roles, source);
    default:
        return false;
    }
}

static bool run_has_user(const struct build *b, const struct merged *mg, size_t u)
{
    size_t lo = mg->first, hi = mg->first + mg->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->ents[mid].user == u)
            return true;
        if (b->ents[mid].user < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* A role or organization group that has the name or GID of the private group mg (NULL: none). */
static const struct merged *clashing_derived(const struct build *b, const struct merged *mg)
{
    for (size_t k = 0; k < b->n_merged; k++) {
        const struct merged *o = &b->merged[k];
        if (o->g.kind != LOGTO_GROUP_PRIVATE &&
            (strcmp(o->g.name, mg->g.name) == 0 || o->g.gid == mg->g.gid))
            return o;
    }
    return NULL;
}

/*
 * Merge the groups of every accepted user: the same group from many users becomes one group with
 * all of them; clashing groups are marked. Returns 1 when a user had to be refused (a private
 * group clash) and the merge must run again, 0 when done.
 */
static int merge_groups(struct build *b)
{
    _cleanup_free_ const char **why = NULL;
    _cleanup_free_ struct by_source *idx = NULL;
    size_t n_idx = 0;
    bool again = false;
    int r;

    free(b->ents);
    free(b->merged);
    b->ents = NULL;
    b->merged = NULL;
    b->n_ents = b->n_merged = 0;

    for (size_t i = 0; i < b->n; i++)
        if (!b->refused[i])
            b->n_ents += b->n_groups[i];
    b->ents = calloc(b->n_ents + 1, sizeof(*b->ents));
    b->merged = calloc(b->n_ents + 1, sizeof(*b->merged));
    why = calloc(b->n_ents + 1, sizeof(*why));
    idx = calloc(b->n_ents + 1, sizeof(*idx));
    if (!b->ents || !b->merged || !why || !idx)
        return LOGTO_OOM(b->err);
    b->n_ents = 0;
    for (size_t i = 0; i < b->n; i++)
        for (size_t k = 0; !b->refused[i] && k < b->n_groups[i]; k++)
            b->ents[b->n_ents++] = (struct gent){ .g = &b->groups[i][k], .user = i };
    if (b->n_ents > 1)
        qsort(b->ents, b->n_ents, sizeof(*b->ents), cmp_gent);
    for (size_t s = 0; s < b->n_ents;) {
        size_t e = s + 1;
        while (e < b->n_ents && same_group(b->ents[s].g, b->ents[e].g))
            e++;
        b->merged[b->n_merged++] =
            (struct merged){ .g = *b->ents[s].g, .first = s, .count = e - s };
        s = e;
    }

    /* Clashes between distinct groups (logto_identity_group_clashes wants a plain array). */
    {
        _cleanup_free_ struct logto_dir_group *plain =
            calloc(b->n_merged + 1, sizeof(struct logto_dir_group));
        if (!plain)
            return LOGTO_OOM(b->err);
        for (size_t k = 0; k < b->n_merged; k++)
            plain[k] = b->merged[k].g;
        r = logto_identity_group_clashes(plain, b->n_merged, why, b->err);
        if (r < 0)
            return r;
    }
    for (size_t k = 0; k < b->n_merged; k++) {
        struct merged *mg = &b->merged[k];
        mg->why = why[k];
        if (!mg->why || mg->g.kind != LOGTO_GROUP_PRIVATE)
            continue;
        /* A private group clashes: with a role or organization group (which keeps its name and
         * GID), or with another user's private group (the collision checks should have caught
         * that; if not, both owners go, as any collision). */
        for (size_t j = mg->first; j < mg->first + mg->count; j++) {
            size_t u = b->ents[j].user;
            const struct logto_identity *id = b->users[u].id;
            char reason[256];
            if (b->refused[u])
                continue;
            const struct merged *derived = clashing_derived(b, mg);
            if (derived)
                snprintf(reason, sizeof(reason),
                         "private group %s (GID %" PRIu32 ") clashes with %s group %s (GID %" PRIu32
                         "): a role or organization group keeps its name and GID",
                         mg->g.name, mg->g.gid, logto_group_kind_name(derived->g.kind),
                         derived->g.name, derived->g.gid);
            else
                snprintf(reason, sizeof(reason), "private group %s (GID %" PRIu32 "): %s",
                         mg->g.name, mg->g.gid, mg->why);
            b->refused[u] = true;
            again = true;
            if (add_skip(b->report, LOGTO_SYNC_SKIP_COLLISION, b->users[u].sub,
                         b->users[u].username, id->name, reason) < 0)
                return LOGTO_OOM(b->err);
        }
    }
    if (again)
        return 1;

    /* A derived group must have every accepted user who holds its source. One that
     * logto_identity_groups dropped for a holder (it clashed among that holder's own groups) is
     * skipped for everybody, so membership never depends on who else holds what. */
    for (size_t k = 0; k < b->n_merged; k++)
        if (!b->merged[k].why && b->merged[k].g.kind != LOGTO_GROUP_PRIVATE)
            idx[n_idx++] = (struct by_source){ .kind = b->merged[k].g.kind,
                                               .source = b->merged[k].g.source,
                                               .index = k };
    if (n_idx > 1)
        qsort(idx, n_idx, sizeof(*idx), cmp_by_source);
    for (size_t u = 0; u < b->n && n_idx; u++) {
        const struct logto_identity *id = b->users[u].id;
        char *const *lists[] = { id ? id->roles : NULL, id ? id->orgs : NULL,
                                 id ? id->org_roles : NULL };
        const uint32_t kinds[] = { LOGTO_GROUP_ROLE, LOGTO_GROUP_ORG, LOGTO_GROUP_ORG_ROLE };
        if (b->refused[u])
            continue;
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
            for (size_t v = 0; lists[l] && lists[l][v]; v++) {
                struct by_source key = { .kind = kinds[l], .source = lists[l][v] }, *hit;
                struct merged *mg;
                if (!holds(b, u, kinds[l], lists[l][v]))
                    continue;
                hit = bsearch(&key, idx, n_idx, sizeof(*idx), cmp_by_source);
                if (!hit)
                    continue;
                mg = &b->merged[hit->index];
                if (mg->why || run_has_user(b, mg, u))
                    continue;
                mg->why = keep_reason(
                    b,
                    logto_asprintf("clashes with another group of %s, who holds it too", id->name));
                if (!mg->why)
                    return LOGTO_OOM(b->err);
            }
    }
    return 0;
}

/* Report skipped groups: the clashing ones, and roles/organizations a holder got no group for
 * (logto_identity_groups dropped it: invalid name, local group, reserved GID, own clash). */
static int report_groups(struct build *b)
{
    for (size_t k = 0; k < b->n_merged; k++) {
        const struct merged *mg = &b->merged[k];
        size_t holders = 0;
        if (!mg->why)
            continue;
        /* Everybody who holds the role or organization lost the group, also those for whom
         * logto_identity_groups had dropped it already. */
        for (size_t u = 0; u < b->n; u++)
            if (!b->refused[u] && holds(b, u, mg->g.kind, mg->g.source))
                holders++;
        if (mg->g.kind == LOGTO_GROUP_PRIVATE || holders < mg->count)
            holders = mg->count;
        logto_log(&b->ctx->log, LOG_NOTICE,
                  "sync-skip-group group=%s gid=%" PRIu32 " kind=%s members=%zu reason=\"%s\"",
                  mg->g.name, mg->g.gid, logto_group_kind_name(mg->g.kind), holders, mg->why);
        if (add_group_skip(b->report, mg->g.name, mg->g.gid, mg->g.kind, mg->g.source, holders,
                           mg->why) < 0)
            return LOGTO_OOM(b->err);
    }
    for (size_t i = 0; i < b->cap.n; i++) {
        const struct group_note *nt = &b->cap.notes[i];
        size_t holders = 0;
        bool served = false;
        char reason[320];
        for (size_t k = 0; k < b->n_merged && !served; k++)
            served = b->merged[k].g.kind == nt->kind &&
                     note_find(&b->cap, b->merged[k].g.kind, b->merged[k].g.source) == nt;
        if (served)
            continue; /* a clash reported above, or one user's own clash */
        for (size_t u = 0; u < b->n; u++)
            if (!b->refused[u] && b->users[u].id && holds(b, u, nt->kind, nt->source))
                holders++;
        snprintf(reason, sizeof(reason), "%s", nt->reason);
        logto_log(&b->ctx->log, LOG_NOTICE,
                  "sync-skip-group group=%s kind=%s source=\"%s\" reason=\"%s\"",
                  nt->group ? nt->group : "-", logto_group_kind_name(nt->kind), nt->source, reason);
        if (add_group_skip(b->report, nt->group, 0, nt->kind, nt->source, holders, reason) < 0)
            return LOGTO_OOM(b->err);
    }
    return 0;
}

static int cmp_user_name(const void *a, const void *b, void *userdata)
{
    const struct logto_sync_user *users = userdata;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return strcmp(users[x].id->name, users[y].id->name);
}

static int assemble(struct build *b, struct logto_directory *dir)
{
    _cleanup_free_ size_t *order = calloc(b->n + 1, sizeof(size_t));
    int64_t now = logto_now(b->ctx);
    size_t m = 0;

    if (!order)
        return LOGTO_OOM(b->err);
    for (size_t i = 0; i < b->n; i++)
        if (!b->refused[i])
            order[m++] = i;
    qsort_r(order, m, sizeof(size_t), cmp_user_name, (void *)(uintptr_t)b->users);
    for (size_t k = 0; k < m; k++) {
        const struct logto_identity *id = b->users[order[k]].id;
        struct logto_dir_user u = {
            .name = id->name,
            .uid = id->uid,
            .gid = id->gid,
            .gecos = id->gecos ? id->gecos : (char *)(uintptr_t) "",
            .home = id->home,
            .shell = id->shell,
            .sub = id->sub,
            .flags = id->suspended ? LOGTO_USER_SUSPENDED : 0,
            .updated_at = now,
        };
        if (logto_directory_add_user(dir, &u) < 0)
            return LOGTO_OOM(b->err);
    }
    for (size_t k = 0; k < b->n_merged; k++) {
        const struct merged *mg = &b->merged[k];
        _cleanup_free_ char **members = calloc(mg->count + 1, sizeof(char *));
        struct logto_dir_group g = mg->g;
        size_t n_members = 0;
        if (!members)
            return LOGTO_OOM(b->err);
        if (mg->why)
            continue;
        if (g.kind != LOGTO_GROUP_PRIVATE) {
            for (size_t j = mg->first; j < mg->first + mg->count; j++)
                members[n_members++] = b->users[b->ents[j].user].id->name;
            qsort(members, n_members, sizeof(char *), logto_strcmp_ptr);
        }
        g.members = members;
        if (logto_directory_add_group(dir, &g) < 0)
            return LOGTO_OOM(b->err);
    }
    return 0;
}

static bool has_group_name(const struct logto_directory *dir, const char *name)
{
    for (size_t i = 0; i < dir->n_groups; i++)
        if (strcmp(dir->groups[i].name, name) == 0)
            return true;
    return false;
}

/* The last safety net: the directory layer's own local check. Anything it removes (nothing,
 * normally: the identity checks came first) is reported. */
static int drop_local(struct build *b, struct logto_directory *dir)
{
    _cleanup_(logto_directory_freep) struct logto_directory *before = logto_directory_new();
    int r;

    if (!before)
        return LOGTO_OOM(b->err);
    for (size_t i = 0; i < dir->n_users; i++)
        if (logto_directory_add_user(before, &dir->users[i]) < 0)
            return LOGTO_OOM(b->err);
    for (size_t i = 0; i < dir->n_groups; i++)
        if (logto_directory_add_group(before, &dir->groups[i]) < 0)
            return LOGTO_OOM(b->err);
    r = logto_directory_drop_local(dir, b->ctx->passwd_path, b->ctx->group_path, &b->ctx->log);
    if (r == -LOGTO_E_NOMEM)
        return LOGTO_OOM(b->err);
    if (r < 0)
        return logto_error_set(b->err, LOGTO_E_IO,
                               "sync: cannot read the local account files to check against");
    if (r == 0)
        return 0;
    for (size_t i = 0; i < before->n_users; i++) {
        const struct logto_dir_user *u = &before->users[i];
        if (logto_directory_find_user(dir, u->sub))
            continue;
        for (size_t k = 0; k < b->n; k++)
            if (!b->refused[k] && strcmp(b->users[k].id->sub, u->sub) == 0) {
                b->refused[k] = true;
                if (add_skip(b->report, LOGTO_SYNC_SKIP_LOCAL, b->users[k].sub,
                             b->users[k].username, u->name,
                             "collides with a local account or group") < 0)
                    return LOGTO_OOM(b->err);
            }
    }
    for (size_t i = 0; i < before->n_groups; i++) {
        const struct logto_dir_group *g = &before->groups[i];
        if (g->kind == LOGTO_GROUP_PRIVATE || has_group_name(dir, g->name))
            continue;
        if (add_group_skip(b->report, g->name, g->gid, g->kind, g->source,
                           logto_strv_length(g->members), "collides with a local group") < 0)
            return LOGTO_OOM(b->err);
    }
    return 0;
}

/* Users that no service of this host admits leave after every refusal above (build_admitted). */
static int leave_out_unadmitted(struct build *b, const struct logto_authz_host *host)
{
    for (size_t i = 0; host && i < b->n; i++) {
        const struct logto_identity *id = b->users[i].id;
        if (b->refused[i] || !id || logto_authz_host_admits(host, id, NULL))
            continue;
        logto_log_debug(&b->ctx->log, "sync-not-admitted user=%s sub=%s", id->name, id->sub);
        b->refused[i] = true;
        b->report->not_admitted++;
    }
    return 0;
}

static int sync_build(const struct logto_ctx *ctx, const struct logto_sync_user *users, size_t n,
                      const struct logto_authz_host *host, struct logto_directory **ret_dir,
                      bool *keep, struct logto_sync_report *report, struct logto_error *err)
{
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    struct build b = { .ctx = ctx, .users = users, .n = n, .report = report, .err = err };
    int r;

    if (!ctx || !ctx->cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "sync needs a configuration");
    if (!report->blocked && !(report->blocked = logto_blocked_new())) {
        r = LOGTO_OOM(err);
        goto out;
    }
    b.refused = calloc(n + 1, sizeof(bool));
    b.groups = calloc(n + 1, sizeof(*b.groups));
    b.n_groups = calloc(n + 1, sizeof(size_t));
    dir = logto_directory_new();
    if (!b.refused || !b.groups || !b.n_groups || !dir) {
        r = LOGTO_OOM(err);
        goto out;
    }

    /* 1. Users that did not map. */
    for (size_t i = 0; i < n; i++) {
        if (users[i].id)
            continue;
        b.refused[i] = true;
        logto_log(&ctx->log, LOG_NOTICE, "sync-skip-user sub=%s reason=\"%s\"",
                  users[i].sub ? users[i].sub : "?",
                  users[i].reason ? users[i].reason : "does not map");
        r = add_skip(report, LOGTO_SYNC_SKIP_IDENTITY, users[i].sub, users[i].username, NULL,
                     users[i].reason ? users[i].reason : "does not map to a POSIX identity");
        if (r < 0) {
            r = LOGTO_OOM(err);
            goto out;
        }
    }
    /* 2. Names: owned by one user or blocked; chosen IDs that are in use: only the chooser; then
     * collisions between Logto users: both sides of every pair. */
    if ((r = resolve_names(&b)) < 0 || (r = refuse_chosen_ids(&b)) < 0 ||
        (r = refuse_collisions(&b)) < 0)
        goto out;
    /* Then, when asked, the users no service of this host admits. */
    if ((r = leave_out_unadmitted(&b, host)) < 0)
        goto out;
    /* 3. Local accounts and groups; each user's groups. */
    if ((r = check_local_and_groups(&b)) < 0)
        goto out;
    /* 4. One group per (kind, source) with all its members; clashes skip every side. */
    while ((r = merge_groups(&b)) > 0)
        ;
    if (r < 0)
        goto out;
    if ((r = report_groups(&b)) < 0)
        goto out;
    /* 5. The directory; the directory layer's local check; the invariants. */
    if ((r = assemble(&b, dir)) < 0)
        goto out;
    if ((r = drop_local(&b, dir)) < 0)
        goto out;
    r = logto_directory_validate(dir, err);
    if (r < 0) {
        logto_error_prefix(err, "sync built an invalid directory");
        goto out;
    }
    for (size_t i = 0; keep && i < n; i++)
        keep[i] = !b.refused[i];
    *ret_dir = TAKE_PTR(dir);
    r = 0;
out:
    for (size_t i = 0; b.groups && b.n_groups && i < n; i++)
        logto_identity_groups_free(b.groups[i], b.n_groups[i]);
    free(b.groups);
    free(b.n_groups);
    free(b.refused);
    free(b.ents);
    free(b.merged);
    capture_done(&b.cap);
    logto_strv_free(b.why_store);
    return r;
}

int logto_sync_build(const struct logto_ctx *ctx, const struct logto_sync_user *users, size_t n,
                     struct logto_directory **ret_dir, bool *keep, struct logto_sync_report *report,
                     struct logto_error *err)
{
    return sync_build(ctx, users, n, NULL, ret_dir, keep, report, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Hashed UID collisions */

struct uid_order {
    const struct logto_sync_user *users;
};

/* Older first: createdAt (unknown counts as newest), then sub. */
static int cmp_age(const void *a, const void *b, void *userdata)
{
    const struct logto_sync_user *users = userdata;
    const struct logto_sync_user *x = &users[*(const size_t *)a], *y = &users[*(const size_t *)b];
    int64_t cx = x->created_at > 0 ? x->created_at : INT64_MAX;
    int64_t cy = y->created_at > 0 ? y->created_at : INT64_MAX;

    if (cx != cy)
        return cx < cy ? -1 : 1;
    return strcmp(x->id->sub, y->id->sub);
}

/*
 * By UID; within one UID the keeper first: the lower place in its own sequence (a plain hash
 * before any probe value, so nobody can take a user's hash with a probe value of their own
 * written into custom_data), then a value sync persisted before (it stays what every host uses),
 * then the older account.
 */
static int cmp_uid_then_keeper(const void *a, const void *b, void *userdata)
{
    const struct logto_sync_user *users = userdata;
    const struct logto_identity *x = users[*(const size_t *)a].id,
                                *y = users[*(const size_t *)b].id;

    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    if (x->uid_probe != y->uid_probe)
        return x->uid_probe < y->uid_probe ? -1 : 1;
    if (x->uid_custom != y->uid_custom)
        return x->uid_custom ? -1 : 1;
    return cmp_age(a, b, userdata);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

struct taken {
    uint32_t *v; /* sorted: every user's UID and primary GID */
    size_t n;
    uint32_t extra[LOGTO_UID_PROBES * 4]; /* values handed out since (few: one per moved user) */
    size_t n_extra;
    uint32_t *more; /* beyond extra */
    size_t n_more;
};

static bool is_taken(const struct taken *t, uint32_t id)
{
    if (bsearch(&id, t->v, t->n, sizeof(uint32_t), cmp_u32))
        return true;
    for (size_t i = 0; i < t->n_extra; i++)
        if (t->extra[i] == id)
            return true;
    for (size_t i = 0; i < t->n_more; i++)
        if (t->more[i] == id)
            return true;
    return false;
}

static int take(struct taken *t, uint32_t id)
{
    uint32_t *nv;

    if (t->n_extra < ELEMENTSOF(t->extra)) {
        t->extra[t->n_extra++] = id;
        return 0;
    }
    nv = realloc(t->more, (t->n_more + 1) * sizeof(uint32_t));
    if (!nv)
        return -1;
    t->more = nv;
    t->more[t->n_more++] = id;
    return 0;
}

/* The first free value of the probe sequence for sub: 0 and *k when found, -1 when none. */
static int probe_uid(const struct logto_config *cfg, const char *sub, const struct taken *t,
                     uint32_t *ret, unsigned *ret_k, struct logto_error *err)
{
    for (unsigned k = 1; k <= LOGTO_UID_PROBES; k++) {
        uint32_t uid;
        int r = logto_identity_uid_of_sub(cfg, sub, k, &uid, err);
        if (r < 0)
            return r;
        if (logto_id_reserved(uid) || is_taken(t, uid))
            continue;
        *ret = uid;
        *ret_k = k;
        return 0;
    }
    return -1;
}

static int add_move(struct logto_sync_report *report, const struct logto_identity *id,
                    uint32_t hashed, unsigned k, const struct logto_identity *keeper)
{
    struct logto_sync_uid_move *mv;

    if (grow_array(&report->uid_moves, report->n_uid_moves, sizeof(*report->uid_moves)) < 0)
        return -1;
    mv = &report->uid_moves[report->n_uid_moves++];
    *mv = (struct logto_sync_uid_move){ .hashed_uid = hashed, .uid = id->uid, .probe = k };
    mv->sub = strdup(id->sub);
    mv->name = strdup(id->name);
    mv->keeper_sub = strdup(keeper->sub);
    mv->keeper_name = strdup(keeper->name);
    return mv->sub && mv->name && mv->keeper_sub && mv->keeper_name ? 0 : -1;
}

/* Give user u (hashed UID, held by keeper) the next free probe value. */
static int move_user(const struct logto_ctx *ctx, struct logto_identity *id,
                     const struct logto_identity *keeper, struct taken *t,
                     struct logto_sync_report *report, struct logto_error *err)
{
    uint32_t old = id->uid, uid = 0;
    unsigned k = 0;
    char *from;
    int r = probe_uid(ctx->cfg, id->sub, t, &uid, &k, err);

    if (r < -1)
        return r;
    if (r < 0) {
        logto_log(&ctx->log, LOG_WARNING,
                  "sync-uid-unresolved user=%s sub=%s uid=%" PRIu32 " reason=\"no free value "
                  "in %d probes\"",
                  id->name, id->sub, old, LOGTO_UID_PROBES);
        return 0;
    }
    from = logto_asprintf("hash of sub, probe %u (the hash %" PRIu32 " is %s's, an older account)",
                          k, old, keeper->name);
    if (!from || take(t, uid) < 0) {
        free(from);
        return LOGTO_OOM(err);
    }
    free(id->uid_from);
    id->uid_from = from;
    id->uid = uid;
    id->uid_probe = k;
    if (id->gid == old && id->gid_from && logto_startswith(id->gid_from, "uid"))
        id->gid = uid;
    if (add_move(report, id, old, k, keeper) < 0)
        return LOGTO_OOM(err);
    logto_log(&ctx->log, LOG_NOTICE,
              "sync-uid-moved user=%s sub=%s hashed_uid=%" PRIu32 " uid=%" PRIu32
              " probe=%u keeper=%s keeper_sub=%s",
              id->name, id->sub, old, uid, k, keeper->name, keeper->sub);
    return 1;
}

int logto_sync_resolve_uids(const struct logto_ctx *ctx, const struct logto_sync_user *users,
                            size_t n, struct logto_sync_report *report, struct logto_error *err)
{
    _cleanup_free_ size_t *idx = calloc(n + 1, sizeof(size_t));
    _cleanup_free_ size_t *movers = calloc(n + 1, sizeof(size_t));
    _cleanup_free_ bool *is_mover = calloc(n + 1, sizeof(bool));
    struct taken t = { .v = calloc(2 * n + 1, sizeof(uint32_t)) };
    size_t m = 0, n_movers = 0;
    int r = 0, moved = 0;

    if (!idx || !movers || !is_mover || !t.v) {
        free(t.v);
        return LOGTO_OOM(err);
    }
    /* Every UID and GID in use is taken; only UIDs derived from sub (hashed or persisted) take
     * part: a UID someone chose in custom_data never moves anybody, it is refused where it
     * clashes (refuse_chosen_ids). */
    for (size_t i = 0; i < n; i++)
        if (users[i].id) {
            if (users[i].id->uid_hashed)
                idx[m++] = i;
            t.v[t.n++] = users[i].id->uid;
            t.v[t.n++] = users[i].id->gid;
        }
    qsort(t.v, t.n, sizeof(uint32_t), cmp_u32);
    qsort_r(idx, m, sizeof(size_t), cmp_uid_then_keeper, (void *)(uintptr_t)users);

    /* Each run of one UID: the first (cmp_uid_then_keeper) keeps it, the others move. */
    for (size_t start = 0; start < m;) {
        size_t end = start + 1;
        while (end < m && users[idx[end]].id->uid == users[idx[start]].id->uid)
            end++;
        for (size_t k = start + 1; k < end; k++) {
            is_mover[idx[k]] = true;
            movers[n_movers++] = idx[k];
        }
        start = end;
    }
    /* Movers in age order, so the probe values they take do not depend on the input order. */
    qsort_r(movers, n_movers, sizeof(size_t), cmp_age, (void *)(uintptr_t)users);
    for (size_t k = 0; k < n_movers && r >= 0; k++) {
        struct logto_identity *id = users[movers[k]].id;
        const struct logto_identity *keeper = NULL;
        for (size_t i = 0; i < n && !keeper; i++)
            if (users[i].id && !is_mover[i] && users[i].id->uid_hashed &&
                users[i].id->uid == id->uid)
                keeper = users[i].id;
        if (!keeper)
            continue;
        r = move_user(ctx, id, keeper, &t, report, err);
        moved += r > 0;
    }
    free(t.v);
    free(t.more);
    return r < 0 ? r : moved;
}

/* ------------------------------------------------------------------------------------------ */
/* The change list */

static int cmp_user_ptr_sub(const void *a, const void *b)
{
    const struct logto_dir_user *x = *(const struct logto_dir_user *const *)a;
    const struct logto_dir_user *y = *(const struct logto_dir_user *const *)b;
    return strcmp(x->sub, y->sub);
}

static int cmp_group_ptr_name(const void *a, const void *b)
{
    const struct logto_dir_group *x = *(const struct logto_dir_group *const *)a;
    const struct logto_dir_group *y = *(const struct logto_dir_group *const *)b;
    return strcmp(x->name, y->name);
}

struct pair {
    const char *group, *user;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->user, y->user);
}

/* Append "field old->new" to the detail and the field name to fields. */
static int note_field(char ***fields, char **detail, const char *field, const char *old,
                      const char *new)
{
    char *next = logto_asprintf("%s%s%s %s->%s", *detail ? *detail : "", *detail ? ", " : "", field,
                                old ? old : "", new ? new : "");
    if (!next || logto_strv_push(fields, field) < 0) {
        free(next);
        return -1;
    }
    free(*detail);
    *detail = next;
    return 0;
}

/* note_field for a numeric ID. */
static int note_id(char ***fields, char **detail, const char *field, uint32_t old, uint32_t new)
{
    char a[32], b[32];

    snprintf(a, sizeof(a), "%" PRIu32, old);
    snprintf(b, sizeof(b), "%" PRIu32, new);
    return note_field(fields, detail, field, a, b);
}

/* The change of kind that the fields noted make (r: what noting them returned; fields and detail
 * are taken), or none when no field changed. */
static int add_field_change(struct logto_sync_report *report, int r,
                            enum logto_sync_change_kind kind, const char *name, const char *sub,
                            char **fields, char *detail)
{
    if (r < 0) {
        logto_strv_free(fields);
        free(detail);
        return -LOGTO_E_NOMEM;
    }
    if (!fields[0]) {
        logto_strv_free(fields);
        return 0;
    }
    return add_change(report, kind, name, NULL, sub, fields, detail);
}

static int user_changes(const struct logto_dir_user *o, const struct logto_dir_user *n,
                        struct logto_sync_report *report)
{
    char **fields = calloc(1, sizeof(char *));
    char *detail = NULL;
    char a[32], b[32];
    int r = fields ? 0 : -1;

#define STR_FIELD(f)                                                                               \
    if (r == 0 && !logto_streq(o->f, n->f))                                                        \
        r = note_field(&fields, &detail, #f, o->f, n->f);
#define ID_FIELD(f)                                                                                \
    if (r == 0 && o->f != n->f)                                                                    \
        r = note_id(&fields, &detail, #f, o->f, n->f);
    STR_FIELD(name)
    ID_FIELD(uid)
    ID_FIELD(gid)
    STR_FIELD(gecos)
    STR_FIELD(home)
    STR_FIELD(shell)
#undef STR_FIELD
#undef ID_FIELD
    if (r == 0 && (o->flags & LOGTO_USER_SUSPENDED) != (n->flags & LOGTO_USER_SUSPENDED))
        r = note_field(&fields, &detail, "suspended",
                       o->flags & LOGTO_USER_SUSPENDED ? "yes" : "no",
                       n->flags & LOGTO_USER_SUSPENDED ? "yes" : "no");
    if (r == 0 && (o->flags & ~LOGTO_USER_SUSPENDED) != (n->flags & ~LOGTO_USER_SUSPENDED)) {
        snprintf(a, sizeof(a), "0x%" PRIx32, o->flags);
        snprintf(b, sizeof(b), "0x%" PRIx32, n->flags);
        r = note_field(&fields, &detail, "flags", a, b);
    }
    return add_field_change(report, r, LOGTO_SYNC_USER_CHANGED, n->name, n->sub, fields, detail);
}

static int group_changes(const struct logto_dir_group *o, const struct logto_dir_group *n,
                         struct logto_sync_report *report)
{
    char **fields = calloc(1, sizeof(char *));
    char *detail = NULL;
    int r = fields ? 0 : -1;

    if (r == 0 && o->gid != n->gid)
        r = note_id(&fields, &detail, "gid", o->gid, n->gid);
    if (r == 0 && o->kind != n->kind)
        r = note_field(&fields, &detail, "kind", logto_group_kind_name(o->kind),
                       logto_group_kind_name(n->kind));
    if (r == 0 && !logto_streq(o->source, n->source))
        r = note_field(&fields, &detail, "source", o->source, n->source);
    return add_field_change(report, r, LOGTO_SYNC_GROUP_CHANGED, n->name, NULL, fields, detail);
}

static struct pair *membership_pairs(const struct logto_directory *dir, size_t *ret_n)
{
    size_t n = 0, k = 0;
    struct pair *p;

    for (size_t i = 0; dir && i < dir->n_groups; i++)
        n += logto_strv_length(dir->groups[i].members);
    p = calloc(n + 1, sizeof(*p));
    if (!p)
        return NULL;
    for (size_t i = 0; dir && i < dir->n_groups; i++)
        for (size_t j = 0; dir->groups[i].members && dir->groups[i].members[j]; j++)
            p[k++] = (struct pair){ dir->groups[i].name, dir->groups[i].members[j] };
    if (n > 1)
        qsort(p, n, sizeof(*p), cmp_pair);
    *ret_n = n;
    return p;
}

static int cmp_change(const void *a, const void *b)
{
    const struct logto_sync_change *x = a, *y = b;
    /* Users, then groups, then memberships (by group, then user); by name inside each. */
    static const int rank[] = {
        [LOGTO_SYNC_USER_ADDED] = 0,    [LOGTO_SYNC_USER_REMOVED] = 0,
        [LOGTO_SYNC_USER_CHANGED] = 0,  [LOGTO_SYNC_GROUP_ADDED] = 1,
        [LOGTO_SYNC_GROUP_REMOVED] = 1, [LOGTO_SYNC_GROUP_CHANGED] = 1,
        [LOGTO_SYNC_MEMBER_ADDED] = 2,  [LOGTO_SYNC_MEMBER_REMOVED] = 2,
    };
    int c;

    if (rank[x->kind] != rank[y->kind])
        return rank[x->kind] - rank[y->kind];
    if (rank[x->kind] == 2 && (c = strcmp(x->group, y->group)) != 0)
        return c;
    if ((c = strcmp(x->name ? x->name : "", y->name ? y->name : "")) != 0)
        return c;
    return (int)x->kind - (int)y->kind;
}

int logto_sync_diff(const struct logto_directory *old, const struct logto_directory *new,
                    struct logto_sync_report *report, struct logto_error *err)
{
    size_t no = old ? old->n_users : 0, nn = new->n_users, first = report->n_changes;
    _cleanup_free_ const struct logto_dir_user **ou = calloc(no + 1, sizeof(*ou));
    _cleanup_free_ const struct logto_dir_user **nu = calloc(nn + 1, sizeof(*nu));
    _cleanup_free_ const struct logto_dir_group **og = NULL, **ng = NULL;
    _cleanup_free_ struct pair *op = NULL, *np = NULL;
    size_t i, j, n_op = 0, n_np = 0;
    int r = 0;

    if (!ou || !nu)
        return LOGTO_OOM(err);
    for (i = 0; i < no; i++)
        ou[i] = &old->users[i];
    for (i = 0; i < nn; i++)
        nu[i] = &new->users[i];
    qsort(ou, no, sizeof(*ou), cmp_user_ptr_sub);
    qsort(nu, nn, sizeof(*nu), cmp_user_ptr_sub);
    for (i = j = 0; r >= 0 && (i < no || j < nn);) {
        int c = i == no ? 1 : j == nn ? -1 : strcmp(ou[i]->sub, nu[j]->sub);
        if (c < 0) {
            r = add_change(report, LOGTO_SYNC_USER_REMOVED, ou[i]->name, NULL, ou[i]->sub, NULL,
                           NULL);
            i++;
        } else if (c > 0) {
            r = add_change(report, LOGTO_SYNC_USER_ADDED, nu[j]->name, NULL, nu[j]->sub, NULL,
                           NULL);
            j++;
        } else {
            r = user_changes(ou[i++], nu[j++], report);
        }
    }

    no = old ? old->n_groups : 0;
    nn = new->n_groups;
    og = calloc(no + 1, sizeof(*og));
    ng = calloc(nn + 1, sizeof(*ng));
    if (!og || !ng)
        return LOGTO_OOM(err);
    for (i = 0; i < no; i++)
        og[i] = &old->groups[i];
    for (i = 0; i < nn; i++)
        ng[i] = &new->groups[i];
    qsort(og, no, sizeof(*og), cmp_group_ptr_name);
    qsort(ng, nn, sizeof(*ng), cmp_group_ptr_name);
    for (i = j = 0; r >= 0 && (i < no || j < nn);) {
        int c = i == no ? 1 : j == nn ? -1 : strcmp(og[i]->name, ng[j]->name);
        if (c < 0)
            r = add_change(report, LOGTO_SYNC_GROUP_REMOVED, og[i++]->name, NULL, NULL, NULL, NULL);
        else if (c > 0)
            r = add_change(report, LOGTO_SYNC_GROUP_ADDED, ng[j++]->name, NULL, NULL, NULL, NULL);
        else
            r = group_changes(og[i++], ng[j++], report);
    }

    op = membership_pairs(old, &n_op);
    np = membership_pairs(new, &n_np);
    if (!op || !np)
        return LOGTO_OOM(err);
    for (i = j = 0; r >= 0 && (i < n_op || j < n_np);) {
        int c = i == n_op ? 1 : j == n_np ? -1 : cmp_pair(&op[i], &np[j]);
        if (c < 0) {
            r = add_change(report, LOGTO_SYNC_MEMBER_REMOVED, op[i].user, op[i].group, NULL, NULL,
                           NULL);
            i++;
        } else if (c > 0) {
            r = add_change(report, LOGTO_SYNC_MEMBER_ADDED, np[j].user, np[j].group, NULL, NULL,
                           NULL);
            j++;
        } else {
            i++;
            j++;
        }
    }
    if (r < 0)
        return LOGTO_OOM(err);
    if (report->n_changes - first > 1)
        qsort(report->changes + first, report->n_changes - first, sizeof(*report->changes),
              cmp_change);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The sync */

struct fetch_progress {
    const struct logto_sync_options *opts;
    size_t roles, orgs;   /* totals, once listed */
    size_t role_i, org_i; /* member listings started */
    char last[256];       /* path of the last member listing */
};

/* Listing paths: "/users", "/roles?type=User", "/roles/<id>/users", "/organizations",
 * "/organizations/<id>/users". */
static void on_page(void *userdata, const char *path, size_t done, size_t total)
{
    struct fetch_progress *fp = userdata;
    bool members = strstr(path, "/users") && !logto_startswith(path, "/users");

    if (logto_startswith(path, "/users")) {
        progress(fp->opts, "users", done, total);
    } else if (!members && logto_startswith(path, "/roles")) {
        fp->roles = total ? total : done;
        progress(fp->opts, "roles", done, total);
    } else if (!members && logto_startswith(path, "/organizations")) {
        fp->orgs = total ? total : done;
        progress(fp->opts, "organizations", done, total);
    } else if (members) {
        bool role = logto_startswith(path, "/roles/");
        if (strcmp(fp->last, path) != 0) {
            snprintf(fp->last, sizeof(fp->last), "%s", path);
            if (role)
                fp->role_i++;
            else
                fp->org_i++;
        }
        if (role)
            progress(fp->opts, "role-members", fp->role_i, fp->roles);
        else
            progress(fp->opts, "organization-members", fp->org_i, fp->orgs);
    }
}

static int need_credentials(const struct logto_config *cfg, struct logto_error *err)
{
    if (!cfg)
        return logto_error_set(err, LOGTO_E_CONFIG, "sync needs a configuration");
    if (cfg->profile != LOGTO_PROFILE_LOGTO)
        return logto_error_set(
            err, LOGTO_E_CONFIG,
            "sync needs profile logto: only Logto has the Management API (generic "
            "providers serve the users who signed in on this host)");
    if (!cfg->m2m_client_id || !cfg->m2m_client_secret_file)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "sync needs Management API credentials: set m2m_client_id and "
                               "m2m_client_secret_file (a root-owned 0600 file holding the "
                               "secret) in the [sync] section of logto.conf");
    if (!cfg->state_dir)
        return logto_error_set(err, LOGTO_E_CONFIG, "sync needs [paths] state_dir");
    return 0;
}

/* Map every fetched user. users[i] borrows from dir; ids are owned by users[i].id. */
static int map_users(const struct logto_ctx *ctx, const struct logto_mgmt_directory *md,
                     const struct logto_sync_options *opts, struct logto_sync_user *users,
                     char **reasons, struct logto_error *err)
{
    for (size_t i = 0; i < md->n_users; i++) {
        const struct logto_mgmt_dir_user *mu = &md->users[i];
        _cleanup_free_ struct logto_org_membership *orgs = calloc(mu->n_orgs + 1, sizeof(*orgs));
        struct logto_error e = { 0 };
        json_t *uname = json_object_get(mu->user, "username");
        int r;

        if (!orgs)
            return LOGTO_OOM(err);
        for (size_t k = 0; k < mu->n_orgs; k++)
            orgs[k] = (struct logto_org_membership){
                .id = mu->orgs[k].id,
                .name = mu->orgs[k].name,
                .roles = (const char *const *)mu->orgs[k].roles,
            };
        users[i].sub = mu->id;
        users[i].username = json_is_string(uname) ? json_string_value(uname) : NULL;
        if (!users[i].username || !users[i].username[0])
            users[i].login_email = json_string_value(json_object_get(mu->user, "primaryEmail"));
        users[i].created_at = json_integer_value(json_object_get(mu->user, "createdAt"));
        r = logto_identity_from_mgmt(ctx, mu->user, (const char *const *)mu->roles, orgs,
                                     mu->n_orgs, &users[i].id, &e);
        if (r == -LOGTO_E_IDENTITY) {
            reasons[i] = strdup(e.message);
            if (!reasons[i])
                return LOGTO_OOM(err);
            users[i].reason = reasons[i];
            users[i].id = NULL;
        } else if (r < 0) {
            *err = e;
            logto_error_prefix(err, "sync: user %s", mu->id);
            return r;
        }
        if ((i + 1) % PROGRESS_GAP == 0 || i + 1 == md->n_users)
            progress(opts, "mapping", i + 1, md->n_users);
    }
    return 0;
}

/*
 * Build the directory from the users some service of this host admits (and those that did not
 * map, to report them); keep[] is set for all n users.
 */
/*
 * The snapshot holds only users some service of this host admits (authz.h). Who owns a name, a
 * chosen ID or a UID is decided over the whole tenant first, so that every host agrees on it
 * whatever its rules; only then are the users no service admits left out (with their groups).
 */
static int build_admitted(const struct logto_ctx *ctx, const struct logto_sync_user *users,
                          size_t n, struct logto_directory **ret_dir, bool *keep,
                          struct logto_sync_report *report, struct logto_error *err)
{
    _cleanup_(logto_authz_host_freep) struct logto_authz_host *host = NULL;
    int r = logto_authz_host_new(ctx->cfg, &host, err);

    if (r < 0)
        return r;
    return sync_build(ctx, users, n, host, ret_dir, keep, report, err);
}

static bool has_custom_uid(const struct logto_config *cfg, const json_t *user)
{
    json_t *custom = json_object_get(user, "customData");
    return cfg->uid_key && json_is_object(custom) && json_object_get(custom, cfg->uid_key);
}

static bool moved(const struct logto_sync_report *report, const char *sub)
{
    for (size_t i = 0; i < report->n_uid_moves; i++)
        if (strcmp(report->uid_moves[i].sub, sub) == 0)
            return true;
    return false;
}

/* Which kept users get custom_data[uid_key] written: the moved ones always (their UID must not
 * change when the tenant does), every hashed one with --persist-uids. */
static bool to_persist(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
                       const struct logto_mgmt_dir_user *mu, const struct logto_sync_report *report)
{
    return !has_custom_uid(ctx->cfg, mu->user) && (opts->persist_uids || moved(report, mu->id));
}

static int persist_uids(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
                        struct logto_mgmt *m, const struct logto_mgmt_directory *md,
                        const struct logto_sync_user *users, const bool *keep,
                        struct logto_sync_report *report, struct logto_error *err)
{
    for (size_t i = 0; i < md->n_users; i++) {
        _cleanup_json_ json_t *patch = NULL;
        int r;

        if (!keep[i] || !to_persist(ctx, opts, &md->users[i], report))
            continue;
        patch = json_pack("{s:I}", ctx->cfg->uid_key, (json_int_t)users[i].id->uid);
        if (!patch)
            return LOGTO_OOM(err);
        r = logto_mgmt_patch_custom_data(m, md->users[i].id, patch, NULL, err);
        if (r < 0) {
            logto_error_prefix(err, "persisting the UID of %s", users[i].id->name);
            return r;
        }
        logto_log(&ctx->log, LOG_INFO, "sync-persist-uid user=%s sub=%s uid=%" PRIu32,
                  users[i].id->name, users[i].id->sub, users[i].id->uid);
        for (size_t k = 0; k < report->n_uid_moves; k++)
            if (strcmp(report->uid_moves[k].sub, md->users[i].id) == 0)
                report->uid_moves[k].persisted = true;
        report->uids_persisted++;
        progress(opts, "persist", report->uids_persisted, report->uids_to_persist);
    }
    return 0;
}

static void late_failure(struct logto_sync_report *report, int r, const struct logto_error *e,
                         const char *what)
{
    if (report->late_error)
        return;
    report->late_error = r;
    /* Truncation is fine: the message is for people. */
    if (snprintf(report->late_message, sizeof(report->late_message), "%s: %.400s", what,
                 e->message[0] ? e->message : logto_errc_name(logto_errc_from(r))) < 0)
        report->late_message[0] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* One user (sync.h: opts->user) */

/* What can be refused before asking Logto anything: NAME is no name sync could give a Logto
 * user of this host. */
static int one_user_name_check(const struct logto_ctx *ctx, const char *name,
                               struct logto_error *err)
{
    _cleanup_(logto_localdb_freep) struct logto_localdb *db = NULL;
    char shown[160], folded[LOGTO_NAME_MAX + 1];
    const char *why = NULL;
    int r;

    logto_log_sanitize(shown, sizeof(shown), name);
    if (!logto_name_valid(name)) {
        if (logto_name_fold(name, folded, sizeof(folded), &why) == 0)
            return logto_error_set(err, LOGTO_E_INVAL,
                                   "'%s' is not a user name of this host: names are lower case "
                                   "(the name would be %s)",
                                   shown, folded);
        return logto_error_set(err, LOGTO_E_INVAL,
                               "'%s' is not a valid user name (1-%d characters of a-z 0-9 _ . -, "
                               "starting with a letter or _)",
                               shown, LOGTO_NAME_MAX);
    }
    r = logto_localdb_load(ctx, &db, err);
    if (r < 0)
        return r;
    if (logto_localdb_has_user(db, name))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "%s is a local account of this host: logtoctl never touches it",
                               name);
    why = logto_name_system_reason(name);
    if (!why && logto_strv_contains(ctx->cfg->reserved_names, name))
        why = "is listed in [identity] reserved_names";
    if (!why && logto_localdb_has_system_name(db, name))
        why = "a name of base-passwd's system accounts";
    if (why)
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "%s is a reserved name (%s): never a Logto user here", name, why);
    return 0;
}

static const struct logto_dir_user *user_named(const struct logto_directory *dir, const char *name)
{
    for (size_t i = 0; dir && i < dir->n_users; i++)
        if (strcmp(dir->users[i].name, name) == 0)
            return &dir->users[i];
    return NULL;
}

/* Why the rules gave name to nobody although a Logto user claims it; NULL: nobody claims it. */
static const char *one_user_refusal(const struct logto_sync_report *report, const char *name,
                                    char *buf, size_t n)
{
    const struct logto_blocked_entry *b =
        report->blocked ? logto_blocked_find_name(report->blocked, name) : NULL;

    if (b) {
        _cleanup_free_ char *who = logto_blocked_claimants_text(b);
        snprintf(buf, n, "the name is blocked: %s: %s", b->reason, who ? who : "?");
        return buf;
    }
    for (size_t i = 0; i < report->n_skipped; i++) {
        const struct logto_sync_skip *sk = &report->skipped[i];
        if (logto_streq(sk->name, name) || (!sk->name && logto_streq(sk->username, name))) {
            snprintf(buf, n, "Logto user %s is refused (%s): %s", sk->sub,
                     logto_sync_skip_kind_name(sk->kind), sk->reason ? sk->reason : "?");
            return buf;
        }
    }
    return NULL;
}

/*
 * The snapshot in place with only name's entry changed to what the full build (dir) gives it:
 * *ret (NULL when nothing is to change), keep[] left set only for that user.
 */
static int one_user_merge(const struct logto_ctx *ctx, const char *name, const char *path,
                          const struct logto_directory *old, const struct logto_directory *dir,
                          const struct logto_sync_user *users, size_t n, bool *keep,
                          const struct logto_sync_report *report, struct logto_directory **ret,
                          struct logto_error *err)
{
    _cleanup_(logto_directory_freep) struct logto_directory *merged = NULL;
    _cleanup_(logto_blocked_freep) struct logto_blocked *was_blocked = NULL;
    _cleanup_free_ struct logto_dir_group *groups = NULL;
    const struct logto_dir_user *fresh = user_named(dir, name), *held = user_named(old, name);
    char why[REASON_MAX];
    size_t n_groups = 0;
    int r;

    for (size_t i = 0; i < n; i++)
        keep[i] = keep[i] && fresh && strcmp(users[i].sub, fresh->sub) == 0;
    if (!fresh && one_user_refusal(report, name, why, sizeof(why)))
        return logto_error_set(err, LOGTO_E_COLLISION, "%s: %s (nothing was changed)", name, why);
    if (!fresh && !held)
        return logto_error_set(err, LOGTO_E_NOTFOUND,
                               "no Logto user of this host is named %s (nothing was changed)",
                               name);
    if (fresh && held && strcmp(fresh->sub, held->sub) != 0)
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "%s is held on this host by Logto user %s, and Logto now gives it "
                               "to %s: run a full logtoctl sync to move it (nothing was changed)",
                               name, held->sub, fresh->sub);
    r = logto_blocked_read(ctx, &was_blocked, err);
    if (r < 0)
        return r;
    if (fresh && logto_blocked_find_name(was_blocked, name))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "%s was blocked by the last full sync: run a full logtoctl sync to "
                               "unblock it (nothing was changed)",
                               name);

    r = logto_snapshot_read(path, &merged, err);
    if (r == -LOGTO_E_NOTFOUND)
        merged = logto_directory_new();
    else if (r < 0)
        return r;
    if (!merged)
        return LOGTO_OOM(err);
    if (!fresh) {
        /* Gone from the tenant, or no service of this host admits them any more. */
        (void)logto_directory_remove_user(merged, held->sub);
        *ret = TAKE_PTR(merged);
        return 0;
    }
    groups = calloc(dir->n_groups + 1, sizeof(*groups));
    if (!groups)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < dir->n_groups; i++)
        if (logto_strv_contains(dir->groups[i].members, name) ||
            (dir->groups[i].kind == LOGTO_GROUP_PRIVATE &&
             strcmp(dir->groups[i].source, fresh->sub) == 0))
            groups[n_groups++] = dir->groups[i];
    r = logto_directory_upsert_user(merged, fresh, groups, n_groups, err);
    if (r >= 0)
        r = logto_directory_validate(merged, err);
    if (r < 0) {
        logto_error_prefix(err,
                           "%s does not fit beside the other entries of the snapshot: run a full "
                           "logtoctl sync (nothing was changed)",
                           name);
        return r == -LOGTO_E_NOMEM ? r : -LOGTO_E_COLLISION;
    }
    r = logto_directory_drop_local(merged, ctx->passwd_path, ctx->group_path, &ctx->log);
    if (r < 0)
        return logto_error_set(err, logto_errc_from(r), "cannot read the local account files");
    *ret = TAKE_PTR(merged);
    return 0;
}

/* The key cache of one user: theirs written, or removed when they were removed. */
static int one_user_keys(const struct logto_ctx *ctx, const char *name,
                         const struct logto_sync_user *users, size_t n, const bool *keep,
                         struct logto_sync_report *report, struct logto_error *err)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_strv_ char **keys = NULL;
        int r;
        if (!keep[i])
            continue;
        /* Suspended users keep resolving, but no key of theirs is kept around. */
        if (!users[i].id->suspended &&
            (r = logto_sync_ssh_keys(ctx, users[i].id, &keys, &report->keys_skipped, err)) < 0)
            return r;
        r = logto_sync_keys_store(ctx, name, users[i].sub, keys, err);
        report->keys_written += r > 0;
        report->keys_users += r >= 0 && keys && keys[0];
        return r < 0 ? r : 0;
    }
    int r = logto_sync_keys_store(ctx, name, "", NULL, err);
    report->keys_removed += r > 0;
    return r < 0 ? r : 0;
}

/* The installed snapshot already says what dir says (every field the diff compares, the local
 * files' fingerprint, the flags; not the timestamps): rewriting it would only disturb readers'
 * mappings and the file's mtime. */
static bool snapshot_current(const struct logto_directory *old, const struct logto_directory *dir,
                             const struct logto_sync_report *report)
{
    struct stat st;

    if (!old || report->previous_problem || report->n_changes != 0 ||
        old->local_files != dir->local_files || old->snapshot_flags != dir->snapshot_flags)
        return false;
    /* A file whose mode or links went wrong is rewritten (and so repaired) all the same. */
    return lstat(report->path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 &&
           st.st_nlink == 1;
}

int logto_sync(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
               struct logto_sync_report **ret_report, struct logto_error *err)
{
    static const struct logto_sync_options no_opts = { 0 };
    const struct logto_config *cfg = ctx ? ctx->cfg : NULL;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *report = NULL;
    _cleanup_(logto_mgmt_freep) struct logto_mgmt *m = NULL;
    _cleanup_(logto_mgmt_directory_freep) struct logto_mgmt_directory *md = NULL;
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL, *old = NULL;
    _cleanup_close_ int statefd = -1, lockfd = -1, updatefd = -1;
    _cleanup_free_ char *lockpath = NULL;
    struct logto_sync_user *users = NULL;
    char **reasons = NULL;
    bool *keep = NULL;
    struct logto_config mcfg;
    struct logto_ctx mctx;
    struct fetch_progress fp = { 0 };
    struct logto_error e = { 0 };
    int64_t t0 = logto_monotonic_ms(), t;
    size_t n = 0;
    int r;

    if (!opts)
        opts = &no_opts;
    if (cfg && cfg->relay_url) /* a relay host holds no Management API credential */
        return logto_relay_sync(ctx, opts, ret_report, err);
    fp.opts = opts;
    r = need_credentials(cfg, err);
    if (r >= 0 && opts->user)
        r = one_user_name_check(ctx, opts->user, err);
    if (r < 0)
        return r;
    report = calloc(1, sizeof(*report));
    if (!report)
        return LOGTO_OOM(err);
    report->dry_run = opts->dry_run;
    report->path = opts->path ? strdup(opts->path)
                              : logto_asprintf("%s/%s", cfg->state_dir, LOGTO_SNAPSHOT_NAME);
    if (!report->path)
        return LOGTO_OOM(err);

    /* A dry run writes nothing, not even the M2M token cache: the session gets no state_dir. */
    mcfg = *cfg;
    mctx = *ctx;
    mctx.cfg = &mcfg;
    if (opts->dry_run) {
        mcfg.state_dir = NULL;
    } else {
        r = logto_dir_ensure(cfg->state_dir, 0755, false, &statefd, err);
        if (r < 0)
            return r;
        lockpath = logto_asprintf("%s/%s", cfg->state_dir, LOGTO_SYNC_LOCK);
        if (!lockpath)
            return LOGTO_OOM(err);
        r = logto_lock_at(statefd, LOGTO_SYNC_LOCK, lockpath, LOGTO_SYNC_LOCK_TIMEOUT, &lockfd,
                          err);
        if (r == -LOGTO_E_BUSY)
            return logto_error_set(err, LOGTO_E_BUSY, "another sync is running (%s is locked)",
                                   lockpath);
        if (r < 0)
            return r;
    }

    /* Fetch. Any failure here leaves everything on disk as it was. */
    r = logto_mgmt_new(&mctx, &m, err);
    if (r < 0)
        return r;
    logto_mgmt_set_progress(m, on_page, &fp);
    logto_mgmt_set_patience(m, cfg->request_interval_ms, cfg->rate_limit_budget * 1000);
    r = logto_mgmt_fetch_directory(m, &md, err);
    if (r < 0) {
        logto_log(&ctx->log, LOG_ERR, "sync-failed step=fetch requests=%u reason=\"%s\"",
                  logto_mgmt_request_count(m), err ? err->message : "");
        return r;
    }
    report->fetch_ms = logto_monotonic_ms() - t0;
    report->fetched_users = md->n_users;
    report->fetched_roles = json_array_size(md->roles);
    report->fetched_orgs = json_array_size(md->organizations);

    /* Map and build. */
    n = md->n_users;
    users = calloc(n + 1, sizeof(*users));
    reasons = calloc(n + 1, sizeof(*reasons));
    keep = calloc(n + 1, sizeof(*keep));
    if (!users || !reasons || !keep) {
        r = LOGTO_OOM(err);
        goto out;
    }
    t = logto_monotonic_ms();
    r = map_users(ctx, md, opts, users, reasons, err);
    if (r >= 0 && !opts->keep_collisions)
        r = logto_sync_resolve_uids(ctx, users, n, report, err);
    report->map_ms = logto_monotonic_ms() - t;
    t = logto_monotonic_ms();
    if (r >= 0)
        r = build_admitted(ctx, users, n, &dir, keep, report, err);
    report->build_ms = logto_monotonic_ms() - t;
    if (r < 0)
        goto out;
    (void)logto_directory_warn_group_overflow(dir, sysconf(_SC_NGROUPS_MAX), &ctx->log);

    /* Compare with what is there now. From this read to the write, sign-ins that update the
     * snapshot wait, so neither undoes the other (the fetch above ran without the lock). */
    if (!opts->dry_run) {
        r = logto_lock_at(statefd, LOGTO_DIRECTORY_UPDATE_LOCK, LOGTO_DIRECTORY_UPDATE_LOCK,
                          LOGTO_SYNC_LOCK_TIMEOUT, &updatefd, err);
        if (r < 0)
            goto out;
    }
    t = logto_monotonic_ms();
    r = logto_snapshot_read(report->path, &old, &e);
    if (r == -LOGTO_E_NOMEM) {
        r = LOGTO_OOM(err);
        goto out;
    }
    if (r < 0 && r != -LOGTO_E_NOTFOUND) {
        logto_log(&ctx->log, LOG_WARNING, "sync-previous-unreadable reason=\"%s\"", e.message);
        report->previous_problem = strdup(e.message);
        if (!report->previous_problem) {
            r = LOGTO_OOM(err);
            goto out;
        }
    }
    report->previous_users = old ? old->n_users : 0;
    report->previous_groups = old ? old->n_groups : 0;
    if (opts->user) {
        struct logto_directory *merged = NULL;
        r = one_user_merge(ctx, opts->user, report->path, old, dir, users, n, keep, report, &merged,
                           err);
        if (r < 0) {
            logto_log(&ctx->log, LOG_WARNING, "sync-user-refused user=%s reason=\"%s\"", opts->user,
                      err ? err->message : "");
            goto out;
        }
        logto_directory_free(dir);
        dir = merged;
    }
    r = logto_sync_diff(old, dir, report, err);
    report->diff_ms = logto_monotonic_ms() - t;
    if (r < 0)
        goto out;
    report->users = dir->n_users;
    report->groups = dir->n_groups;
    for (size_t i = 0; i < dir->n_users; i++)
        report->suspended += (dir->users[i].flags & LOGTO_USER_SUSPENDED) != 0;
    for (size_t i = 0; i < n; i++)
        report->uids_to_persist += keep[i] && to_persist(ctx, opts, &md->users[i], report);

    if (!opts->dry_run) {
        progress(opts, "writing", 0, 1);
        t = logto_monotonic_ms();
        dir->generated_at = logto_now(ctx);
        logto_directory_set_enumerate(dir, !(ctx->cfg && ctx->cfg->no_enumerate));
        /* Blocked names first: a sync that dies in between leaves them blocked, never served. */
        r = opts->user ? 0 : logto_blocked_write(ctx, report->blocked, err);
        report->unchanged = snapshot_current(old, dir, report);
        if (r >= 0 && !report->unchanged)
            r = logto_snapshot_write(report->path, dir, err);
        if (r < 0) {
            logto_log(&ctx->log, LOG_ERR, "sync-failed step=write reason=\"%s\"",
                      err ? err->message : "");
            goto out;
        }
        report->written = !report->unchanged;
        progress(opts, "writing", 1, 1);

        /* The snapshot is in place; what follows is reported, not undone. */
        e = (struct logto_error){ 0 };
        r = opts->user ? one_user_keys(ctx, opts->user, users, n, keep, report, &e)
                       : logto_sync_keys_update(ctx, users, n, keep, report, &e);
        if (r < 0)
            late_failure(report, r, &e, "updating the SSH key cache");
        report->write_ms = logto_monotonic_ms() - t;
        if (report->uids_to_persist) {
            e = (struct logto_error){ 0 };
            r = persist_uids(ctx, opts, m, md, users, keep, report, &e);
            if (r < 0)
                late_failure(report, r, &e, "persisting UIDs");
        }
    }

    report->requests = logto_mgmt_request_count(m);
    report->token_requests = logto_mgmt_token_request_count(m);
    report->elapsed_ms = logto_monotonic_ms() - t0;
    logto_log(&ctx->log, report->late_error ? LOG_WARNING : LOG_INFO,
              "sync-done users=%zu groups=%zu suspended=%zu not_admitted=%zu skipped=%zu "
              "collisions=%zu groups_skipped=%zu added=%zu removed=%zu changed=%zu requests=%u "
              "elapsed_ms=%" PRId64 " dry_run=%s written=%s unchanged=%s%s%s%s%s",
              report->users, report->groups, report->suspended, report->not_admitted,
              report->n_skipped, report->n_collisions, report->n_groups_skipped,
              report->counts[LOGTO_SYNC_USER_ADDED], report->counts[LOGTO_SYNC_USER_REMOVED],
              report->counts[LOGTO_SYNC_USER_CHANGED], report->requests, report->elapsed_ms,
              opts->dry_run ? "yes" : "no", report->written ? "yes" : "no",
              report->unchanged ? "yes" : "no", report->late_error ? " late_error=" : "",
              report->late_error ? logto_errc_name(logto_errc_from(report->late_error)) : "",
              opts->user ? " user=" : "", opts->user ? opts->user : "");
    *ret_report = TAKE_PTR(report);
    r = 0;
out:
    for (size_t i = 0; users && i < n; i++)
        logto_identity_free(users[i].id);
    for (size_t i = 0; reasons && i < n; i++)
        free(reasons[i]);
    free(users);
    free(reasons);
    free(keep);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* The tenant-wide half, for the publisher (relay.h) */

void logto_sync_tenant_free(struct logto_sync_tenant *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->users && i < t->n; i++)
        logto_identity_free(t->users[i].id);
    for (size_t i = 0; t->reasons && i < t->n; i++)
        free(t->reasons[i]);
    free(t->users);
    free(t->reasons);
    free(t->refused);
    logto_mgmt_directory_free(t->md);
    logto_mgmt_free(t->mgmt);
    free(t);
}

/* Steps 1 and 2 of sync_build: what is decided over the whole tenant, whatever the host. */
static int tenant_refusals(const struct logto_ctx *ctx, struct logto_sync_tenant *t,
                           struct logto_sync_report *report, struct logto_error *err)
{
    struct build b = { .ctx = ctx, .users = t->users, .n = t->n, .report = report, .err = err };
    int r;

    if (!report->blocked && !(report->blocked = logto_blocked_new()))
        return LOGTO_OOM(err);
    b.refused = t->refused;
    for (size_t i = 0; i < t->n; i++)
        b.refused[i] = !t->users[i].id;
    r = resolve_names(&b);
    if (r >= 0)
        r = refuse_chosen_ids(&b);
    if (r >= 0)
        r = refuse_collisions(&b);
    capture_done(&b.cap);
    logto_strv_free(b.why_store);
    return r < 0 ? r : 0;
}

int logto_sync_tenant_fetch(const struct logto_ctx *ctx, struct logto_sync_tenant **ret,
                            struct logto_sync_report *report, struct logto_error *err)
{
    static const struct logto_sync_options no_opts = { 0 };
    struct logto_sync_tenant *t = NULL;
    struct fetch_progress fp = { .opts = &no_opts };
    int r = need_credentials(ctx ? ctx->cfg : NULL, err);

    if (r < 0)
        return r;
    t = calloc(1, sizeof(*t));
    if (!t)
        return LOGTO_OOM(err);
    r = logto_mgmt_new(ctx, &t->mgmt, err);
    if (r >= 0) {
        logto_mgmt_set_progress(t->mgmt, on_page, &fp);
        r = logto_mgmt_fetch_directory(t->mgmt, &t->md, err);
    }
    if (r < 0)
        goto fail;
    t->n = t->md->n_users;
    report->fetched_users = t->n;
    report->fetched_roles = json_array_size(t->md->roles);
    report->fetched_orgs = json_array_size(t->md->organizations);
    t->users = calloc(t->n + 1, sizeof(*t->users));
    t->reasons = calloc(t->n + 1, sizeof(*t->reasons));
    t->refused = calloc(t->n + 1, sizeof(*t->refused));
    if (!t->users || !t->reasons || !t->refused) {
        r = LOGTO_OOM(err);
        goto fail;
    }
    r = map_users(ctx, t->md, &no_opts, t->users, t->reasons, err);
    if (r >= 0)
        r = logto_sync_resolve_uids(ctx, t->users, t->n, report, err);
    if (r >= 0)
        r = tenant_refusals(ctx, t, report, err);
    if (r < 0)
        goto fail;
    report->requests = logto_mgmt_request_count(t->mgmt);
    report->token_requests = logto_mgmt_token_request_count(t->mgmt);
    *ret = t;
    return 0;
fail:
    logto_sync_tenant_free(t);
    return r;
}

int logto_sync_tenant_persist_moves(const struct logto_ctx *ctx, struct logto_sync_tenant *t,
                                    struct logto_sync_report *report, struct logto_error *err)
{
    static const struct logto_sync_options no_opts = { 0 };
    _cleanup_free_ bool *keep = calloc(t->n + 1, sizeof(*keep));

    if (!keep)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < t->n; i++)
        keep[i] = !t->refused[i];
    return persist_uids(ctx, &no_opts, t->mgmt, t->md, t->users, keep, report, err);
}

int logto_sync_build_host(const struct logto_ctx *ctx, const struct logto_sync_user *users,
                          size_t n, struct logto_directory **ret_dir, bool *keep,
                          struct logto_sync_report *report, struct logto_error *err)
{
    return build_admitted(ctx, users, n, ret_dir, keep, report, err);
}
