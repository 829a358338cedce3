/* SPDX-License-Identifier: MIT */
/* Direct reads of /etc/passwd and /etc/group; who answers for a user name. */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "localdb.h"
#include "snapshot.h"
#include "macro.h"
#include "memory.h"
#include "util.h"

/* Large enough for any real account file; a bigger one is refused rather than half-read. */
#define LOCALDB_MAX_SIZE (64u * 1024 * 1024)

static void entries_free(struct logto_local_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

void logto_localdb_free(struct logto_localdb *db)
{
    if (!db)
        return;
    entries_free(db->users, db->n_users);
    entries_free(db->groups, db->n_groups);
    entries_free(db->system, db->n_system);
    free(db);
}

static int entry_add(struct logto_local_entry **v, size_t *n, size_t *cap, const char *name,
                     size_t name_len, const char *id_field, size_t id_len)
{
    char idbuf[16];
    uint64_t id;

    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct logto_local_entry *nv = realloc(*v, ncap * sizeof(**v));
        if (!nv)
            return -1;
        *v = nv;
        *cap = ncap;
    }
    struct logto_local_entry *e = &(*v)[*n];
    e->name = strndup(name, name_len);
    if (!e->name)
        return -1;
    e->has_id = false;
    if (id_field && id_len < sizeof(idbuf)) {
        memcpy(idbuf, id_field, id_len);
        idbuf[id_len] = '\0';
        if (logto_parse_u64(idbuf, 0, UINT32_MAX, &id) == 0) {
            e->id = (uint32_t)id;
            e->has_id = true;
        }
    }
    (*n)++;
    return 0;
}

/*
 * passwd and group share the layout that matters here: name in field 0, the ID in field 2. Calls
 * fn for every entry (NIS compat +name and -name lines still name a local account) until it
 * returns non-zero, and returns that. buf is split in place.
 */
typedef int (*entry_fn)(void *data, const char *name, size_t name_len, const char *id,
                        size_t id_len);

static int for_each_entry(char *buf, entry_fn fn, void *data)
{
    for (char *line = buf; line && *line;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        const char *name = line, *colon1 = strchr(line, ':');
        if (*name == '+' || *name == '-')
            name++;
        if (line[0] != '#' && colon1 && colon1 > name) {
            const char *id = NULL;
            size_t id_len = 0;
            const char *colon2 = strchr(colon1 + 1, ':');
            if (colon2) {
                const char *colon3 = strchr(colon2 + 1, ':');
                id = colon2 + 1;
                id_len = colon3 ? (size_t)(colon3 - id) : strlen(id);
            }
            int r = fn(data, name, (size_t)(colon1 - name), id, id_len);
            if (r != 0)
                return r;
        }
        line = eol ? eol + 1 : NULL;
    }
    return 0;
}

struct entry_list {
    struct logto_local_entry *v;
    size_t n, cap;
};

static int collect_entry(void *data, const char *name, size_t name_len, const char *id,
                         size_t id_len)
{
    struct entry_list *l = data;
    return entry_add(&l->v, &l->n, &l->cap, name, name_len, id, id_len);
}

static int parse_file(char *buf, struct logto_local_entry **ret, size_t *ret_n)
{
    struct entry_list l = { 0 };

    if (for_each_entry(buf, collect_entry, &l) < 0) {
        entries_free(l.v, l.n);
        return -1;
    }
    *ret = l.v;
    *ret_n = l.n;
    return 0;
}

static int load_one(const char *path, struct logto_local_entry **ret, size_t *ret_n,
                    struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL;
    int r;

    r = logto_file_read_trusted(path, LOGTO_FILE_PUBLIC, LOCALDB_MAX_SIZE, &buf, NULL, err);
    if (r < 0)
        return r;
    if (parse_file(buf, ret, ret_n) < 0)
        return LOGTO_OOM(err);
    return 0;
}

/* base-passwd's master files, users and groups in one list; a missing file adds nothing. */
static int load_system(const char *dir, struct logto_localdb *db, struct logto_error *err)
{
    static const char *const files[] = { "passwd.master", "group.master" };

    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        _cleanup_free_ char *path = logto_asprintf("%s/%s", dir, files[i]);
        struct logto_local_entry *v = NULL, *all;
        size_t n = 0;
        int r;

        if (!path)
            return LOGTO_OOM(err);
        r = load_one(path, &v, &n, err);
        if (r == -LOGTO_E_NOTFOUND) {
            *err = (struct logto_error){ 0 };
            continue;
        }
        if (r < 0)
            return r;
        all = realloc(db->system, (db->n_system + n + 1) * sizeof(*all));
        if (!all) {
            entries_free(v, n);
            return LOGTO_OOM(err);
        }
        memcpy(all + db->n_system, v, n * sizeof(*v));
        free(v);
        db->system = all;
        db->n_system += n;
    }
    return 0;
}

int logto_localdb_load(const struct logto_ctx *ctx, struct logto_localdb **ret,
                       struct logto_error *err)
{
    const char *passwd = ctx && ctx->passwd_path ? ctx->passwd_path : LOGTO_PASSWD_PATH;
    const char *group = ctx && ctx->group_path ? ctx->group_path : LOGTO_GROUP_PATH;
    const char *base = ctx && ctx->base_passwd_dir ? ctx->base_passwd_dir : LOGTO_BASE_PASSWD_DIR;
    struct logto_localdb *db = calloc(1, sizeof(*db));
    struct logto_error e = { 0 };
    int r;

    if (!db)
        return LOGTO_OOM(err);
    r = load_one(passwd, &db->users, &db->n_users, err);
    if (r >= 0)
        r = load_one(group, &db->groups, &db->n_groups, err);
    if (r >= 0 && (r = load_system(base, db, &e)) < 0 && err)
        *err = e;
    if (r < 0) {
        logto_localdb_free(db);
        return r;
    }
    *ret = db;
    return 0;
}

static bool has_name(const struct logto_local_entry *v, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return true;
    return false;
}

static bool has_id(const struct logto_local_entry *v, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].has_id && v[i].id == id)
            return true;
    return false;
}

bool logto_localdb_has_user(const struct logto_localdb *db, const char *name)
{
    return has_name(db->users, db->n_users, name);
}

bool logto_localdb_has_uid(const struct logto_localdb *db, uint32_t uid)
{
    return has_id(db->users, db->n_users, uid);
}

bool logto_localdb_has_group(const struct logto_localdb *db, const char *name)
{
    return has_name(db->groups, db->n_groups, name);
}

bool logto_localdb_has_gid(const struct logto_localdb *db, uint32_t gid)
{
    return has_id(db->groups, db->n_groups, gid);
}

/* ---------------------------------------------------------------- one name */

struct wanted {
    const char *name;
    size_t len;
};

static int match_name(void *data, const char *name, size_t name_len, const char *id, size_t id_len)
{
    const struct wanted *w = data;
    (void)id, (void)id_len;
    return w->len == name_len && memcmp(w->name, name, name_len) == 0;
}

int logto_localdb_file_has_user(const char *path, const char *name, bool *ret,
                                struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL;
    int r = logto_file_read_trusted(path ? path : LOGTO_PASSWD_PATH, LOGTO_FILE_PUBLIC,
                                    LOCALDB_MAX_SIZE, &buf, NULL, err);
    struct wanted w = { name, strlen(name) };

    if (r < 0)
        return r;
    *ret = for_each_entry(buf, match_name, &w) > 0;
    return 0;
}

/* getpwnam_r through NSS: the UID of the first entry any source answers with. */
static int nss_uid(const char *name, bool *ret_found, uid_t *ret_uid, struct logto_error *err)
{
    size_t size = 1024;

    for (;;) {
        _cleanup_free_ char *buf = malloc(size);
        struct passwd pw, *res = NULL;
        int e;

        if (!buf)
            return LOGTO_OOM(err);
        e = getpwnam_r(name, &pw, buf, size, &res);
        if (e == ERANGE && size < 1024 * 1024) {
            size *= 4;
            continue;
        }
        /* Not found, or no source could answer: nobody else claims the name right now. */
        *ret_found = res != NULL;
        *ret_uid = res ? res->pw_uid : 0;
        return 0;
    }
}

int logto_localdb_account_source(const char *passwd_path, const char *name,
                                 enum logto_account_source *ret, struct logto_error *err)
{
    _cleanup_snapshot_ struct logto_snapshot *snap = NULL;
    struct logto_snap_user su;
    const char *snap_path;
    bool in_file = false, found = false;
    uid_t uid = 0;
    int r, tries = 0;

    r = logto_localdb_file_has_user(passwd_path, name, &in_file, err);
    if (r < 0)
        return r;
    if (in_file) {
        *ret = LOGTO_ACCOUNT_FILES;
        return 0;
    }
    r = nss_uid(name, &found, &uid, err);
    if (r < 0)
        return r;
    if (!found) {
        *ret = LOGTO_ACCOUNT_NOT_LOCAL;
        return 0;
    }
    /* Someone answers: ours only if the snapshot root wrote holds this name with this UID. */
    snap_path = logto_snapshot_nss_path();
    if (!snap_path)
        return logto_error_set(err, LOGTO_E_CONFIG, "LOGTO_NSS_SNAPSHOT is not an absolute path");
    /* BUSY: replaced while being opened; the new file is there at once. */
    do
        r = logto_snapshot_open(snap_path, &snap, err);
    while (r == -LOGTO_E_BUSY && ++tries < 3);
    if (r == -LOGTO_E_NOTFOUND) {
        *ret = LOGTO_ACCOUNT_OTHER;
        return 0;
    }
    if (r < 0)
        return r;
    r = logto_snapshot_user_by_name(snap, name, &su);
    if (r < 0 && r != -LOGTO_E_NOTFOUND)
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: the entry of %s is damaged", snap_path,
                               name);
    *ret = r == 0 && su.uid == (uint32_t)uid ? LOGTO_ACCOUNT_NOT_LOCAL : LOGTO_ACCOUNT_OTHER;
    return 0;
}

const char *logto_account_source_name(enum logto_account_source s)
{
    switch (s) {
    case LOGTO_ACCOUNT_FILES:
        return "files";
    case LOGTO_ACCOUNT_OTHER:
        return "nss";
    default:
        return "logto";
    }
}

bool logto_localdb_has_system_name(const struct logto_localdb *db, const char *name)
{
    return has_name(db->system, db->n_system, name);
}
