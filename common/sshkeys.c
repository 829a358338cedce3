/* SPDX-License-Identifier: MIT */
/*
 * SSH public keys from Logto (custom_data) and their cache under <state_dir>/keys (sync.h).
 * Apart from the sync itself, so that a sign-in can refresh the cache without the network code.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "identity.h"
#include "log.h"
#include "memory.h"
#include "names.h"
#include "sync.h"
#include "util.h"

#define COMMENT_MAX 1024 /* bytes of an SSH key comment */
#define KEYS_HEADER "# logto-keys v1 sub="

/* ------------------------------------------------------------------------------------------ */
/* SSH public keys */

static const char *const key_types[] = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

/* Canonical base64 (padded, no whitespace) into out (at least len / 4 * 3 bytes). */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t *ret_len)
{
    size_t o = 0, pad = 0;

    if (len == 0 || len % 4 != 0)
        return -1;
    if (in[len - 1] == '=')
        pad++;
    if (in[len - 2] == '=')
        pad++;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (size_t k = 0; k < 4; k++) {
            bool padding = i + k >= len - pad;
            v[k] = padding ? 0 : logto_base64_value(in[i + k], '+', '/');
            if (v[k] < 0 || (padding && in[i + k] != '='))
                return -1;
        }
        uint32_t q =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(q >> 16);
        out[o++] = (uint8_t)(q >> 8);
        out[o++] = (uint8_t)q;
    }
    /* Canonical: the bits under the padding are zero. */
    if (pad == 1 && (logto_base64_value(in[len - 2], '+', '/') & 0x3) != 0)
        return -1;
    if (pad == 2 && (logto_base64_value(in[len - 3], '+', '/') & 0xf) != 0)
        return -1;
    *ret_len = o - pad;
    return 0;
}

int logto_sync_ssh_key_check(const char *line, char **ret, const char **ret_why)
{
    _cleanup_free_ uint8_t *blob = NULL;
    const char *p = line, *type, *body, *comment, *type_ok = NULL;
    size_t type_len, body_len, comment_len, blob_len;

    *ret = NULL;
    *ret_why = NULL;
    if (!line || !line[0]) {
        *ret_why = "empty";
        return -LOGTO_E_INVAL;
    }
    if (strlen(line) > LOGTO_IDENTITY_MAX_SSH_KEY) {
        *ret_why = "too long";
        return -LOGTO_E_INVAL;
    }
    for (const unsigned char *c = (const unsigned char *)line; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            *ret_why = "contains control characters (one key per line, no tabs)";
            return -LOGTO_E_INVAL;
        }
    while (*p == ' ')
        p++;
    type = p;
    type_len = strcspn(type, " ");
    for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
        if (strlen(key_types[i]) == type_len && memcmp(key_types[i], type, type_len) == 0)
            type_ok = key_types[i];
    if (!type_ok) {
        *ret_why = "unknown key type, or authorized_keys options (not accepted from the IdP)";
        return -LOGTO_E_INVAL;
    }
    p = type + type_len;
    while (*p == ' ')
        p++;
    body = p;
    body_len = strcspn(body, " ");
    if (body_len == 0) {
        *ret_why = "no key data";
        return -LOGTO_E_INVAL;
    }
    blob = malloc(body_len / 4 * 3 + 3);
    if (!blob)
        return -LOGTO_E_NOMEM;
    if (b64_decode(body, body_len, blob, &blob_len) < 0) {
        *ret_why = "key data is not canonical base64";
        return -LOGTO_E_INVAL;
    }
    /* The blob is an SSH string of the key type, then the key itself. */
    if (blob_len < 4 + type_len + 4 ||
        ((uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3]) !=
            type_len ||
        memcmp(blob + 4, type_ok, type_len) != 0) {
        *ret_why = "key data does not match the key type";
        return -LOGTO_E_INVAL;
    }
    p = body + body_len;
    while (*p == ' ')
        p++;
    comment = p;
    comment_len = strlen(comment);
    while (comment_len > 0 && comment[comment_len - 1] == ' ')
        comment_len--;
    if (comment_len > COMMENT_MAX) {
        *ret_why = "comment too long";
        return -LOGTO_E_INVAL;
    }
    *ret = comment_len ? logto_asprintf("%s %.*s %.*s", type_ok, (int)body_len, body,
                                        (int)comment_len, comment)
                       : logto_asprintf("%s %.*s", type_ok, (int)body_len, body);
    return *ret ? 0 : -LOGTO_E_NOMEM;
}

int logto_sync_ssh_keys(const struct logto_ctx *ctx, const struct logto_identity *id, char ***ret,
                        size_t *ret_skipped, struct logto_error *err)
{
    _cleanup_strv_ char **keys = calloc(1, sizeof(char *));
    size_t skipped = 0;

    if (!keys)
        return LOGTO_OOM(err);
    for (size_t i = 0; id->ssh_keys && id->ssh_keys[i]; i++) {
        const char *why = NULL;
        char *norm = NULL;
        int r = logto_sync_ssh_key_check(id->ssh_keys[i], &norm, &why);
        if (r == -LOGTO_E_NOMEM)
            return LOGTO_OOM(err);
        if (r < 0) {
            logto_log(&ctx->log, LOG_NOTICE, "keys-skip user=%s key=%zu reason=\"%s\"", id->name, i,
                      why);
            skipped++;
            continue;
        }
        if (logto_strv_contains(keys, norm)) {
            free(norm);
            continue;
        }
        if (logto_strv_push_take(&keys, norm) < 0)
            return LOGTO_OOM(err);
    }
    if (ret_skipped)
        *ret_skipped += skipped;
    *ret = TAKE_PTR(keys);
    return 0;
}

static char *keys_dir_path(const struct logto_ctx *ctx)
{
    const char *state = ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
    return logto_asprintf("%s/%s", state, LOGTO_KEYS_SUBDIR);
}

static int keys_dir_open(const struct logto_ctx *ctx, bool create, int *ret_fd, char **ret_path,
                         struct logto_error *err)
{
    _cleanup_free_ char *path = keys_dir_path(ctx);
    int r;

    if (!path)
        return LOGTO_OOM(err);
    r = create ? logto_dir_ensure(path, 0700, true, ret_fd, err)
               : logto_dir_open_trusted(path, true, ret_fd, err);
    if (r < 0)
        return r;
    *ret_path = TAKE_PTR(path);
    return 0;
}

static char *keys_text(const char *sub, char *const *keys)
{
    _cleanup_free_ char *body = logto_strv_join(keys, "\n");
    return body ? logto_asprintf("%s%s\n%s\n", KEYS_HEADER, sub, body) : NULL;
}

static int keys_store_at(int dirfd, const char *dirpath, const char *name, const char *sub,
                         char *const *keys, struct logto_error *err)
{
    _cleanup_free_ char *path = NULL, *text = NULL;
    char *old = NULL; /* freed by hand: gcc 12's analyzer loses a third cleanup variable here */
    size_t old_len = 0;
    struct logto_error e = { 0 };
    bool same;
    int r;

    if (!logto_name_valid(name))
        return logto_error_set(err, LOGTO_E_INVAL, "not a valid user name");
    path = logto_asprintf("%s/%s", dirpath, name);
    if (!path)
        return LOGTO_OOM(err);
    if (!keys || !keys[0]) {
        if (unlinkat(dirfd, name, 0) == 0)
            return 1;
        if (errno == ENOENT)
            return 0;
        return logto_error_set(err, LOGTO_E_IO, "cannot remove %s: %s", path, strerror(errno));
    }
    if (!sub || !sub[0] || strchr(sub, '\n'))
        return logto_error_set(err, LOGTO_E_INVAL, "no sub to bind the keys of %s to", name);
    text = keys_text(sub, keys);
    if (!text)
        return LOGTO_OOM(err);
    r = logto_file_read_at(dirfd, name, path, LOGTO_FILE_SECRET, LOGTO_KEYS_FILE_MAX, &old,
                           &old_len, &e);
    same = r >= 0 && old_len == strlen(text) && memcmp(old, text, old_len) == 0;
    free(old);
    if (same)
        return 0;
    r = logto_file_write_at(dirfd, name, path, text, strlen(text), 0600, err);
    return r < 0 ? r : 1;
}

int logto_sync_keys_store(const struct logto_ctx *ctx, const char *name, const char *sub,
                          char *const *keys, struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1;
    _cleanup_free_ char *dirpath = NULL;
    int r = keys_dir_open(ctx, true, &dirfd, &dirpath, err);

    if (r < 0)
        return r;
    return keys_store_at(dirfd, dirpath, name, sub, keys, err);
}

int logto_sync_keys_load(const struct logto_ctx *ctx, const char *name, const char *sub,
                         char ***ret, struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1;
    _cleanup_free_ char *dirpath = NULL, *path = NULL, *header = NULL;
    _cleanup_strv_ char **keys = calloc(1, sizeof(char *));
    size_t len = 0;
    char *line, *save = NULL;
    int r;

    if (!keys)
        return LOGTO_OOM(err);
    if (!logto_name_valid(name))
        return logto_error_set(err, LOGTO_E_NOTFOUND, "not a valid user name");
    r = keys_dir_open(ctx, false, &dirfd, &dirpath, err);
    if (r < 0)
        return r;
    path = logto_asprintf("%s/%s", dirpath, name);
    header = logto_asprintf("%s%s", KEYS_HEADER, sub ? sub : "");
    if (!path || !header)
        return LOGTO_OOM(err);
    _cleanup_free_ char *buf = NULL;
    r = logto_file_read_at(dirfd, name, path, LOGTO_FILE_SECRET, LOGTO_KEYS_FILE_MAX, &buf, &len,
                           err);
    if (r < 0)
        return r;
    if (strlen(buf) != len)
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s contains a NUL byte", path);
    line = strtok_r(buf, "\n", &save);
    if (!line || !logto_startswith(line, KEYS_HEADER))
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s is not a key cache file", path);
    if (!sub || strcmp(line, header) != 0)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "%s belongs to another Logto user", path);
    while ((line = strtok_r(NULL, "\n", &save))) {
        const char *why = NULL;
        char *norm = NULL;
        r = logto_sync_ssh_key_check(line, &norm, &why);
        if (r == -LOGTO_E_NOMEM)
            return LOGTO_OOM(err);
        if (r < 0) {
            logto_log(&ctx->log, LOG_WARNING, "keys-cache-skip user=%s reason=\"%s\"", name, why);
            continue;
        }
        if (logto_strv_push_take(&keys, norm) < 0)
            return LOGTO_OOM(err);
    }
    *ret = TAKE_PTR(keys);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove cache files of names not in keep (sorted). */
static int keys_prune(int dirfd, const char *dirpath, char **keep, size_t n_keep, size_t *removed,
                      struct logto_error *err)
{
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return logto_error_set(err, LOGTO_E_IO, "cannot list %s: %s", dirpath, strerror(errno));
    }
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        /* Temp files of a writer start with '.', which no valid name does. */
        if (!logto_name_valid(name))
            continue;
        if (n_keep && bsearch(&name, keep, n_keep, sizeof(char *), cmp_str))
            continue;
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
            r = logto_error_set(err, LOGTO_E_IO, "cannot remove %s/%s: %s", dirpath, name,
                                strerror(errno));
            break;
        }
        (*removed)++;
    }
    closedir(d);
    return r;
}

/* Cache the SSH keys of every user in the snapshot; remove the files of everybody else. */
int logto_sync_keys_update(const struct logto_ctx *ctx, const struct logto_sync_user *users,
                           size_t n, const bool *keep, struct logto_sync_report *report,
                           struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1;
    _cleanup_free_ char *dirpath = NULL;
    _cleanup_strv_ char **with_keys = calloc(1, sizeof(char *));
    int r;

    if (!with_keys)
        return LOGTO_OOM(err);
    r = keys_dir_open(ctx, true, &dirfd, &dirpath, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        _cleanup_strv_ char **keys = NULL;
        /* Suspended users keep resolving, but no key of theirs is kept around. */
        if (!keep[i] || users[i].id->suspended)
            continue;
        r = logto_sync_ssh_keys(ctx, users[i].id, &keys, NULL, err);
        if (r < 0)
            return r;
        if (!keys[0])
            continue;
        r = keys_store_at(dirfd, dirpath, users[i].id->name, users[i].id->sub, keys, err);
        if (r < 0)
            return r;
        report->keys_written += (size_t)r;
        report->keys_users++;
        if (logto_strv_push(&with_keys, users[i].id->name) < 0)
            return LOGTO_OOM(err);
    }
    logto_strv_sort(with_keys);
    return keys_prune(dirfd, dirpath, with_keys, logto_strv_length(with_keys),
                      &report->keys_removed, err);
}
