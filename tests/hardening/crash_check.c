/* SPDX-License-Identifier: MIT */
/*
 * crash_check: read everything a crash could have left half-written, through the product's own
 * readers, and print what it found (never a secret), for tests/hardening/crash.sh.
 *
 *   crash_check CONFIG
 *
 * For the state_dir and cache_dir of CONFIG:
 *   record NAME rt=H8|- sub=SUB claims_at=N   every token record (logto_store_read: complete,
 *                                            valid, safe); H8 = first 8 bytes of SHA-256 of the
 *                                            refresh token, hex
 *   snapshot users=N groups=N digest=H16     the snapshot (logto_snapshot_read: every check of
 *                                            the NSS reader), digest of its content without the
 *                                            times (generated_at, updated_at), or "snapshot absent"
 *   status ok                                sync.status (logto_sync_status_read)
 *   attempts NAME failures=N offline=N       every failed-attempt count (logto_attempts_load)
 *   keys NAME ok                             every SSH key cache file (logto_sync_keys_load)
 *   json FILE ok                             m2m-token.json, discovery.json, jwks.json: whole JSON
 *   temp N                                   writers' temporary files (".NAME.xxxxxxxx")
 * A file that cannot be read gives "bad WHAT: message" and exit status 1.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attempts.h"
#include "conf.h"
#include "context.h"
#include "directory.h"
#include "fileio.h"
#include "hash.h"
#include "memory.h"
#include "store.h"
#include "sync.h"
#include "syncstatus.h"

static int bad;

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha_str(struct logto_sha256 *s, const char *v)
{
    logto_sha256_update(s, v ? v : "\x01", v ? strlen(v) + 1 : 1);
}

static void sha_u32(struct logto_sha256 *s, uint32_t v)
{
    logto_sha256_update(s, &v, sizeof(v));
}

static void check_records(const struct logto_ctx *ctx)
{
    struct logto_error err = { 0 };
    struct logto_store *store = NULL;
    char **names = NULL;

    if (logto_store_open(ctx, &store, &err) < 0 || logto_store_list(store, &names, &err) < 0) {
        printf("bad tokens: %s\n", err.message);
        bad = 1;
        logto_store_close(store);
        return;
    }
    for (size_t i = 0; names[i]; i++) {
        struct logto_record *rec = NULL;
        if (logto_store_read(store, names[i], &rec, &err) < 0) {
            printf("bad record %s: %s\n", names[i], err.message);
            bad = 1;
            continue;
        }
        char rt[17] = "-";
        if (rec->refresh_token) {
            struct logto_sha256 s;
            uint8_t md[LOGTO_SHA256_SIZE];
            logto_sha256_init(&s);
            logto_sha256_update(&s, rec->refresh_token, strlen(rec->refresh_token));
            logto_sha256_final(&s, md);
            hex(md, 8, rt);
        }
        printf("record %s rt=%s sub=%s claims_at=%lld\n", names[i], rt, rec->sub,
               (long long)rec->claims_at);
        logto_record_free(rec);
    }
    for (size_t i = 0; names[i]; i++)
        free(names[i]);
    free(names);
    logto_store_close(store);
}

static void check_snapshot(const char *state)
{
    char path[4096];
    struct logto_error err = { 0 };
    struct logto_directory *dir = NULL;
    struct logto_sha256 s;
    uint8_t md[LOGTO_SHA256_SIZE];
    char digest[33];
    int r;

    snprintf(path, sizeof(path), "%s/%s", state, LOGTO_SNAPSHOT_NAME);
    r = logto_snapshot_read(path, &dir, &err);
    if (r == -LOGTO_E_NOTFOUND) {
        printf("snapshot absent\n");
        return;
    }
    if (r < 0) {
        printf("bad snapshot: %s\n", err.message);
        bad = 1;
        return;
    }
    logto_sha256_init(&s);
    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        sha_str(&s, u->name);
        sha_u32(&s, u->uid);
        sha_u32(&s, u->gid);
        sha_str(&s, u->gecos);
        sha_str(&s, u->home);
        sha_str(&s, u->shell);
        sha_str(&s, u->sub);
        sha_u32(&s, u->flags);
    }
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        sha_str(&s, g->name);
        sha_u32(&s, g->gid);
        sha_u32(&s, g->kind);
        sha_str(&s, g->source);
        for (char **m = g->members; m && *m; m++)
            sha_str(&s, *m);
        sha_str(&s, NULL);
    }
    logto_sha256_final(&s, md);
    hex(md, 16, digest);
    printf("snapshot users=%zu groups=%zu digest=%s\n", dir->n_users, dir->n_groups, digest);
    logto_directory_free(dir);
}

static void check_json(const char *dir, const char *name)
{
    char path[4096];
    char *buf = NULL;
    size_t len = 0;
    struct logto_error err = { 0 };
    json_error_t jerr;
    int r;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    r = logto_file_read_trusted(path, LOGTO_FILE_PUBLIC, 64u << 20, &buf, &len, &err);
    if (r == -LOGTO_E_NOTFOUND)
        return;
    if (r < 0) {
        printf("bad json %s: %s\n", name, err.message);
        bad = 1;
        return;
    }
    json_t *doc = json_loadb(buf, len, 0, &jerr);
    logto_freezero(buf, len);
    if (!doc || !json_is_object(doc)) {
        printf("bad json %s: not a whole JSON object (%s)\n", name, jerr.text);
        bad = 1;
    } else
        printf("json %s ok\n", name);
    json_decref(doc);
}

/* Every <name>.attempts in tokens/, read under the user's lock like the module does. */
static void check_attempts(const struct logto_ctx *ctx, const char *state)
{
    static const char suffix[] = "." LOGTO_ATTEMPTS_SUFFIX;
    char path[4096];
    struct logto_store *store = NULL;
    struct logto_error err = { 0 };
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", state, LOGTO_TOKENS_SUBDIR);
    d = opendir(path);
    if (!d || logto_store_open(ctx, &store, &err) < 0) {
        if (d)
            closedir(d);
        return;
    }
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char name[256];
        if (de->d_name[0] == '.' || len <= strlen(suffix) || len - strlen(suffix) >= sizeof(name) ||
            strcmp(de->d_name + len - strlen(suffix), suffix) != 0)
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(len - strlen(suffix)), de->d_name);
        struct logto_store_lock *lock = NULL;
        struct logto_attempts a;
        if (logto_store_lock(store, name, 10000, &lock, &err) < 0 ||
            logto_attempts_load(lock, &a, &err) < 0) {
            printf("bad attempts %s: %s\n", name, err.message);
            bad = 1;
        } else
            printf("attempts %s failures=%zu offline=%lld\n", name, a.n_failures,
                   (long long)a.offline_failures);
        logto_store_unlock(lock);
    }
    closedir(d);
    logto_store_close(store);
}

static void check_keys(const struct logto_ctx *ctx, const char *state)
{
    char path[4096];
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", state, LOGTO_KEYS_SUBDIR);
    d = opendir(path);
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        /* The first line names the sub ("# logto-keys v1 sub=SUB"); the loader checks the file
         * against it, so a torn or foreign file is refused. */
        char file[8192], line[512] = "", sub[256] = "";
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        FILE *f = fopen(file, "re");
        if (f) {
            if (fgets(line, sizeof(line), f)) {
                char *p = strstr(line, " sub=");
                snprintf(sub, sizeof(sub), "%s", p ? p + 5 : "");
                sub[strcspn(sub, "\n")] = '\0';
            }
            fclose(f);
        }
        struct logto_error err = { 0 };
        char **keys = NULL;
        if (logto_sync_keys_load(ctx, de->d_name, sub, &keys, &err) < 0) {
            printf("bad keys %s: %s\n", de->d_name, err.message);
            bad = 1;
        } else
            printf("keys %s ok\n", de->d_name);
        for (char **k = keys; k && *k; k++)
            free(*k);
        free(keys);
    }
    closedir(d);
}

/* Writers' temporary files: ".NAME.XXXXXXXX" (fileio.c). */
static size_t count_temp(const char *dir)
{
    struct dirent *de;
    size_t n = 0;
    DIR *d = opendir(dir);

    if (!d)
        return 0;
    while ((de = readdir(d)))
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };
    struct logto_ctx ctx = { 0 };
    struct logto_sync_status *st = NULL;
    char sub[4096];
    size_t temp;
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: crash_check CONFIG\n");
        return 2;
    }
    if (logto_config_load(argv[1], &cfg, &err) < 0) {
        fprintf(stderr, "crash_check: %s\n", err.message);
        return 2;
    }
    ctx.cfg = cfg;
    const char *state = cfg->state_dir ? cfg->state_dir : LOGTO_STATE_DIR;
    const char *cache = cfg->cache_dir ? cfg->cache_dir : LOGTO_CACHE_DIR;

    check_records(&ctx);
    check_snapshot(state);
    r = logto_sync_status_read(&ctx, &st, &err);
    if (r == 0)
        printf("status ok\n");
    else if (r != -LOGTO_E_NOTFOUND) {
        printf("bad status: %s\n", err.message);
        bad = 1;
    }
    logto_sync_status_free(st);
    check_attempts(&ctx, state);
    check_keys(&ctx, state);
    check_json(state, "m2m-token.json");
    check_json(cache, "discovery.json");
    check_json(cache, "jwks.json");
    temp = count_temp(state);
    snprintf(sub, sizeof(sub), "%s/%s", state, LOGTO_TOKENS_SUBDIR);
    temp += count_temp(sub);
    snprintf(sub, sizeof(sub), "%s/%s", state, LOGTO_KEYS_SUBDIR);
    temp += count_temp(sub);
    temp += count_temp(cache);
    printf("temp %zu\n", temp);
    logto_config_free(cfg);
    return bad;
}
