/* SPDX-License-Identifier: MIT */
/* A relay host's per-user claims from the signed directory (relayclaims.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "identity.h"
#include "json.h"
#include "memory.h"
#include "names.h"
#include "relayclaims.h"
#include "statefile.h"
#include "sync.h"
#include "util.h"

#define HEADER        "# logto-relay-claims v1 "
#define USER_LINE_MAX (4 * 1024 * 1024) /* bytes of one user's line */
#define LINE_DEPTH    3
#define STAMP_MAX     1024 /* bytes of the header line */

static const char *state_dir_of(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
}

static char *stamp_line(const struct logto_relay_stamp *s)
{
    _cleanup_json_ json_t *doc = json_pack("{s:I,s:I,s:I,s:s}", "serial", (json_int_t)s->serial,
                                           "generated_at", (json_int_t)s->generated_at, "not_after",
                                           (json_int_t)s->not_after, "sha256", s->sha256);
    _cleanup_free_ char *text = doc ? logto_json_dump(doc) : NULL;
    return text ? logto_asprintf("%s%s\n", HEADER, text) : NULL;
}

static int write_file(const struct logto_ctx *ctx, const char *text, size_t len,
                      struct logto_error *err)
{
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_CLAIMS);
    _cleanup_close_ int dirfd = -1;
    int r;

    if (!path)
        return LOGTO_OOM(err);
    if (len > LOGTO_RELAY_CLAIMS_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "%s would exceed %zu bytes", path,
                               LOGTO_RELAY_CLAIMS_MAX);
    r = logto_dir_ensure(state_dir_of(ctx), 0755, false, &dirfd, err);
    if (r >= 0)
        r = logto_file_write_at(dirfd, LOGTO_RELAY_CLAIMS, path, text, len, 0600, err);
    return r;
}

static json_t *user_json(const struct logto_sync_user *u)
{
    const struct logto_identity *id = u->id;
    json_t *o = json_pack("{s:s,s:I,s:b,s:o,s:o,s:o}", "sub", id->sub, "uid", (json_int_t)id->uid,
                          "suspended", id->suspended, "roles", json_array(), "orgs", json_array(),
                          "org_roles", json_array());
    struct {
        const char *key;
        char **v;
    } lists[] = { { "roles", id->roles }, { "orgs", id->orgs }, { "org_roles", id->org_roles } };

    if (!o || (u->username && json_object_set_new(o, "username", json_string(u->username)) < 0) ||
        (u->login_email && json_object_set_new(o, "login_email", json_string(u->login_email)) < 0))
        goto fail;
    for (size_t k = 0; k < ELEMENTSOF(lists); k++)
        for (size_t i = 0; lists[k].v && lists[k].v[i]; i++)
            if (json_array_append_new(json_object_get(o, lists[k].key),
                                      json_string(lists[k].v[i])) < 0)
                goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

static int cmp_by_name(const void *a, const void *b)
{
    const struct logto_sync_user *const *x = a, *const *y = b;
    return strcmp((*x)->id->name, (*y)->id->name);
}

int logto_relay_claims_write(const struct logto_ctx *ctx, const struct logto_relay_stamp *stamp,
                             const struct logto_sync_user *users, size_t n, const bool *keep,
                             struct logto_error *err)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *head = stamp_line(stamp);
    _cleanup_free_ const struct logto_sync_user **sorted = calloc(n + 1, sizeof(*sorted));
    size_t len = 0, m = 0;
    FILE *f;
    bool ok;
    int r;

    if (!head || !sorted)
        return LOGTO_OOM(err);
    /* A name is the line's key: only valid names (no tab, no newline) are ever written, sorted
     * byte-wise, so that a lookup is a binary search (names are unique in the snapshot). */
    for (size_t i = 0; i < n; i++)
        if (keep[i] && users[i].id && logto_name_valid(users[i].id->name))
            sorted[m++] = &users[i];
    qsort(sorted, m, sizeof(*sorted), cmp_by_name);
    f = open_memstream(&text, &len);
    if (!f)
        return LOGTO_OOM(err);
    ok = fputs(head, f) >= 0;
    for (size_t i = 0; ok && i < m; i++) {
        _cleanup_json_ json_t *o = user_json(sorted[i]);
        _cleanup_free_ char *line = o ? logto_json_dump(o) : NULL;
        ok = line && fprintf(f, "%s\t%s\n", sorted[i]->id->name, line) > 0;
    }
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        free(text);
        text = NULL;
        return LOGTO_OOM(err);
    }
    r = write_file(ctx, text, len, err);
    return r < 0 ? r : 0;
}

/* The file at path (<state_dir>/relay.claims), checked (root, 0600, one link) and mapped
 * read-only: a lookup reads the pages it searches, not the whole file. Like the snapshot, the
 * file is only ever replaced by rename (logto_file_write_at). */
struct claims_map {
    char *base;
    size_t len;
};

static void claims_unmap(struct claims_map *m)
{
    if (m->base)
        munmap(m->base, m->len);
    m->base = NULL;
}

static int map_file(const struct logto_ctx *ctx, const char *path, struct claims_map *ret,
                    struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1, fd = -1;
    struct stat st;
    void *p;
    int r = logto_dir_open_trusted(state_dir_of(ctx), false, &dirfd, err);

    if (r == -LOGTO_E_NOTFOUND)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "%s does not exist", path);
    if (r >= 0)
        r = logto_file_open_at(dirfd, LOGTO_RELAY_CLAIMS, path, LOGTO_FILE_SECRET,
                               LOGTO_RELAY_CLAIMS_MAX, &fd, &st, err);
    if (r < 0)
        return r;
    if (st.st_size <= (off_t)strlen(HEADER))
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s is not a relay claims file", path);
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return logto_error_set(err, errno == ENOMEM ? LOGTO_E_NOMEM : LOGTO_E_IO,
                               "cannot map %s: %s", path, strerror(errno));
    *ret = (struct claims_map){ p, (size_t)st.st_size };
    return 0;
}

/* The stamp of the claims file buf (len bytes, any content); *ret_body: the first user line. */
static int parse_stamp(const char *buf, size_t len, const char *path, struct logto_relay_stamp *ret,
                       const char **ret_body, struct logto_error *err)
{
    const char *start = buf + strlen(HEADER), *end, *sha = NULL;
    _cleanup_json_ json_t *doc = NULL;
    struct logto_relay_stamp s = { 0 };
    size_t room = len > strlen(HEADER) ? len - strlen(HEADER) : 0;
    int r;

    if (room > STAMP_MAX)
        room = STAMP_MAX;
    if (!room || memcmp(buf, HEADER, strlen(HEADER)) != 0 || !(end = memchr(start, '\n', room)))
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s is not a relay claims file", path);
    r = logto_json_parse_object(start, (size_t)(end - start), STAMP_MAX, 1, "the stamp", &doc, err);

    if (r >= 0)
        r = logto_json_get_int(doc, "serial", LOGTO_JSON_REQUIRED, 1, INT64_MAX, &s.serial, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "generated_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX,
                               &s.generated_at, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "not_after", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &s.not_after,
                               err);
    if (r >= 0)
        r = logto_json_get_string(doc, "sha256", LOGTO_JSON_REQUIRED, &sha, err);
    if (r >= 0 && strlen(sha) != 64)
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "sha256 is not 64 hex digits");
    if (r < 0)
        return logto_state_doc_malformed(path, r, err);
    memcpy(s.sha256, sha, 65);
    *ret = s;
    if (ret_body)
        *ret_body = end + 1;
    return 0;
}

int logto_relay_claims_restamp(const struct logto_ctx *ctx, const struct logto_relay_stamp *stamp,
                               struct logto_error *err)
{
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_CLAIMS);
    _cleanup_(claims_unmap) struct claims_map map = { 0 };
    char *head = NULL, *text = NULL; /* freed by hand: gcc 12's analyzer loses cleanup
                                        variables here */
    struct logto_relay_stamp old;
    const char *body = NULL;
    size_t head_len, body_len;
    int r = -LOGTO_E_NOTFOUND; /* anything unreadable: rebuilt from the object by the caller */

    if (!path)
        return LOGTO_OOM(err);
    if (map_file(ctx, path, &map, NULL) >= 0 &&
        parse_stamp(map.base, map.len, path, &old, &body, NULL) >= 0 &&
        strcmp(old.sha256, stamp->sha256) == 0) {
        head = stamp_line(stamp);
        head_len = head ? strlen(head) : 0;
        body_len = map.len - (size_t)(body - map.base);
        text = head ? malloc(head_len + body_len) : NULL;
        if (text) {
            memcpy(text, head, head_len);
            memcpy(text + head_len, body, body_len);
        }
        r = text ? write_file(ctx, text, head_len + body_len, err) : LOGTO_OOM(err);
    }
    free(head);
    free(text);
    return r < 0 ? r : 0;
}

/* Compare name with the key (klen bytes) as strcmp would. */
static int cmp_key(const char *name, size_t nlen, const char *key, size_t klen)
{
    int c = memcmp(name, key, nlen < klen ? nlen : klen);
    return c ? c : nlen < klen ? -1 : nlen > klen ? 1 : 0;
}

/*
 * The line of name ("name\t{...}") among the user lines [body, end), sorted by name: a binary
 * search over byte offsets, each probe backing up to the start of its line. 0 and *ret, *ret_end
 * (the JSON after the tab, its newline or end), -LOGTO_E_NOTFOUND, or -LOGTO_E_CORRUPT for a
 * line without a key.
 */
static int find_line(const char *body, const char *end, const char *name, const char **ret,
                     const char **ret_end)
{
    size_t nlen = strlen(name);
    const char *lo = body, *hi = end;

    while (lo < hi) {
        const char *start = lo + (hi - lo) / 2, *stop, *tab;
        int c;
        while (start > lo && start[-1] != '\n')
            start--;
        stop = memchr(start, '\n', (size_t)(end - start));
        if (!stop)
            stop = end;
        tab = memchr(start, '\t', (size_t)(stop - start));
        if (!tab)
            return -LOGTO_E_CORRUPT;
        c = cmp_key(name, nlen, start, (size_t)(tab - start));
        if (c == 0) {
            *ret = tab + 1;
            *ret_end = stop;
            return 0;
        }
        if (c < 0)
            hi = start;
        else
            lo = stop < end ? stop + 1 : end;
    }
    return -LOGTO_E_NOTFOUND;
}

static int identity_from_line(const char *name, const char *line, size_t len, const char *path,
                              struct logto_identity **ret, struct logto_relay_login *ret_login,
                              struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_(logto_identity_freep) struct logto_identity *id = calloc(1, sizeof(*id));
    const char *sub = NULL, *username = NULL, *email = NULL;
    int64_t uid = 0;
    int r =
        logto_json_parse_object(line, len, USER_LINE_MAX, LINE_DEPTH, "a user's claims", &doc, err);

    if (!id)
        return LOGTO_OOM(err);
    if (r >= 0)
        r = logto_json_get_string(doc, "sub", LOGTO_JSON_REQUIRED | LOGTO_JSON_NONEMPTY, &sub, err);
    if (r >= 0)
        r = logto_json_get_string(doc, "username", 0, &username, err);
    if (r >= 0)
        r = logto_json_get_string(doc, "login_email", 0, &email, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "uid", LOGTO_JSON_REQUIRED, 1, UINT32_MAX - 1, &uid, err);
    if (r >= 0)
        r = logto_json_get_bool(doc, "suspended", LOGTO_JSON_REQUIRED, &id->suspended, err);
    if (r >= 0)
        r = logto_json_get_strv(doc, "roles", LOGTO_JSON_REQUIRED, &id->roles, err);
    if (r >= 0)
        r = logto_json_get_strv(doc, "orgs", LOGTO_JSON_REQUIRED, &id->orgs, err);
    if (r >= 0)
        r = logto_json_get_strv(doc, "org_roles", LOGTO_JSON_REQUIRED, &id->org_roles, err);
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        if (err)
            err->code = LOGTO_E_CORRUPT;
        logto_error_prefix(err, "%s: the entry of %s", path, name);
        return -LOGTO_E_CORRUPT;
    }
    id->uid = id->gid = (uint32_t)uid;
    id->name = strdup(name);
    id->sub = strdup(sub);
    if (!id->name || !id->sub)
        return LOGTO_OOM(err);
    if (ret_login && ((username && username[0]) || (email && email[0]))) {
        ret_login->type = username && username[0] ? "username" : "email";
        ret_login->value = strdup(username && username[0] ? username : email);
        if (!ret_login->value)
            return LOGTO_OOM(err);
    }
    *ret = TAKE_PTR(id);
    return 0;
}

int logto_relay_claims_find(const struct logto_ctx *ctx, const char *name,
                            struct logto_identity **ret, struct logto_relay_stamp *ret_stamp,
                            struct logto_relay_login *ret_login, struct logto_error *err)
{
    _cleanup_(claims_unmap) struct claims_map map = { 0 };
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_CLAIMS);
    struct logto_relay_stamp s;
    const char *body = NULL, *line = NULL, *end = NULL;
    int64_t now = logto_now(ctx);
    int r;

    if (!path)
        return LOGTO_OOM(err);
    if (!logto_name_valid(name))
        return logto_error_set(err, LOGTO_E_NOTFOUND, "not a valid user name");
    r = map_file(ctx, path, &map, err);
    if (r >= 0)
        r = parse_stamp(map.base, map.len, path, &s, &body, err);
    if (r < 0)
        return r;
    *ret_stamp = s;
    if (s.generated_at > now + LOGTO_RELAY_CLAIMS_SKEW)
        return logto_error_set(err, LOGTO_E_EXPIRED,
                               "the relay directory on this host is dated %" PRId64
                               "s in the future (serial %" PRId64 "): was the clock set back?",
                               s.generated_at - now, s.serial);
    if (now > s.not_after)
        return logto_error_set(err, LOGTO_E_EXPIRED,
                               "the relay directory on this host expired %" PRId64
                               "s ago (serial %" PRId64 ", generated %" PRId64
                               "s ago): the publisher has not published since, or this host has "
                               "not synced (logtoctl status)",
                               now - s.not_after, s.serial, now - s.generated_at);
    r = find_line(body, map.base + map.len, name, &line, &end);
    if (r == -LOGTO_E_NOTFOUND)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "%s is not in the relay directory", name);
    if (r < 0)
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: a line without a name", path);
    return identity_from_line(name, line, (size_t)(end - line), path, ret, ret_login, err);
}
