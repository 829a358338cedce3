/* SPDX-License-Identifier: MIT */
/* Name ownership, the blocked file and the holder of a name (owners.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "log.h"
#include "memory.h"
#include "owners.h"
#include "snapshot.h"
#include "statefile.h"
#include "util.h"

/* ------------------------------------------------------------------------------------------ */
/* The rule */

ssize_t logto_owner_pick(const struct logto_identity *const *claimants, size_t n)
{
    ssize_t exact = -1;

    if (n == 1)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (claimants[i]->name_rank != LOGTO_NAME_EXACT)
            continue;
        if (exact >= 0)
            return -1; /* two identical claims (only a generic provider can send them) */
        exact = (ssize_t)i;
    }
    return exact;
}

char *logto_owner_claim_text(const struct logto_identity *id)
{
    if (id->name_rank == LOGTO_NAME_EMAIL || !id->name_claim)
        return strdup(id->name_from ? id->name_from : "?");
    return logto_asprintf("%s '%s'", id->name_from ? id->name_from : "?", id->name_claim);
}

/* ------------------------------------------------------------------------------------------ */
/* The blocked list in memory */

struct logto_blocked *logto_blocked_new(void)
{
    return calloc(1, sizeof(struct logto_blocked));
}

static void entry_clear(struct logto_blocked_entry *e)
{
    free(e->name);
    free(e->reason);
    for (size_t i = 0; i < e->n_claimants; i++) {
        free(e->claimants[i].sub);
        free(e->claimants[i].name);
        free(e->claimants[i].claim);
    }
    free(e->claimants);
}

void logto_blocked_free(struct logto_blocked *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_names; i++)
        entry_clear(&b->names[i]);
    for (size_t i = 0; i < b->n_uids; i++)
        entry_clear(&b->uids[i]);
    free(b->names);
    free(b->uids);
    free(b);
}

/* A new zeroed entry at the end of the list uid selects. */
static struct logto_blocked_entry *entry_new(struct logto_blocked *b, bool uid)
{
    struct logto_blocked_entry **v = uid ? &b->uids : &b->names;
    size_t *n = uid ? &b->n_uids : &b->n_names;
    struct logto_blocked_entry *nv = realloc(*v, (*n + 1) * sizeof(**v));

    if (!nv)
        return NULL;
    *v = nv;
    nv[*n] = (struct logto_blocked_entry){ 0 };
    return &nv[(*n)++];
}

int logto_blocked_add(struct logto_blocked *b, const char *name, uint32_t uid, const char *reason,
                      const struct logto_identity *const *claimants, size_t n)
{
    struct logto_blocked_entry *e = entry_new(b, uid != 0);

    if (!e)
        return -LOGTO_E_NOMEM;
    e->uid = uid;
    e->name = strdup(name);
    e->reason = strdup(reason);
    e->claimants = calloc(n + 1, sizeof(*e->claimants));
    if (!e->name || !e->reason || !e->claimants)
        return -LOGTO_E_NOMEM;
    for (size_t i = 0; i < n; i++, e->n_claimants++) {
        struct logto_claimant *c = &e->claimants[i];
        c->sub = strdup(claimants[i]->sub);
        c->name = strdup(claimants[i]->name);
        c->claim = logto_owner_claim_text(claimants[i]);
        if (!c->sub || !c->name || !c->claim) {
            e->n_claimants++;
            return -LOGTO_E_NOMEM;
        }
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    const struct logto_blocked_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static int by_uid(const void *a, const void *b)
{
    const struct logto_blocked_entry *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

const struct logto_blocked_entry *logto_blocked_find_name(const struct logto_blocked *b,
                                                          const char *name)
{
    for (size_t i = 0; b && name && i < b->n_names; i++)
        if (strcmp(b->names[i].name, name) == 0)
            return &b->names[i];
    return NULL;
}

const struct logto_blocked_entry *logto_blocked_find_uid(const struct logto_blocked *b,
                                                         uint32_t uid)
{
    for (size_t i = 0; b && i < b->n_uids; i++)
        if (b->uids[i].uid == uid)
            return &b->uids[i];
    return NULL;
}

char *logto_blocked_claimants_text(const struct logto_blocked_entry *e)
{
    char *out = strdup("");

    for (size_t i = 0; out && i < e->n_claimants; i++) {
        const struct logto_claimant *c = &e->claimants[i];
        char *next =
            logto_asprintf("%s%s%s (sub %s, %s)", out, i ? ", " : "", c->name, c->sub, c->claim);
        free(out);
        out = next;
    }
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* The file */

static json_t *entries_json(const struct logto_blocked_entry *v, size_t n, bool uid)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        json_t *cl = json_array(), *e;
        for (size_t k = 0; cl && k < v[i].n_claimants; k++)
            if (json_array_append_new(cl, json_pack("{s:s, s:s, s:s}", "sub", v[i].claimants[k].sub,
                                                    "name", v[i].claimants[k].name, "claim",
                                                    v[i].claimants[k].claim)) < 0) {
                json_decref(cl);
                cl = NULL;
            }
        e = cl ? json_pack("{s:s, s:s, s:o}", "name", v[i].name, "reason", v[i].reason, "claimants",
                           cl)
               : NULL;
        if (e && uid && json_object_set_new(e, "uid", json_integer(v[i].uid)) < 0) {
            json_decref(e);
            e = NULL;
        }
        if (!e || json_array_append_new(a, e) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *logto_blocked_to_json(struct logto_blocked *b)
{
    if (b->n_names > 1)
        qsort(b->names, b->n_names, sizeof(*b->names), by_name);
    if (b->n_uids > 1)
        qsort(b->uids, b->n_uids, sizeof(*b->uids), by_uid);
    return json_pack("{s:o, s:o}", "names", entries_json(b->names, b->n_names, false), "uids",
                     entries_json(b->uids, b->n_uids, true));
}

int logto_blocked_write(const struct logto_ctx *ctx, struct logto_blocked *b,
                        struct logto_error *err)
{
    _cleanup_json_ json_t *doc = logto_blocked_to_json(b);

    if (!doc || json_object_set_new(doc, "version", json_integer(LOGTO_BLOCKED_VERSION)) < 0 ||
        json_object_set_new(doc, "written_at", json_integer(logto_now(ctx))) < 0)
        return LOGTO_OOM(err);
    return logto_state_doc_write(ctx, LOGTO_BLOCKED_FILE, doc, err);
}

static int dup_string(const json_t *o, const char *key, const char *path, char **ret,
                      struct logto_error *err)
{
    const char *s = NULL;
    int r = logto_json_get_string(o, key, LOGTO_JSON_REQUIRED, &s, err);

    if (r < 0)
        return r;
    if (strlen(s) > 1024)
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: %s is too long", path, key);
    *ret = strdup(s);
    return *ret ? 0 : LOGTO_OOM(err);
}

static int parse_entries(const json_t *doc, const char *key, const char *path,
                         struct logto_blocked *b, struct logto_error *err)
{
    bool uid = strcmp(key, "uids") == 0;
    json_t *list = NULL, *item;
    size_t i;
    int r = logto_json_get_array(doc, key, LOGTO_JSON_REQUIRED, &list, err);

    json_array_foreach(list, i, item)
    {
        struct logto_blocked_entry *e = entry_new(b, uid);
        json_t *cl = NULL, *c;
        size_t k;
        int64_t u = 0;

        if (r < 0)
            break;
        if (!e)
            return LOGTO_OOM(err);
        if (!json_is_object(item))
            return logto_error_set(err, LOGTO_E_CORRUPT, "%s: an entry of %s is not an object",
                                   path, key);
        if ((r = dup_string(item, "name", path, &e->name, err)) < 0 ||
            (r = dup_string(item, "reason", path, &e->reason, err)) < 0 ||
            (r = logto_json_get_array(item, "claimants", LOGTO_JSON_REQUIRED, &cl, err)) < 0)
            break;
        if (uid &&
            (r = logto_json_get_int(item, "uid", LOGTO_JSON_REQUIRED, 1, UINT32_MAX, &u, err)) < 0)
            break;
        e->uid = (uint32_t)u;
        e->claimants = calloc(json_array_size(cl) + 1, sizeof(*e->claimants));
        if (!e->claimants)
            return LOGTO_OOM(err);
        json_array_foreach(cl, k, c)
        {
            struct logto_claimant *x = &e->claimants[e->n_claimants++];
            if (!json_is_object(c))
                return logto_error_set(err, LOGTO_E_CORRUPT, "%s: a claimant is not an object",
                                       path);
            if ((r = dup_string(c, "sub", path, &x->sub, err)) < 0 ||
                (r = dup_string(c, "name", path, &x->name, err)) < 0 ||
                (r = dup_string(c, "claim", path, &x->claim, err)) < 0)
                break;
        }
    }
    return r;
}

int logto_blocked_from_json(const json_t *doc, const char *what, struct logto_blocked **ret,
                            struct logto_error *err)
{
    _cleanup_(logto_blocked_freep) struct logto_blocked *b = logto_blocked_new();
    int r;

    if (!b)
        return LOGTO_OOM(err);
    r = parse_entries(doc, "names", what, b, err);
    if (r >= 0)
        r = parse_entries(doc, "uids", what, b, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(b);
    return 0;
}

int logto_blocked_read(const struct logto_ctx *ctx, struct logto_blocked **ret,
                       struct logto_error *err)
{
    _cleanup_(logto_blocked_freep) struct logto_blocked *b = logto_blocked_new();
    _cleanup_json_ json_t *doc = NULL;
    int r;

    if (!b)
        return LOGTO_OOM(err);
    _cleanup_free_ char *path = NULL;
    r = logto_state_doc_read(ctx, LOGTO_BLOCKED_FILE, LOGTO_BLOCKED_MAX, 6, LOGTO_BLOCKED_VERSION,
                             &doc, &path, err);
    if (r == -LOGTO_E_NOTFOUND) {
        *ret = TAKE_PTR(b);
        return 0;
    }
    if (r < 0)
        return r;
    r = logto_json_get_int(doc, "written_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &b->written_at,
                           err);
    if (r >= 0)
        r = parse_entries(doc, "names", path, b, err);
    if (r >= 0)
        r = parse_entries(doc, "uids", path, b, err);
    if (r < 0)
        return logto_state_doc_malformed(path, r, err);
    *ret = TAKE_PTR(b);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The holder on this host */

int logto_owner_holder(const struct logto_ctx *ctx, const char *name, struct logto_holder *ret,
                       struct logto_error *err)
{
    _cleanup_(logto_blocked_freep) struct logto_blocked *b = NULL;
    _cleanup_free_ char *path = NULL;
    struct logto_snap_user u;
    int r;

    *ret = (struct logto_holder){ .kind = LOGTO_HOLDER_NONE };
    r = logto_blocked_read(ctx, &b, err);
    if (r < 0)
        return r;
    if (logto_blocked_find_name(b, name)) {
        ret->kind = LOGTO_HOLDER_BLOCKED;
        return 0;
    }
    path = logto_state_path(ctx, LOGTO_SNAPSHOT_NAME);
    if (!path)
        return LOGTO_OOM(err);
    r = -LOGTO_E_BUSY;
    for (int attempt = 0; attempt < 3 && r == -LOGTO_E_BUSY; attempt++) {
        _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
        r = logto_snapshot_open(path, &snap, err);
        const char *sub = NULL;
        if (r == 0)
            r = logto_snapshot_user_by_name(snap, name, &u);
        if (r == 0)
            r = logto_snapshot_user_sub(snap, &u, &sub);
        if (r == 0) {
            ret->kind = LOGTO_HOLDER_SUBJECT;
            ret->uid = u.uid;
            snprintf(ret->sub, sizeof(ret->sub), "%s", sub);
        }
    }
    if (r == -LOGTO_E_NOTFOUND)
        return 0;
    return r;
}

int logto_owner_name_of_uid(const struct logto_ctx *ctx, uint32_t uid, char *name, size_t n,
                            struct logto_error *err)
{
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_SNAPSHOT_NAME);
    struct logto_snap_user u;
    int r = -LOGTO_E_BUSY;

    if (!path)
        return LOGTO_OOM(err);
    for (int attempt = 0; attempt < 3 && r == -LOGTO_E_BUSY; attempt++) {
        _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
        r = logto_snapshot_open(path, &snap, err);
        if (r == 0)
            r = logto_snapshot_user_by_uid(snap, uid, &u);
        if (r == 0 && u.name_len >= n)
            r = -LOGTO_E_CORRUPT;
        if (r == 0)
            snprintf(name, n, "%.*s", (int)u.name_len, u.name);
    }
    if (r == -LOGTO_E_NOTFOUND)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "uid %" PRIu32 " is not in the snapshot",
                               uid);
    if (r == -LOGTO_E_CORRUPT && (!err || !err->message[0]))
        return logto_error_set(err, LOGTO_E_CORRUPT,
                               "the snapshot entry of uid %" PRIu32 " is damaged", uid);
    return r;
}
