/* SPDX-License-Identifier: MIT */
/* Per-user token records on disk. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "memory.h"
#include "names.h"
#include "store.h"
#include "util.h"

#ifndef LOGTO_STATE_DIR
#define LOGTO_STATE_DIR "/var/lib/logto"
#endif

#define REFRESH_ERROR_MAX 200

struct logto_store {
    char *dir; /* <state_dir>/tokens, for messages */
    int dirfd;
};

struct logto_store_lock {
    struct logto_store *store;
    char name[LOGTO_NAME_MAX + 1];
    int fd;
};

static const char *const auth_methods[] = {
    [LOGTO_AUTH_NONE] = "none",
    [LOGTO_AUTH_DEVICE] = "device",
    [LOGTO_AUTH_EXPERIENCE] = "experience",
    [LOGTO_AUTH_PAT] = "pat",
    [LOGTO_AUTH_MANAGEMENT] = "management",
    [LOGTO_AUTH_GRANT] = "grant",
};

const char *logto_auth_method_name(enum logto_auth_method m)
{
    return (unsigned)m < ELEMENTSOF(auth_methods) ? auth_methods[m] : "unknown";
}

int logto_auth_method_from_name(const char *s, enum logto_auth_method *ret)
{
    for (size_t i = 0; s && i < ELEMENTSOF(auth_methods); i++)
        if (strcmp(auth_methods[i], s) == 0) {
            *ret = (enum logto_auth_method)i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Records */

struct logto_record *logto_record_new(void)
{
    return calloc(1, sizeof(struct logto_record));
}

void logto_record_free(struct logto_record *rec)
{
    if (!rec)
        return;
    free(rec->name);
    free(rec->sub);
    logto_free_secret(rec->refresh_token);
    logto_free_secret(rec->verifier);
    json_decref(rec->claims);
    free(rec->refresh_error);
    free(rec);
}

static int set_secret(char **field, const char *value)
{
    char *copy = NULL;

    if (value && !(copy = strdup(value)))
        return -1;
    logto_free_secret(*field);
    *field = copy;
    return 0;
}

int logto_record_set_refresh_token(struct logto_record *rec, const char *value)
{
    return set_secret(&rec->refresh_token, value);
}

int logto_record_set_verifier(struct logto_record *rec, const char *value)
{
    return set_secret(&rec->verifier, value);
}

void logto_record_set_refresh_failure(struct logto_record *rec, int64_t at, const char *code)
{
    free(rec->refresh_error);
    rec->refresh_error = code ? strdup(code) : NULL;
    rec->refresh_failed_at = at;
}

/* Secrets are printable ASCII: what refresh tokens and crypt hashes are made of. At least two
 * characters, so the quoted value in the file always has room for the reader's `null`. */
static bool secret_valid(const char *s)
{
    size_t len = strlen(s);

    if (len < 2 || len > LOGTO_SECRET_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static bool printable(const char *s, size_t max)
{
    if (strlen(s) > max)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Same rule as identity.c: printable ASCII without spaces or ':'. */
static bool sub_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 255)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == ':')
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* The store and its locks */

static int record_file(const char *name, char *buf, size_t n)
{
    if (!logto_name_valid(name))
        return -1;
    snprintf(buf, n, "%s.json", name);
    return 0;
}

/* Like logto_dir_ensure, but a directory we create gets exactly mode, whatever the umask (PAM
 * may run under umask 077, and the snapshot next to tokens/ must stay readable). */
static int ensure_dir(const char *path, mode_t mode, bool private_dir, int *ret_fd,
                      struct logto_error *err)
{
    bool created = mkdir(path, mode) == 0;
    int r;

    if (!created && errno != EEXIST)
        return logto_error_set(err, LOGTO_E_IO, "cannot create directory %s: %s", path,
                               strerror(errno));
    r = logto_dir_open_trusted(path, private_dir, ret_fd, err);
    if (r < 0)
        return r;
    if (created && fchmod(*ret_fd, mode) < 0) {
        r = logto_error_set(err, LOGTO_E_IO, "cannot set the mode of %s: %s", path,
                            strerror(errno));
        close(*ret_fd);
        *ret_fd = -1;
        return r;
    }
    return 0;
}

int logto_store_open(const struct logto_ctx *ctx, struct logto_store **ret, struct logto_error *err)
{
    const char *state =
        ctx && ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
    _cleanup_close_ int statefd = -1;
    struct logto_store *s;
    int r;

    /* The state directory is public (the snapshot lives there); tokens/ is root's alone. */
    r = ensure_dir(state, 0755, false, &statefd, err);
    if (r < 0)
        return r;
    s = calloc(1, sizeof(*s));
    if (!s)
        return LOGTO_OOM(err);
    s->dirfd = -1;
    s->dir = logto_asprintf("%s/%s", strcmp(state, "/") == 0 ? "" : state, LOGTO_TOKENS_SUBDIR);
    if (!s->dir) {
        free(s);
        return LOGTO_OOM(err);
    }
    r = ensure_dir(s->dir, 0700, true, &s->dirfd, err);
    if (r < 0) {
        logto_store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

void logto_store_close(struct logto_store *store)
{
    if (!store)
        return;
    if (store->dirfd >= 0)
        close(store->dirfd);
    free(store->dir);
    free(store);
}

int logto_store_lock(struct logto_store *store, const char *name, int timeout_ms,
                     struct logto_store_lock **ret, struct logto_error *err)
{
    char file[LOGTO_NAME_MAX + 8], path[PATH_MAX];
    struct logto_store_lock *lock;
    int r;

    if (!logto_name_valid(name))
        return logto_error_set(err, LOGTO_E_INVAL, "not a valid user name for a token record");
    snprintf(file, sizeof(file), "%s.lock", name);
    snprintf(path, sizeof(path), "%s/%s", store->dir, file);
    lock = calloc(1, sizeof(*lock));
    if (!lock)
        return LOGTO_OOM(err);
    r = logto_lock_at(store->dirfd, file, path, timeout_ms, &lock->fd, err);
    if (r < 0) {
        free(lock);
        return r;
    }
    lock->store = store;
    snprintf(lock->name, sizeof(lock->name), "%s", name);
    *ret = lock;
    return 0;
}

void logto_store_unlock(struct logto_store_lock *lock)
{
    if (!lock)
        return;
    close(lock->fd); /* releases the flock */
    free(lock);
}

/* ------------------------------------------------------------------------------------------ */
/*
 * Reading. The secret members are cut out of the file text before jansson sees it
 * (logto_json_cut_secrets): "refresh_token" and "verifier" are decoded into buffers we own and
 * replaced in the text by `null`. jansson then parses the rest; it must see null (or nothing) in
 * those members, so anything the cut did not take (an escaped key, another type) makes the
 * record corrupt.
 */

struct field_check {
    json_t *obj;
    const char *path;
    struct logto_error *err;
};

static int corrupt(const struct field_check *fc, const char *key, const char *what)
{
    return logto_error_set(fc->err, LOGTO_E_CORRUPT, "%s: %s %s", fc->path, key, what);
}

static int get_time(const struct field_check *fc, const char *key, int64_t *ret)
{
    json_t *v = json_object_get(fc->obj, key);

    *ret = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return corrupt(fc, key, "is not a non-negative integer");
    *ret = (int64_t)json_integer_value(v);
    return 0;
}

static int get_str(const struct field_check *fc, const char *key, bool required, char **ret)
{
    json_t *v = json_object_get(fc->obj, key);

    if (!v || json_is_null(v))
        return required ? corrupt(fc, key, "is missing") : 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return corrupt(fc, key, "is not a string");
    *ret = strdup(json_string_value(v));
    return *ret ? 0 : LOGTO_OOM(fc->err);
}

static bool key_known(const char *key)
{
    static const char *const keys[] = {
        "version",       "name",
        "sub",           "uid",
        "refresh_token", "refresh_token_at",
        "claims",        "claims_at",
        "auth_at",       "auth_method",
        "verifier",      "verifier_at",
        "suspended",     "refresh_failed_at",
        "refresh_error",
    };
    for (size_t i = 0; i < ELEMENTSOF(keys); i++)
        if (strcmp(keys[i], key) == 0)
            return true;
    return false;
}

static int record_from_json(const struct field_check *fc, const char *name,
                            struct logto_record *rec)
{
    const char *key;
    json_t *v;
    int r;

    json_object_foreach(fc->obj, key,
                        v) if (!key_known(key)) return corrupt(fc, key, "is not a known field");

    v = json_object_get(fc->obj, "version");
    if (!json_is_integer(v))
        return corrupt(fc, "version", "is missing or not an integer");
    if (json_integer_value(v) != LOGTO_RECORD_VERSION)
        return logto_error_set(fc->err, LOGTO_E_CORRUPT, "%s: unsupported record version %lld",
                               fc->path, (long long)json_integer_value(v));

    r = get_str(fc, "name", true, &rec->name);
    if (r < 0)
        return r;
    if (strcmp(rec->name, name) != 0)
        return corrupt(fc, "name", "differs from the file name");
    r = get_str(fc, "sub", true, &rec->sub);
    if (r < 0)
        return r;
    if (!sub_valid(rec->sub))
        return corrupt(fc, "sub", "is not a valid subject");
    v = json_object_get(fc->obj, "uid");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT32_MAX)
        return corrupt(fc, "uid", "is missing or not in 1-2147483647");
    rec->uid = (uint32_t)json_integer_value(v);

    v = json_object_get(fc->obj, "claims");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return corrupt(fc, "claims", "is not an object");
        rec->claims = json_incref(v);
    }
    v = json_object_get(fc->obj, "suspended");
    if (v && !json_is_boolean(v))
        return corrupt(fc, "suspended", "is not a boolean");
    rec->suspended = v && json_is_true(v);

    _cleanup_free_ char *method = NULL;
    r = get_str(fc, "auth_method", false, &method);
    if (r < 0)
        return r;
    if (method && logto_auth_method_from_name(method, &rec->auth_method) < 0)
        return corrupt(fc, "auth_method", "is not a known method");
    r = get_str(fc, "refresh_error", false, &rec->refresh_error);
    if (r < 0)
        return r;
    if (rec->refresh_error && !printable(rec->refresh_error, REFRESH_ERROR_MAX))
        return corrupt(fc, "refresh_error", "is not a short printable text");

    if ((r = get_time(fc, "refresh_token_at", &rec->refresh_token_at)) < 0 ||
        (r = get_time(fc, "claims_at", &rec->claims_at)) < 0 ||
        (r = get_time(fc, "auth_at", &rec->auth_at)) < 0 ||
        (r = get_time(fc, "verifier_at", &rec->verifier_at)) < 0 ||
        (r = get_time(fc, "refresh_failed_at", &rec->refresh_failed_at)) < 0)
        return r;
    return 0;
}

static int load_record(struct logto_store *store, const char *name, struct logto_record **ret,
                       struct logto_error *err)
{
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_json_secret sec[] = { { .key = "refresh_token" }, { .key = "verifier" } };
    const char *bad = NULL;
    char file[LOGTO_NAME_MAX + 8], path[PATH_MAX];
    char *buf = NULL;
    size_t len = 0;
    json_error_t jerr;
    json_t *obj;
    int r;

    if (record_file(name, file, sizeof(file)) < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "not a valid user name for a token record");
    snprintf(path, sizeof(path), "%s/%s", store->dir, file);
    r = logto_file_read_at(store->dirfd, file, path, LOGTO_FILE_SECRET, LOGTO_RECORD_MAX_SIZE, &buf,
                           &len, err);
    if (r < 0)
        return r;
    if (logto_json_cut_secrets(buf, len, sec, ELEMENTSOF(sec), LOGTO_SECRET_MAX, NULL) < 0) {
        logto_freezero(buf, len + 1);
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: not a valid token record", path);
    }
    obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    logto_freezero(buf, len + 1);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        logto_json_secrets_clear(sec, ELEMENTSOF(sec));
        /* Position only: jansson's own text may quote the file. */
        return logto_error_set(err, LOGTO_E_CORRUPT,
                               "%s: not a valid token record (JSON error at line %d, column %d)",
                               path, jerr.line, jerr.column);
    }
    /* What the cut did not take (another type, an escaped key) is no plain secret; nor is one
     * our writer would refuse. */
    for (size_t i = 0; !bad && i < ELEMENTSOF(sec); i++)
        if (sec[i].value && !secret_valid(sec[i].value))
            bad = sec[i].key;
    if (bad || logto_json_secrets_check(obj, sec, ELEMENTSOF(sec), &bad) < 0) {
        json_decref(obj);
        logto_json_secrets_clear(sec, ELEMENTSOF(sec));
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s: %s is not a plain string", path, bad);
    }
    rec = logto_record_new();
    if (!rec) {
        json_decref(obj);
        logto_json_secrets_clear(sec, ELEMENTSOF(sec));
        return LOGTO_OOM(err);
    }
    rec->refresh_token = TAKE_PTR(sec[0].value);
    rec->verifier = TAKE_PTR(sec[1].value);
    r = record_from_json(&(struct field_check){ .obj = obj, .path = path, .err = err }, name, rec);
    json_decref(obj);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(rec);
    return 0;
}

int logto_store_load(const struct logto_store_lock *lock, struct logto_record **ret,
                     struct logto_error *err)
{
    return load_record(lock->store, lock->name, ret, err);
}

int logto_store_read(struct logto_store *store, const char *name, struct logto_record **ret,
                     struct logto_error *err)
{
    return load_record(store, name, ret, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Writing */

static json_t *public_part(const struct logto_record *rec)
{
    json_t *o = json_pack(
        "{s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:I, s:b, s:I}", "version", LOGTO_RECORD_VERSION,
        "name", rec->name, "sub", rec->sub, "uid", (json_int_t)rec->uid, "refresh_token_at",
        (json_int_t)rec->refresh_token_at, "claims_at", (json_int_t)rec->claims_at, "auth_at",
        (json_int_t)rec->auth_at, "auth_method", logto_auth_method_name(rec->auth_method),
        "verifier_at", (json_int_t)rec->verifier_at, "suspended", rec->suspended,
        "refresh_failed_at", (json_int_t)rec->refresh_failed_at);
    if (!o)
        return NULL;
    if ((rec->claims && json_object_set(o, "claims", rec->claims) < 0) ||
        (rec->refresh_error &&
         json_object_set_new(o, "refresh_error", json_string(rec->refresh_error)) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int check_record(const struct logto_record *rec, const char *locked, struct logto_error *err)
{
    if (!rec->name || strcmp(rec->name, locked) != 0)
        return logto_error_set(err, LOGTO_E_INVAL, "record for %s saved under the lock of %s",
                               rec->name ? rec->name : "(no name)", locked);
    if (!rec->sub || !sub_valid(rec->sub))
        return logto_error_set(err, LOGTO_E_INVAL, "record for %s has no valid sub", locked);
    if (rec->uid < 1 || rec->uid > INT32_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "record for %s has no valid UID", locked);
    if ((unsigned)rec->auth_method >= ELEMENTSOF(auth_methods))
        return logto_error_set(err, LOGTO_E_INVAL, "record for %s has an unknown auth method",
                               locked);
    if (rec->claims && !json_is_object(rec->claims))
        return logto_error_set(err, LOGTO_E_INVAL, "record for %s: claims are not an object",
                               locked);
    if (rec->refresh_error && !printable(rec->refresh_error, REFRESH_ERROR_MAX))
        return logto_error_set(err, LOGTO_E_INVAL, "record for %s: refresh_error is not short text",
                               locked);
    if (rec->refresh_token_at < 0 || rec->claims_at < 0 || rec->auth_at < 0 ||
        rec->verifier_at < 0 || rec->refresh_failed_at < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "record for %s has a negative time", locked);
    /* Never quote a secret, not even a bad one. */
    if (rec->refresh_token && !secret_valid(rec->refresh_token))
        return logto_error_set(err, LOGTO_E_INVAL,
                               "record for %s: the refresh token is empty, too long or not "
                               "printable ASCII",
                               locked);
    if (rec->verifier && !secret_valid(rec->verifier))
        return logto_error_set(err, LOGTO_E_INVAL,
                               "record for %s: the verifier is empty, too long or not printable "
                               "ASCII",
                               locked);
    return 0;
}

int logto_store_save(const struct logto_store_lock *lock, const struct logto_record *rec,
                     struct logto_error *err)
{
    static const char *const keys[] = { "refresh_token", "verifier" };
    const char *values[] = { rec->refresh_token, rec->verifier };
    char file[LOGTO_NAME_MAX + 8], path[PATH_MAX];
    _cleanup_secret_ char *text = NULL;
    size_t len = 0;
    json_t *pub;
    int r;

    r = check_record(rec, lock->name, err);
    if (r < 0)
        return r;
    record_file(lock->name, file, sizeof(file));
    snprintf(path, sizeof(path), "%s/%s", lock->store->dir, file);

    pub = public_part(rec);
    if (!pub)
        return logto_error_set(err, LOGTO_E_NOMEM, "cannot serialise the record for %s",
                               lock->name);
    r = logto_json_dump_secrets(pub, keys, values, ELEMENTSOF(keys), &text, &len, err);
    json_decref(pub);
    if (r < 0)
        return r;
    return logto_file_write_at(lock->store->dirfd, file, path, text, len, 0600, err);
}

int logto_store_remove(const struct logto_store_lock *lock, struct logto_error *err)
{
    char file[LOGTO_NAME_MAX + 8];

    record_file(lock->name, file, sizeof(file));
    if (unlinkat(lock->store->dirfd, file, 0) < 0)
        return logto_error_set(err, errno == ENOENT ? LOGTO_E_NOTFOUND : LOGTO_E_IO,
                               "cannot remove %s/%s: %s", lock->store->dir, file, strerror(errno));
    if (fsync(lock->store->dirfd) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot sync %s: %s", lock->store->dir,
                               strerror(errno));
    return 0;
}

static void companion_file(const struct logto_store_lock *lock, const char *suffix, char *file,
                           size_t file_size, char *path, size_t path_size)
{
    snprintf(file, file_size, "%s.%s", lock->name, suffix);
    snprintf(path, path_size, "%s/%s", lock->store->dir, file);
}

void logto_store_companion_path(const struct logto_store_lock *lock, const char *suffix, char *buf,
                                size_t n)
{
    char file[LOGTO_NAME_MAX + 32];

    companion_file(lock, suffix, file, sizeof(file), buf, n);
}

int logto_store_read_companion(const struct logto_store_lock *lock, const char *suffix,
                               size_t max_size, char **ret_buf, size_t *ret_len,
                               struct logto_error *err)
{
    char file[LOGTO_NAME_MAX + 32], path[PATH_MAX];

    companion_file(lock, suffix, file, sizeof(file), path, sizeof(path));
    return logto_file_read_at(lock->store->dirfd, file, path, LOGTO_FILE_SECRET, max_size, ret_buf,
                              ret_len, err);
}

int logto_store_write_companion(const struct logto_store_lock *lock, const char *suffix,
                                const char *buf, size_t len, struct logto_error *err)
{
    char file[LOGTO_NAME_MAX + 32], path[PATH_MAX];

    companion_file(lock, suffix, file, sizeof(file), path, sizeof(path));
    return logto_file_write_at(lock->store->dirfd, file, path, buf, len, 0600, err);
}

int logto_store_remove_companion(const struct logto_store_lock *lock, const char *suffix,
                                 struct logto_error *err)
{
    char file[LOGTO_NAME_MAX + 32], path[PATH_MAX];

    companion_file(lock, suffix, file, sizeof(file), path, sizeof(path));
    if (unlinkat(lock->store->dirfd, file, 0) < 0)
        return logto_error_set(err, errno == ENOENT ? LOGTO_E_NOTFOUND : LOGTO_E_IO,
                               "cannot remove %s: %s", path, strerror(errno));
    if (fsync(lock->store->dirfd) < 0)
        return logto_error_set(err, LOGTO_E_IO, "cannot sync %s: %s", lock->store->dir,
                               strerror(errno));
    return 0;
}

int logto_store_list(struct logto_store *store, char ***ret_names, struct logto_error *err)
{
    _cleanup_strv_ char **names = calloc(1, sizeof(char *));
    struct dirent *de;
    DIR *d;
    int fd;

    if (!names)
        return LOGTO_OOM(err);
    fd = openat(store->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return logto_error_set(err, LOGTO_E_IO, "cannot list %s: %s", store->dir, strerror(errno));
    }
    errno = 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char name[LOGTO_NAME_MAX + 1];
        if (len <= 5 || len - 5 > LOGTO_NAME_MAX || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        memcpy(name, de->d_name, len - 5);
        name[len - 5] = '\0';
        if (!logto_name_valid(name))
            continue; /* temp files start with '.', which no valid name does */
        if (logto_strv_push(&names, name) < 0) {
            closedir(d);
            return LOGTO_OOM(err);
        }
    }
    closedir(d);
    logto_strv_sort(names);
    *ret_names = TAKE_PTR(names);
    return 0;
}
