/* SPDX-License-Identifier: MIT */
/*
 * The directory model (users and groups served by NSS), its invariants, and the snapshot
 * writer and full reader. The format itself is described in snapshot.h.
 *
 * Why the private-group rule (see logto_directory_validate): the user's primary GID must name
 * a group we serve, otherwise `id` and `ls -l` show bare numbers and, worse, the GID could
 * later be taken by a local group that the user would then silently be a member of. Tying the
 * private group to the user's sub (not the name) keeps it across renames.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "directory.h"
#include "localset.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "memory.h"
#include "names.h"
#include "snapshot.h"
#include "util.h"

#define LOCK_NAME       "directory.lock"
#define LOCK_TIMEOUT_MS 10000
#define SUB_MAX         255
#define FIELD_MAX       1024

const char *logto_group_kind_name(uint32_t kind)
{
    switch (kind) {
    case LOGTO_GROUP_PRIVATE:
        return "private";
    case LOGTO_GROUP_ROLE:
        return "role";
    case LOGTO_GROUP_ORG:
        return "org";
    case LOGTO_GROUP_ORG_ROLE:
        return "org-role";
    case LOGTO_GROUP_CLAIM:
        return "claim";
    }
    return "?";
}
/* ---------------------------------------------------------------- allocation */

/* For templates handed to the add functions, which deep-copy and never write through them. */
static char *unconst(const char *s)
{
    return (char *)(uintptr_t)s;
}

struct logto_directory *logto_directory_new(void)
{
    return calloc(1, sizeof(struct logto_directory));
}

static void user_clear(struct logto_dir_user *u)
{
    free(u->name);
    free(u->gecos);
    free(u->home);
    free(u->shell);
    free(u->sub);
    memset(u, 0, sizeof(*u));
}

static void group_clear(struct logto_dir_group *g)
{
    free(g->name);
    free(g->source);
    logto_strv_free(g->members);
    memset(g, 0, sizeof(*g));
}

void logto_directory_free(struct logto_directory *dir)
{
    if (!dir)
        return;
    for (size_t i = 0; i < dir->n_users; i++)
        user_clear(&dir->users[i]);
    for (size_t i = 0; i < dir->n_groups; i++)
        group_clear(&dir->groups[i]);
    free(dir->users);
    free(dir->groups);
    free(dir);
}

/* Make room for one more element of array (n used, *allocated allocated): the array to store
 * back, or NULL when out of memory (array is then unchanged). Doubles, so n adds cost O(n). */
static void *grow(void *array, size_t n, size_t *allocated, size_t elem)
{
    size_t cap = *allocated >= n ? *allocated : n;
    void *p;

    if (n < cap)
        return array;
    cap = cap < 8 ? 8 : cap * 2;
    if (cap > SIZE_MAX / elem)
        return NULL;
    p = realloc(array, cap * elem);
    if (!p)
        return NULL;
    *allocated = cap;
    return p;
}

static int user_copy(struct logto_dir_user *dst, const struct logto_dir_user *src)
{
    *dst = *src;
    dst->name = logto_strdup_or_null(src->name);
    dst->gecos = logto_strdup_or_null(src->gecos);
    dst->home = logto_strdup_or_null(src->home);
    dst->shell = logto_strdup_or_null(src->shell);
    dst->sub = logto_strdup_or_null(src->sub);
    if ((src->name && !dst->name) || (src->gecos && !dst->gecos) || (src->home && !dst->home) ||
        (src->shell && !dst->shell) || (src->sub && !dst->sub)) {
        user_clear(dst);
        return -1;
    }
    return 0;
}

static int group_copy(struct logto_dir_group *dst, const struct logto_dir_group *src)
{
    *dst = *src;
    dst->name = logto_strdup_or_null(src->name);
    dst->source = logto_strdup_or_null(src->source);
    dst->members = logto_strv_copy(src->members);
    if ((src->name && !dst->name) || (src->source && !dst->source) || !dst->members) {
        group_clear(dst);
        return -1;
    }
    return 0;
}

int logto_directory_add_user(struct logto_directory *dir, const struct logto_dir_user *user)
{
    struct logto_dir_user *v = grow(dir->users, dir->n_users, &dir->users_allocated, sizeof(*v));

    if (!v)
        return -LOGTO_E_NOMEM;
    dir->users = v;
    if (user_copy(&v[dir->n_users], user) < 0)
        return -LOGTO_E_NOMEM;
    dir->n_users++;
    dir->local_files = 0; /* not checked against the local files */
    return 0;
}

int logto_directory_add_group(struct logto_directory *dir, const struct logto_dir_group *group)
{
    struct logto_dir_group *v =
        grow(dir->groups, dir->n_groups, &dir->groups_allocated, sizeof(*v));

    if (!v)
        return -LOGTO_E_NOMEM;
    dir->groups = v;
    if (group_copy(&v[dir->n_groups], group) < 0)
        return -LOGTO_E_NOMEM;
    dir->n_groups++;
    dir->local_files = 0;
    return 0;
}

static void remove_user_at(struct logto_directory *dir, size_t i)
{
    user_clear(&dir->users[i]);
    memmove(&dir->users[i], &dir->users[i + 1], (dir->n_users - i - 1) * sizeof(*dir->users));
    dir->n_users--;
}

static void remove_group_at(struct logto_directory *dir, size_t i)
{
    group_clear(&dir->groups[i]);
    memmove(&dir->groups[i], &dir->groups[i + 1], (dir->n_groups - i - 1) * sizeof(*dir->groups));
    dir->n_groups--;
}

static struct logto_directory *directory_copy(const struct logto_directory *dir)
{
    _cleanup_(logto_directory_freep) struct logto_directory *c = logto_directory_new();

    if (!c)
        return NULL;
    c->generated_at = dir->generated_at;
    for (size_t i = 0; i < dir->n_users; i++)
        if (logto_directory_add_user(c, &dir->users[i]) < 0)
            return NULL;
    for (size_t i = 0; i < dir->n_groups; i++)
        if (logto_directory_add_group(c, &dir->groups[i]) < 0)
            return NULL;
    return TAKE_PTR(c);
}

/* Move src's contents into dir and free src's shell. */
static void directory_replace(struct logto_directory *dir, struct logto_directory *src)
{
    struct logto_directory old = *dir;

    *dir = *src;
    *src = old;
    logto_directory_free(src);
}

/* ---------------------------------------------------------------- lookups in the model */

const struct logto_dir_user *logto_directory_find_user(const struct logto_directory *dir,
                                                       const char *sub)
{
    for (size_t i = 0; sub && i < dir->n_users; i++)
        if (logto_streq(dir->users[i].sub, sub))
            return &dir->users[i];
    return NULL;
}

static ssize_t find_user_index(const struct logto_directory *dir, const char *sub)
{
    const struct logto_dir_user *u = logto_directory_find_user(dir, sub);
    return u ? u - dir->users : -1;
}

static ssize_t find_group_by_name(const struct logto_directory *dir, const char *name)
{
    for (size_t i = 0; i < dir->n_groups; i++)
        if (logto_streq(dir->groups[i].name, name))
            return (ssize_t)i;
    return -1;
}

static ssize_t find_group_by_gid(const struct logto_directory *dir, uint32_t gid)
{
    for (size_t i = 0; i < dir->n_groups; i++)
        if (dir->groups[i].gid == gid)
            return (ssize_t)i;
    return -1;
}

static ssize_t find_private_group(const struct logto_directory *dir, const char *sub)
{
    for (size_t i = 0; i < dir->n_groups; i++)
        if (dir->groups[i].kind == LOGTO_GROUP_PRIVATE && logto_streq(dir->groups[i].source, sub))
            return (ssize_t)i;
    return -1;
}

/* ---------------------------------------------------------------- field rules */

/* Text that becomes a passwd field: no separator, no newline or other control character. */
static bool field_ok(const char *s, bool absolute)
{
    size_t len;

    if (!s)
        return !absolute;
    len = strlen(s);
    if (len > FIELD_MAX || (absolute && s[0] != '/'))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':')
            return false;
    return true;
}

/* IdP keys (sub, role names, organization IDs, "orgId:role"): printable, ':' allowed. */
static bool key_ok(const char *s)
{
    if (!s || !*s || strlen(s) > SUB_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static int check_user(const struct logto_dir_user *u, struct logto_error *err)
{
    const char *who = u->name && logto_name_valid(u->name) ? u->name : "(invalid name)";

    if (!logto_name_valid(u->name))
        return logto_error_set(err, LOGTO_E_IDENTITY, "user with sub %s: invalid user name",
                               key_ok(u->sub) ? u->sub : "(invalid)");
    if (!key_ok(u->sub))
        return logto_error_set(err, LOGTO_E_IDENTITY, "user %s: missing or invalid sub", who);
    if (logto_id_reserved(u->uid))
        return logto_error_set(err, LOGTO_E_IDENTITY, "user %s: UID %u is reserved", who, u->uid);
    if (logto_id_reserved(u->gid))
        return logto_error_set(err, LOGTO_E_IDENTITY, "user %s: GID %u is reserved", who, u->gid);
    if (!field_ok(u->gecos, false))
        return logto_error_set(err, LOGTO_E_IDENTITY, "user %s: invalid gecos", who);
    if (!field_ok(u->home, true))
        return logto_error_set(err, LOGTO_E_IDENTITY, "user %s: invalid home directory", who);
    if (!field_ok(u->shell, true))
        return logto_error_set(err, LOGTO_E_IDENTITY, "user %s: invalid shell", who);
    return 0;
}

static int check_group(const struct logto_dir_group *g, struct logto_error *err)
{
    if (!logto_name_valid(g->name))
        return logto_error_set(err, LOGTO_E_IDENTITY, "group with GID %u: invalid name", g->gid);
    if (logto_id_reserved(g->gid))
        return logto_error_set(err, LOGTO_E_IDENTITY, "group %s: GID %u is reserved", g->name,
                               g->gid);
    if (g->kind > LOGTO_GROUP_CLAIM)
        return logto_error_set(err, LOGTO_E_IDENTITY, "group %s: unknown kind %u", g->name,
                               g->kind);
    if (!key_ok(g->source))
        return logto_error_set(err, LOGTO_E_IDENTITY, "group %s: missing or invalid source",
                               g->name);
    return 0;
}

/* ---------------------------------------------------------------- validation */

struct keyed {
    const char *s;
    uint32_t id;
    size_t index;
};

/* NULL sorts as "": drop_local may run on a directory that was never validated. */
static int cmp_keyed_str(const void *a, const void *b)
{
    const char *x = ((const struct keyed *)a)->s, *y = ((const struct keyed *)b)->s;
    return strcmp(x ? x : "", y ? y : "");
}

static int cmp_keyed_id(const void *a, const void *b)
{
    uint32_t x = ((const struct keyed *)a)->id, y = ((const struct keyed *)b)->id;
    return x < y ? -1 : x > y;
}

/* Sorted views of one key of every user or group, to find duplicates and look keys up. */
static struct keyed *sorted_keys(size_t n, const void *base, size_t stride, size_t str_off,
                                 size_t id_off, bool by_string)
{
    struct keyed *k = calloc(n ? n : 1, sizeof(*k));

    if (!k)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *rec = (const char *)base + i * stride;
        if (by_string)
            memcpy(&k[i].s, rec + str_off, sizeof(k[i].s));
        else
            memcpy(&k[i].id, rec + id_off, sizeof(k[i].id));
        k[i].index = i;
    }
    qsort(k, n, sizeof(*k), by_string ? cmp_keyed_str : cmp_keyed_id);
    return k;
}

static const struct keyed *keyed_find_str(const struct keyed *k, size_t n, const char *s)
{
    struct keyed key = { .s = s };
    return bsearch(&key, k, n, sizeof(*k), cmp_keyed_str);
}

static const char *dup_str(const struct keyed *k, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (cmp_keyed_str(&k[i - 1], &k[i]) == 0)
            return k[i].s ? k[i].s : "";
    return NULL;
}

static bool dup_id(const struct keyed *k, size_t n, uint32_t *ret)
{
    for (size_t i = 1; i < n; i++)
        if (k[i - 1].id == k[i].id) {
            *ret = k[i].id;
            return true;
        }
    return false;
}

#define USER_KEYS(dir, field, by_string)                                                           \
    sorted_keys((dir)->n_users, (dir)->users, sizeof(struct logto_dir_user),                       \
                offsetof(struct logto_dir_user, field), offsetof(struct logto_dir_user, field),    \
                by_string)
#define GROUP_KEYS(dir, field, by_string)                                                          \
    sorted_keys((dir)->n_groups, (dir)->groups, sizeof(struct logto_dir_group),                    \
                offsetof(struct logto_dir_group, field), offsetof(struct logto_dir_group, field),  \
                by_string)

static int check_unique(const struct logto_directory *dir, struct keyed *names, struct keyed *subs,
                        struct logto_error *err)
{
    _cleanup_free_ struct keyed *uids = USER_KEYS(dir, uid, false);
    _cleanup_free_ struct keyed *gnames = GROUP_KEYS(dir, name, true);
    _cleanup_free_ struct keyed *gids = GROUP_KEYS(dir, gid, false);
    const char *s;
    uint32_t id;

    if (!uids || !gnames || !gids)
        return LOGTO_OOM(err);
    if ((s = dup_str(names, dir->n_users)))
        return logto_error_set(err, LOGTO_E_COLLISION, "two users are named %s", s);
    if ((s = dup_str(subs, dir->n_users)))
        return logto_error_set(err, LOGTO_E_COLLISION, "two users have sub %s", s);
    if (dup_id(uids, dir->n_users, &id))
        return logto_error_set(err, LOGTO_E_COLLISION, "two users have UID %u", id);
    if ((s = dup_str(gnames, dir->n_groups)))
        return logto_error_set(err, LOGTO_E_COLLISION, "two groups are named %s", s);
    if (dup_id(gids, dir->n_groups, &id))
        return logto_error_set(err, LOGTO_E_COLLISION, "two groups have GID %u", id);
    return 0;
}

static int check_members(const struct logto_dir_group *g, const struct keyed *names, size_t n,
                         struct logto_error *err)
{
    for (size_t j = 0; g->members && g->members[j]; j++) {
        if (j > 0 && strcmp(g->members[j - 1], g->members[j]) >= 0)
            return logto_error_set(err, LOGTO_E_INVAL,
                                   "group %s: members are not sorted and unique", g->name);
        if (!keyed_find_str(names, n, g->members[j]))
            return logto_error_set(err, LOGTO_E_INVAL, "group %s: member %s is not a user", g->name,
                                   logto_name_valid(g->members[j]) ? g->members[j] : "?");
    }
    return 0;
}

static int check_private_groups(const struct logto_directory *dir, const struct keyed *subs,
                                struct logto_error *err)
{
    _cleanup_free_ size_t *owned = calloc(dir->n_users ? dir->n_users : 1, sizeof(size_t));

    if (!owned)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        const struct keyed *k;
        const struct logto_dir_user *u;

        if (g->kind != LOGTO_GROUP_PRIVATE)
            continue;
        k = keyed_find_str(subs, dir->n_users, g->source);
        if (!k)
            return logto_error_set(err, LOGTO_E_INVAL,
                                   "private group %s belongs to no user (sub %s)", g->name,
                                   g->source);
        u = &dir->users[k->index];
        if (strcmp(u->name, g->name) != 0 || u->gid != g->gid)
            return logto_error_set(err, LOGTO_E_INVAL,
                                   "private group %s (GID %u) does not match user %s (GID %u)",
                                   g->name, g->gid, u->name, u->gid);
        if (g->members && g->members[0])
            return logto_error_set(err, LOGTO_E_INVAL, "private group %s has members", g->name);
        owned[k->index]++;
    }
    for (size_t i = 0; i < dir->n_users; i++)
        if (owned[i] != 1)
            return logto_error_set(err, LOGTO_E_INVAL, "user %s has %zu private groups, not 1",
                                   dir->users[i].name, owned[i]);
    return 0;
}

int logto_directory_validate(const struct logto_directory *dir, struct logto_error *err)
{
    _cleanup_free_ struct keyed *names = NULL, *subs = NULL;
    int r;

    for (size_t i = 0; i < dir->n_users; i++)
        if ((r = check_user(&dir->users[i], err)) < 0)
            return r;
    for (size_t i = 0; i < dir->n_groups; i++)
        if ((r = check_group(&dir->groups[i], err)) < 0)
            return r;
    names = USER_KEYS(dir, name, true);
    subs = USER_KEYS(dir, sub, true);
    if (!names || !subs)
        return LOGTO_OOM(err);
    if ((r = check_unique(dir, names, subs, err)) < 0)
        return r;
    for (size_t i = 0; i < dir->n_groups; i++)
        if ((r = check_members(&dir->groups[i], names, dir->n_users, err)) < 0)
            return r;
    return check_private_groups(dir, subs, err);
}

/* ---------------------------------------------------------------- sign-in updates */

static int members_add(struct logto_dir_group *g, const char *name)
{
    if (logto_strv_contains(g->members, name))
        return 0;
    if (logto_strv_push(&g->members, name) < 0)
        return -1;
    logto_strv_sort(g->members);
    return 0;
}

/* Remove name from the members; true if it was there. */
static bool members_remove(struct logto_dir_group *g, const char *name)
{
    size_t w = 0;
    bool found = false;

    for (size_t r = 0; g->members && g->members[r]; r++) {
        if (strcmp(g->members[r], name) == 0) {
            free(g->members[r]);
            found = true;
            continue;
        }
        g->members[w++] = g->members[r];
    }
    if (g->members)
        g->members[w] = NULL;
    return found;
}

static bool members_empty(const struct logto_dir_group *g)
{
    return !g->members || !g->members[0];
}

/* Take name out of every group; mark (in emptied) the non-private groups that became empty. */
static void drop_memberships(struct logto_directory *dir, const char *name, bool *emptied)
{
    for (size_t i = 0; i < dir->n_groups; i++) {
        struct logto_dir_group *g = &dir->groups[i];
        if (members_remove(g, name) && members_empty(g) && g->kind != LOGTO_GROUP_PRIVATE)
            emptied[i] = true;
    }
}

/* Drop the marked groups that are still empty (a later step may have refilled them). Groups
 * added after the marks were taken sit past n_marked and are left alone. */
static void drop_emptied(struct logto_directory *dir, const bool *emptied, size_t n_marked)
{
    for (size_t i = n_marked < dir->n_groups ? n_marked : dir->n_groups; i-- > 0;)
        if (emptied[i] && members_empty(&dir->groups[i]))
            remove_group_at(dir, i);
}

static int check_user_collisions(const struct logto_directory *dir, const struct logto_dir_user *u,
                                 struct logto_error *err)
{
    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *o = &dir->users[i];
        if (logto_streq(o->sub, u->sub))
            continue;
        if (logto_streq(o->name, u->name))
            return logto_error_set(err, LOGTO_E_COLLISION, "user name %s already belongs to sub %s",
                                   u->name, o->sub);
        if (o->uid == u->uid)
            return logto_error_set(err, LOGTO_E_COLLISION, "UID %u of %s already belongs to %s",
                                   u->uid, u->name, o->name);
    }
    return 0;
}

/* Create or update the user's private group; it must not take another group's name or GID. */
static int ensure_private_group(struct logto_directory *dir, const struct logto_dir_user *u,
                                struct logto_error *err)
{
    ssize_t p = find_private_group(dir, u->sub);
    ssize_t by_name = find_group_by_name(dir, u->name), by_gid = find_group_by_gid(dir, u->gid);

    if (by_name >= 0 && by_name != p)
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "private group %s: a group of that name already exists", u->name);
    if (by_gid >= 0 && by_gid != p)
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "private group of %s: GID %u already belongs to group %s", u->name,
                               u->gid, dir->groups[by_gid].name);
    if (p >= 0) {
        struct logto_dir_group *g = &dir->groups[p];
        char *name = strdup(u->name);
        if (!name)
            return LOGTO_OOM(err);
        free(g->name);
        g->name = name;
        g->gid = u->gid;
        return 0;
    }
    char *no_members[] = { NULL };
    struct logto_dir_group g = {
        .name = u->name,
        .gid = u->gid,
        .kind = LOGTO_GROUP_PRIVATE,
        .source = u->sub,
        .members = no_members,
    };
    return logto_directory_add_group(dir, &g) < 0 ? LOGTO_OOM(err) : 0;
}

static int join_group(struct logto_directory *dir, const struct logto_dir_group *spec,
                      const char *user, struct logto_error *err)
{
    ssize_t i = find_group_by_name(dir, spec->name);
    int r;

    if (i >= 0) {
        struct logto_dir_group *g = &dir->groups[i];
        if (g->gid != spec->gid || g->kind != spec->kind)
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "group %s exists with GID %u (kind %u), not GID %u (kind %u)",
                                   spec->name, g->gid, g->kind, spec->gid, spec->kind);
        return members_add(g, user) < 0 ? LOGTO_OOM(err) : 0;
    }
    i = find_group_by_gid(dir, spec->gid);
    if (i >= 0) {
        struct logto_dir_group *g = &dir->groups[i];
        /* The same organization (role) group under the name an earlier configuration gave it
         * ([organization ID] group set, changed or removed since): renamed for every member,
         * so a sign-in before the next sync is not refused. */
        if (g->kind == spec->kind && g->kind != LOGTO_GROUP_PRIVATE &&
            logto_streq(g->source, spec->source)) {
            char *name = strdup(spec->name);
            if (!name)
                return LOGTO_OOM(err);
            free(g->name);
            g->name = name;
            return members_add(g, user) < 0 ? LOGTO_OOM(err) : 0;
        }
        return logto_error_set(err, LOGTO_E_COLLISION, "group %s: GID %u already belongs to %s",
                               spec->name, spec->gid, g->name);
    }
    char *members[] = { unconst(user), NULL };
    struct logto_dir_group g = *spec;
    g.members = members;
    r = logto_directory_add_group(dir, &g);
    return r < 0 ? LOGTO_OOM(err) : 0;
}

static int upsert_in(struct logto_directory *w, const struct logto_dir_user *user,
                     const struct logto_dir_group *groups, size_t n_groups, struct logto_error *err)
{
    _cleanup_free_ bool *emptied = NULL;
    _cleanup_free_ char *old_name = NULL;
    ssize_t ui = find_user_index(w, user->sub);
    size_t n_marked;
    int r;

    if ((r = check_user_collisions(w, user, err)) < 0)
        return r;
    if (ui >= 0) {
        struct logto_dir_user copy;
        old_name = TAKE_PTR(w->users[ui].name);
        if (user_copy(&copy, user) < 0)
            return LOGTO_OOM(err);
        user_clear(&w->users[ui]);
        w->users[ui] = copy;
    } else if (logto_directory_add_user(w, user) < 0) {
        return LOGTO_OOM(err);
    }
    if ((r = ensure_private_group(w, user, err)) < 0)
        return r;

    /* Memberships become exactly `groups`; note which groups this leaves empty. */
    n_marked = w->n_groups;
    emptied = calloc(n_marked + 1, sizeof(bool));
    if (!emptied)
        return LOGTO_OOM(err);
    if (old_name)
        drop_memberships(w, old_name, emptied);
    drop_memberships(w, user->name, emptied);
    for (size_t i = 0; i < n_groups; i++) {
        /* The private group is implied by the user; never a membership. */
        if (groups[i].kind == LOGTO_GROUP_PRIVATE)
            continue;
        if ((r = join_group(w, &groups[i], user->name, err)) < 0)
            return r;
    }
    drop_emptied(w, emptied, n_marked);
    return 0;
}

int logto_directory_upsert_user(struct logto_directory *dir, const struct logto_dir_user *user,
                                const struct logto_dir_group *groups, size_t n_groups,
                                struct logto_error *err)
{
    _cleanup_(logto_directory_freep) struct logto_directory *w = NULL;
    int r;

    if ((r = check_user(user, err)) < 0)
        return r;
    for (size_t i = 0; i < n_groups; i++)
        if (groups[i].kind != LOGTO_GROUP_PRIVATE && (r = check_group(&groups[i], err)) < 0)
            return r;
    /* Work on a copy, so a failure leaves the directory as it was. */
    w = directory_copy(dir);
    if (!w)
        return LOGTO_OOM(err);
    if ((r = upsert_in(w, user, groups, n_groups, err)) < 0)
        return r;
    directory_replace(dir, TAKE_PTR(w));
    return 0;
}

int logto_directory_remove_user(struct logto_directory *dir, const char *sub)
{
    _cleanup_free_ bool *emptied = NULL;
    ssize_t ui = find_user_index(dir, sub), p;

    if (ui < 0)
        return -LOGTO_E_NOTFOUND;
    emptied = calloc(dir->n_groups + 1, sizeof(bool));
    if (!emptied)
        return -LOGTO_E_NOMEM;
    drop_memberships(dir, dir->users[ui].name, emptied);
    p = find_private_group(dir, sub);
    if (p >= 0)
        emptied[p] = true; /* private groups have no members: dropped below */
    drop_emptied(dir, emptied, dir->n_groups);
    remove_user_at(dir, (size_t)ui);
    return 0;
}

/* ---------------------------------------------------------------- local accounts */

static void log_skip(const struct logto_log *log, const char *kind, const char *name,
                     const char *reason)
{
    char safe[64];
    logto_log(log, LOG_WARNING, "directory-skip-local %s=%s reason=%s", kind,
              logto_log_sanitize(safe, sizeof(safe), name ? name : "?"), reason);
}

/* Mark local collisions; returns how many entries were marked. */
static size_t mark_local(const struct logto_directory *dir, const struct logto_localset *pw,
                         const struct logto_localset *gr, bool *drop_u, bool *drop_g,
                         const struct logto_log *log)
{
    size_t n = 0;

    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        const char *why = logto_name_system_reason(u->name)                 ? "system-name"
                          : u->name && logto_localset_has_name(pw, u->name) ? "local-user-name"
                          : logto_localset_has_id(pw, u->uid)               ? "local-uid"
                                                                            : NULL;
        if (why) {
            drop_u[i] = true;
            n++;
            log_skip(log, "name", u->name, why);
        }
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        const char *why = logto_name_system_reason(g->name)                 ? "system-name"
                          : g->name && logto_localset_has_name(gr, g->name) ? "local-group-name"
                          : logto_localset_has_id(gr, g->gid)               ? "local-gid"
                                                                            : NULL;
        if (why) {
            drop_g[i] = true;
            n++;
            log_skip(log, "name", g->name, why);
        }
    }
    return n;
}

/* A user without their private group, or a private group without its user, goes too. */
static size_t mark_dependents(const struct logto_directory *dir, const struct keyed *subs,
                              bool *drop_u, bool *drop_g, const struct logto_log *log)
{
    size_t n = 0;
    bool changed = true;

    while (changed) {
        changed = false;
        for (size_t i = 0; i < dir->n_groups; i++) {
            const struct logto_dir_group *g = &dir->groups[i];
            const struct keyed *k;
            size_t owner;
            if (g->kind != LOGTO_GROUP_PRIVATE || !g->source)
                continue;
            k = keyed_find_str(subs, dir->n_users, g->source);
            if (!k)
                continue;
            owner = k->index;
            if (drop_g[i] && !drop_u[owner]) {
                drop_u[owner] = changed = true;
                n++;
                log_skip(log, "name", dir->users[owner].name, "private-group-local");
            } else if (drop_u[owner] && !drop_g[i]) {
                drop_g[i] = changed = true;
                n++;
                log_skip(log, "name", g->name, "owner-local");
            }
        }
    }
    return n;
}

int logto_directory_drop_local(struct logto_directory *dir, const char *passwd_path,
                               const char *group_path, const struct logto_log *log)
{
    struct logto_localset pw = { 0 }, gr = { 0 };
    _cleanup_free_ bool *drop_u = NULL, *drop_g = NULL, *emptied = NULL;
    _cleanup_free_ struct keyed *subs = NULL;
    struct logto_error e = { 0 };
    size_t n;
    int r;

    dir->local_files = 0;
    r = logto_localset_read(passwd_path ? passwd_path : LOGTO_PASSWD_PATH, &pw, &e);
    if (r == 0)
        r = logto_localset_read(group_path ? group_path : LOGTO_GROUP_PATH, &gr, &e);
    if (r < 0) {
        logto_log(log, LOG_ERR, "directory-local-unreadable reason=\"%s\"", e.message);
        goto out;
    }
    drop_u = calloc(dir->n_users + 1, sizeof(bool));
    drop_g = calloc(dir->n_groups + 1, sizeof(bool));
    emptied = calloc(dir->n_groups + 1, sizeof(bool));
    subs = USER_KEYS(dir, sub, true);
    if (!drop_u || !drop_g || !emptied || !subs) {
        r = -LOGTO_E_NOMEM;
        goto out;
    }
    n = mark_local(dir, &pw, &gr, drop_u, drop_g, log);
    n += mark_dependents(dir, subs, drop_u, drop_g, log);

    /* Remove dropped users from memberships, then the marked groups and users themselves. */
    for (size_t i = 0; i < dir->n_users; i++)
        if (drop_u[i] && dir->users[i].name)
            drop_memberships(dir, dir->users[i].name, emptied);
    for (size_t i = dir->n_groups; i-- > 0;)
        if (drop_g[i] || (emptied[i] && members_empty(&dir->groups[i])))
            remove_group_at(dir, i);
    for (size_t i = dir->n_users; i-- > 0;)
        if (drop_u[i])
            remove_user_at(dir, i);
    /* Only the files the NSS module's guard looks at make a fingerprint it can use. */
    if ((!passwd_path || strcmp(passwd_path, LOGTO_PASSWD_PATH) == 0) &&
        (!group_path || strcmp(group_path, LOGTO_GROUP_PATH) == 0)) {
        bool pw_first =
            pw.seen_at.tv_sec < gr.seen_at.tv_sec ||
            (pw.seen_at.tv_sec == gr.seen_at.tv_sec && pw.seen_at.tv_nsec <= gr.seen_at.tv_nsec);
        dir->local_files =
            logto_local_fingerprint_settled(&pw.id, &gr.id, pw_first ? &pw.seen_at : &gr.seen_at);
    }
    r = (int)n;
out:
    logto_localset_clear(&pw);
    logto_localset_clear(&gr);
    return r;
}

long logto_directory_warn_group_overflow(const struct logto_directory *dir, long limit,
                                         const struct logto_log *log)
{
    _cleanup_free_ char **names = NULL;
    size_t n = 0, k = 0;
    long over = 0;

    for (size_t i = 0; i < dir->n_groups; i++)
        n += logto_strv_length(dir->groups[i].members);
    if (limit <= 0 || n < (size_t)limit) /* nobody can be over */
        return 0;
    names = malloc(n * sizeof(*names));
    if (!names)
        return -LOGTO_E_NOMEM;
    for (size_t i = 0; i < dir->n_groups; i++)
        for (size_t j = 0; dir->groups[i].members && dir->groups[i].members[j]; j++)
            names[k++] = dir->groups[i].members[j];
    qsort(names, n, sizeof(*names), logto_strcmp_ptr);
    for (size_t i = 0, run; i < n; i += run) {
        for (run = 1; i + run < n && strcmp(names[i], names[i + run]) == 0; run++)
            ;
        /* The primary group comes on top of the supplementary ones. */
        if (run + 1 > (size_t)limit) {
            logto_log(log, LOG_WARNING,
                      "directory-too-many-groups user=%s groups=%zu limit=%ld: a login gets "
                      "at most %ld, the rest is cut",
                      names[i], run + 1, limit, limit);
            over++;
        }
    }
    return over;
}

/* ---------------------------------------------------------------- snapshot serialisation */

/*
 * The string table, with each distinct string stored once: shells repeat, a private group's
 * name and source repeat its user's name and sub. Smaller files map and checksum faster in
 * every process. seen[] is an open-addressing set of offsets (0 = empty: offset 0 is "").
 */
struct strpool {
    char *buf;
    size_t len;
    uint32_t *seen;
    size_t mask;
};

static int pool_init(struct strpool *p, char *buf, size_t max_strings)
{
    size_t slots = 16;

    while (slots < 2 * max_strings)
        slots <<= 1;
    p->buf = buf;
    p->buf[0] = '\0';
    p->len = 1;
    p->seen = calloc(slots, sizeof(uint32_t));
    p->mask = slots - 1;
    return p->seen ? 0 : -1;
}

/* Append without sharing: a group's member names must lie back to back. */
static void pool_append(struct strpool *p, const char *s)
{
    size_t len = strlen(s);
    memcpy(p->buf + p->len, s, len + 1);
    p->len += len + 1;
}

static uint32_t pool_add(struct strpool *p, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    size_t pos;

    if (len == 0)
        return 0;
    for (pos = logto_xxh64(s, len, 0) & p->mask; p->seen[pos]; pos = (pos + 1) & p->mask)
        if (strcmp(p->buf + p->seen[pos], s) == 0)
            return p->seen[pos];
    p->seen[pos] = (uint32_t)p->len;
    memcpy(p->buf + p->len, s, len + 1);
    p->len += len + 1;
    return p->seen[pos];
}

static size_t str_size(const char *s)
{
    return s && *s ? strlen(s) + 1 : 0;
}

static uint32_t index_slots(size_t count)
{
    uint32_t slots = 2;
    while (slots < 2 * count)
        slots <<= 1;
    return slots;
}

static int cmp_user_uid(const void *a, const void *b, void *ctx)
{
    const struct logto_dir_user *u = ctx;
    uint32_t x = u[*(const size_t *)a].uid, y = u[*(const size_t *)b].uid;
    return x < y ? -1 : x > y;
}

static int cmp_group_gid(const void *a, const void *b, void *ctx)
{
    const struct logto_dir_group *g = ctx;
    uint32_t x = g[*(const size_t *)a].gid, y = g[*(const size_t *)b].gid;
    return x < y ? -1 : x > y;
}

static size_t *sorted_order(size_t n, void *records, int (*cmp)(const void *, const void *, void *))
{
    size_t *order = malloc((n ? n : 1) * sizeof(size_t));

    if (!order)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof(size_t), cmp, records);
    return order;
}

static void index_put(struct logto_snapshot_slot *slots, uint32_t nslots, uint64_t h, uint32_t key,
                      uint32_t index)
{
    uint32_t mask = nslots - 1;
    uint32_t pos = (uint32_t)h & mask;

    while (slots[pos].index != LOGTO_SNAPSHOT_EMPTY_SLOT)
        pos = (pos + 1) & mask;
    slots[pos].key = key;
    slots[pos].index = index;
}

struct layout {
    uint64_t size[LOGTO_SNAP__TABLES];
    uint64_t offset[LOGTO_SNAP__TABLES];
    uint64_t total;
    uint32_t slots[4];
    uint32_t n_regions;
    size_t n_members;
};

/* The region table after the (8-aligned) end of the string table; it ends the file. */
static void place_regions(struct layout *L)
{
    uint64_t data_end = ALIGN_TO(L->offset[LOGTO_SNAP_STRINGS] + L->size[LOGTO_SNAP_STRINGS], 8);
    uint64_t region = UINT64_C(1) << LOGTO_SNAPSHOT_REGION_SHIFT;

    L->n_regions = (uint32_t)((data_end + region - 1) / region);
    L->offset[LOGTO_SNAP_REGIONS] = data_end;
    L->size[LOGTO_SNAP_REGIONS] = (uint64_t)L->n_regions * sizeof(uint64_t);
    L->total = data_end + L->size[LOGTO_SNAP_REGIONS];
}

static int plan_layout(const struct logto_directory *dir, struct layout *L, struct logto_error *err)
{
    uint64_t strings = 1, pos = sizeof(struct logto_snapshot_header);

    L->n_members = 0;
    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        strings += str_size(u->name) + str_size(u->gecos) + str_size(u->home) + str_size(u->shell) +
                   str_size(u->sub);
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        strings += str_size(g->name) + str_size(g->source);
        for (size_t j = 0; g->members && g->members[j]; j++, L->n_members++)
            strings += str_size(g->members[j]); /* the group's member-name list */
    }
    if (dir->n_users > LOGTO_SNAPSHOT_MAX_COUNT || dir->n_groups > LOGTO_SNAPSHOT_MAX_COUNT ||
        L->n_members > LOGTO_SNAPSHOT_MAX_LIST || strings > UINT32_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "directory too large for a snapshot");
    L->slots[0] = L->slots[1] = index_slots(dir->n_users);
    L->slots[2] = L->slots[3] = index_slots(dir->n_groups);
    L->size[LOGTO_SNAP_USERS] = dir->n_users * sizeof(struct logto_snapshot_user);
    L->size[LOGTO_SNAP_GROUPS] = dir->n_groups * sizeof(struct logto_snapshot_group);
    L->size[LOGTO_SNAP_MEMBERS] = L->n_members * sizeof(uint32_t);
    L->size[LOGTO_SNAP_USER_GIDS] = L->n_members * sizeof(uint32_t);
    for (int i = 0; i < 4; i++)
        L->size[LOGTO_SNAP_IDX_USER_NAME + i] =
            (uint64_t)L->slots[i] * sizeof(struct logto_snapshot_slot);
    L->size[LOGTO_SNAP_STRINGS] = strings;
    for (int t = 0; t < LOGTO_SNAP_REGIONS; t++) {
        L->offset[t] = pos;
        pos = ALIGN_TO(pos + L->size[t], 8);
    }
    place_regions(L); /* room for the most regions: the string table only shrinks */
    if (L->total > LOGTO_SNAPSHOT_MAX_SIZE)
        return logto_error_set(err, LOGTO_E_INVAL, "directory too large for a snapshot");
    return 0;
}

/* For each group, the new indexes of its members, resolved through a sorted name list. */
static int fill_memberships(const struct logto_directory *dir, const size_t *uorder,
                            const size_t *gorder, uint8_t *buf, const struct layout *L,
                            struct logto_error *err)
{
    struct logto_snapshot_user *users = (void *)(buf + L->offset[LOGTO_SNAP_USERS]);
    struct logto_snapshot_group *groups = (void *)(buf + L->offset[LOGTO_SNAP_GROUPS]);
    uint32_t *members = (void *)(buf + L->offset[LOGTO_SNAP_MEMBERS]);
    uint32_t *gids = (void *)(buf + L->offset[LOGTO_SNAP_USER_GIDS]);
    _cleanup_free_ struct keyed *names = calloc(dir->n_users + 1, sizeof(struct keyed));
    _cleanup_free_ uint32_t *fill = calloc(dir->n_users + 1, sizeof(uint32_t));
    uint32_t m = 0, first = 0;

    if (!names || !fill)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < dir->n_users; i++) {
        names[i].s = dir->users[uorder[i]].name;
        names[i].index = i;
    }
    qsort(names, dir->n_users, sizeof(*names), cmp_keyed_str);

    /* Members in the directory's (sorted) order; count each user's groups on the way. */
    for (size_t gi = 0; gi < dir->n_groups; gi++) {
        const struct logto_dir_group *g = &dir->groups[gorder[gi]];
        groups[gi].members_first = m;
        for (size_t j = 0; g->members && g->members[j]; j++) {
            const struct keyed *k = keyed_find_str(names, dir->n_users, g->members[j]);
            if (!k)
                return logto_error_set(err, LOGTO_E_INVAL, "member %s is not a user",
                                       g->members[j]);
            members[m++] = (uint32_t)k->index;
            users[k->index].gids_count++;
        }
        groups[gi].members_count = m - groups[gi].members_first;
    }
    for (size_t i = 0; i < dir->n_users; i++) {
        users[i].gids_first = first;
        first += users[i].gids_count;
    }
    /* Groups are in GID order, so each user's GID run comes out sorted. */
    for (size_t gi = 0; gi < dir->n_groups; gi++) {
        for (uint32_t j = 0; j < groups[gi].members_count; j++) {
            uint32_t u = members[groups[gi].members_first + j];
            gids[users[u].gids_first + fill[u]++] = groups[gi].gid;
        }
    }
    return 0;
}

static void fill_indexes(const struct logto_directory *dir, const size_t *uorder,
                         const size_t *gorder, uint8_t *buf, const struct layout *L,
                         const uint8_t key[16])
{
    struct logto_snapshot_slot *ix[4];

    for (int i = 0; i < 4; i++) {
        ix[i] = (void *)(buf + L->offset[LOGTO_SNAP_IDX_USER_NAME + i]);
        for (uint32_t j = 0; j < L->slots[i]; j++)
            ix[i][j] = (struct logto_snapshot_slot){ 0, LOGTO_SNAPSHOT_EMPTY_SLOT };
    }
    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[uorder[i]];
        uint64_t h = logto_snapshot_hash_name(key, u->name, strlen(u->name));
        index_put(ix[0], L->slots[0], h, (uint32_t)(h >> 32), (uint32_t)i);
        index_put(ix[1], L->slots[1], logto_snapshot_hash_id(key, u->uid), u->uid, (uint32_t)i);
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[gorder[i]];
        uint64_t h = logto_snapshot_hash_name(key, g->name, strlen(g->name));
        index_put(ix[2], L->slots[2], h, (uint32_t)(h >> 32), (uint32_t)i);
        index_put(ix[3], L->slots[3], logto_snapshot_hash_id(key, g->gid), g->gid, (uint32_t)i);
    }
}

/* Records and strings; shrinks the string table (the last one) to what was used. */
static int fill_records(const struct logto_directory *dir, const size_t *uorder,
                        const size_t *gorder, uint8_t *buf, struct layout *L)
{
    struct logto_snapshot_user *users = (void *)(buf + L->offset[LOGTO_SNAP_USERS]);
    struct logto_snapshot_group *groups = (void *)(buf + L->offset[LOGTO_SNAP_GROUPS]);
    struct strpool pool;

    if (pool_init(&pool, (char *)buf + L->offset[LOGTO_SNAP_STRINGS],
                  5 * dir->n_users + 2 * dir->n_groups) < 0)
        return -1;

    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[uorder[i]];
        users[i].uid = u->uid;
        users[i].gid = u->gid;
        users[i].flags = u->flags;
        users[i].name = pool_add(&pool, u->name);
        users[i].gecos = pool_add(&pool, u->gecos);
        users[i].home = pool_add(&pool, u->home);
        users[i].shell = pool_add(&pool, u->shell);
        users[i].sub = pool_add(&pool, u->sub);
        users[i].updated_at = u->updated_at;
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[gorder[i]];
        groups[i].gid = g->gid;
        groups[i].kind = g->kind;
        groups[i].name = pool_add(&pool, g->name);
        groups[i].source = pool_add(&pool, g->source);
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[gorder[i]];
        size_t start = pool.len;
        for (size_t j = 0; g->members && g->members[j]; j++)
            pool_append(&pool, g->members[j]);
        groups[i].member_names = pool.len > start ? (uint32_t)start : 0;
        groups[i].member_names_size = (uint32_t)(pool.len - start);
    }
    free(pool.seen);
    L->size[LOGTO_SNAP_STRINGS] = pool.len;
    place_regions(L);
    return 0;
}

/* Serialise a valid directory into a complete snapshot image. */
static int snapshot_build(const struct logto_directory *dir, uint64_t generation,
                          const uint8_t key[16], uint8_t **ret_buf, size_t *ret_len,
                          struct logto_error *err)
{
    _cleanup_free_ size_t *uorder = NULL, *gorder = NULL;
    _cleanup_free_ uint8_t *buf = NULL;
    struct logto_snapshot_header *h;
    struct layout L = { 0 };
    int r;

    if ((r = plan_layout(dir, &L, err)) < 0)
        return r;
    uorder = sorted_order(dir->n_users, dir->users, cmp_user_uid);
    gorder = sorted_order(dir->n_groups, dir->groups, cmp_group_gid);
    buf = calloc(1, L.total);
    if (!uorder || !gorder || !buf)
        return LOGTO_OOM(err);

    if (fill_records(dir, uorder, gorder, buf, &L) < 0)
        return LOGTO_OOM(err);
    if ((r = fill_memberships(dir, uorder, gorder, buf, &L, err)) < 0)
        return r;
    fill_indexes(dir, uorder, gorder, buf, &L, key);

    h = (void *)buf;
    memcpy(h->magic, LOGTO_SNAPSHOT_MAGIC, sizeof(h->magic));
    h->version = LOGTO_SNAPSHOT_VERSION;
    h->byte_order = LOGTO_SNAPSHOT_BYTE_ORDER;
    h->header_size = sizeof(*h);
    h->region_shift = LOGTO_SNAPSHOT_REGION_SHIFT;
    h->n_regions = L.n_regions;
    h->file_size = L.total;
    h->generation = generation;
    h->created_at = dir->generated_at ? dir->generated_at : (int64_t)time(NULL);
    h->local_files = dir->local_files;
    h->flags = dir->snapshot_flags & LOGTO_SNAPSHOT_F_KNOWN;
    h->n_users = (uint32_t)dir->n_users;
    h->n_groups = (uint32_t)dir->n_groups;
    h->n_members = h->n_user_gids = (uint32_t)L.n_members;
    memcpy(h->hash_key, key, sizeof(h->hash_key));
    for (int t = 0; t < LOGTO_SNAP__TABLES; t++) {
        h->tables[t].offset = L.offset[t];
        h->tables[t].size = L.size[t];
    }
    logto_snapshot_seal(buf, L.total);
    *ret_len = L.total;
    *ret_buf = TAKE_PTR(buf);
    return 0;
}

/* ---------------------------------------------------------------- writing */

/*
 * The file we are about to replace, kept open so it can be marked stale after the rename.
 * Only a regular, trusted, single-link file with a valid snapshot header qualifies: we never
 * write into anything else. Its generation seeds ours.
 */
static int open_previous(int dirfd, const char *name, uint64_t *ret_generation,
                         size_t *ret_stale_offset)
{
    uint8_t h[sizeof(struct logto_snapshot_header)];
    struct stat st;
    ssize_t n;
    int fd;

    *ret_generation = 0;
    fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !logto_owner_trusted(st.st_uid) ||
        st.st_nlink != 1 || (n = pread(fd, h, sizeof(h), 0)) < 0 ||
        logto_snapshot_header_peek(h, (size_t)n, ret_generation, ret_stale_offset) < 0) {
        *ret_generation = 0;
        close(fd);
        return -1;
    }
    return fd;
}

static void mark_stale(int fd, size_t stale_offset)
{
    const uint32_t stale = LOGTO_SNAPSHOT_STALE;

    /* Best effort: readers that miss it still notice the new inode within a second. */
    if (pwrite(fd, &stale, sizeof(stale), (off_t)stale_offset) < 0)
        return;
}

void logto_directory_set_enumerate(struct logto_directory *dir, bool enumerate)
{
    if (enumerate)
        dir->snapshot_flags &= ~LOGTO_SNAPSHOT_F_NO_ENUMERATE;
    else
        dir->snapshot_flags |= LOGTO_SNAPSHOT_F_NO_ENUMERATE;
}

int logto_snapshot_write(const char *path, const struct logto_directory *dir,
                         struct logto_error *err)
{
    _cleanup_free_ char *dirpath = NULL, *lockpath = NULL;
    _cleanup_close_ int dirfd = -1, lockfd = -1, oldfd = -1;
    uint8_t key[16];
    uint64_t generation;
    const char *base;
    size_t len, stale_offset = 0;
    int r;

    if ((r = logto_directory_validate(dir, err)) < 0) {
        logto_error_prefix(err, "refusing to write %s", path ? path : "(null)");
        return r;
    }
    if ((r = logto_path_split_absolute(path, "snapshot path", &dirpath, &base, err)) < 0)
        return r;
    if ((r = logto_dir_open_trusted(dirpath, false, &dirfd, err)) < 0)
        return r;
    lockpath = logto_asprintf("%s/%s", dirpath, LOCK_NAME);
    if (!lockpath)
        return LOGTO_OOM(err);
    if ((r = logto_lock_at(dirfd, LOCK_NAME, lockpath, LOCK_TIMEOUT_MS, &lockfd, err)) < 0)
        return r;

    oldfd = open_previous(dirfd, base, &generation, &stale_offset);
    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
        return logto_error_set(err, LOGTO_E_IO, "getrandom failed: %s", strerror(errno));
    _cleanup_free_ uint8_t *buf = NULL;
    if ((r = snapshot_build(dir, generation + 1, key, &buf, &len, err)) < 0)
        return r;
    /* What readers will check lazily, checked whole once, before anything is published. */
    if ((r = logto_snapshot_check_image(buf, len, err)) < 0) {
        logto_error_prefix(err, "refusing to write %s", path);
        return r;
    }
    if ((r = logto_file_write_at(dirfd, base, path, buf, len, 0644, err)) < 0)
        return r;
    if (oldfd >= 0)
        mark_stale(oldfd, stale_offset);
    return 0;
}

/* ---------------------------------------------------------------- reading back */

static int decode_user(const struct logto_snapshot *snap, struct logto_directory *dir,
                       const struct logto_snap_user *v)
{
    const char *sub;
    struct logto_dir_user u = {
        .name = unconst(v->name),
        .uid = v->uid,
        .gid = v->gid,
        .gecos = unconst(v->gecos),
        .home = unconst(v->home),
        .shell = unconst(v->shell),
        .flags = v->flags,
        .updated_at = v->updated_at,
    };

    if (logto_snapshot_user_sub(snap, v, &sub) < 0)
        return -LOGTO_E_CORRUPT;
    u.sub = unconst(sub);
    return logto_directory_add_user(dir, &u);
}

static int decode_group(const struct logto_snapshot *snap, struct logto_directory *dir,
                        const struct logto_snap_group *v)
{
    _cleanup_free_ char **members = calloc(v->n_members + 1, sizeof(char *));
    const char *source;
    struct logto_dir_group g = {
        .name = unconst(v->name),
        .gid = v->gid,
        .kind = v->kind,
    };

    if (!members)
        return -LOGTO_E_NOMEM;
    if (logto_snapshot_group_source(snap, v, &source) < 0)
        return -LOGTO_E_CORRUPT;
    g.source = unconst(source);
    for (uint32_t j = 0; j < v->n_members; j++) {
        members[j] = unconst(logto_snapshot_group_member(snap, v, j, NULL));
        if (!members[j])
            return -LOGTO_E_CORRUPT;
    }
    g.members = members;
    return logto_directory_add_group(dir, &g);
}

int logto_snapshot_read(const char *path, struct logto_directory **ret, struct logto_error *err)
{
    _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    struct logto_error e = { 0 };
    int r;

    if ((r = logto_snapshot_open(path, &snap, err)) < 0 ||
        (r = logto_snapshot_verify(snap, err)) < 0)
        return r;
    dir = logto_directory_new();
    if (!dir)
        return LOGTO_OOM(err);
    dir->generated_at = logto_snapshot_created_at(snap);
    for (uint32_t i = 0; i < logto_snapshot_n_users(snap); i++) {
        struct logto_snap_user v;
        if ((r = logto_snapshot_user_at(snap, i, &v)) < 0 || (r = decode_user(snap, dir, &v)) < 0)
            return logto_error_set(err, logto_errc_from(r), "%s: user record %u: %s", path, i,
                                   logto_errc_name(logto_errc_from(r)));
    }
    for (uint32_t i = 0; i < logto_snapshot_n_groups(snap); i++) {
        struct logto_snap_group v;
        if ((r = logto_snapshot_group_at(snap, i, &v)) < 0 || (r = decode_group(snap, dir, &v)) < 0)
            return logto_error_set(err, logto_errc_from(r), "%s: group record %u: %s", path, i,
                                   logto_errc_name(logto_errc_from(r)));
    }
    if (logto_directory_validate(dir, &e) < 0)
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: %s", path, e.message);
    dir->local_files = logto_snapshot_local_files(snap);
    dir->snapshot_flags = logto_snapshot_flags(snap);
    *ret = TAKE_PTR(dir);
    return 0;
}
