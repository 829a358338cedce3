/* SPDX-License-Identifier: MIT */
/*
 * logtoctl cache clear: remove cached files (discovery, JWKS, token records, a user's failed
 * sign-in counts, the M2M token, the SSH key cache) or empty the directory snapshot. Only names we
 * know, only inside cache_dir and state_dir, each removed with unlinkat() on a directory that
 * passed logto_dir_open_trusted: a symbolic link planted in place of a cache file is removed as a
 * link, its target never touched.
 *
 * logtoctl cache expire --user NAME: make NAME's cached claims stale (sss_cache -u): the token
 * record's claims_at goes to 0, so the next PAM account or session check asks the IdP again
 * (refresh token or Management API) and, while it cannot be reached, the cached claims no longer
 * decide anything. The refresh token stays: the session goes on.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "attempts.h"
#include "cli.h"
#include "conf.h"
#include "directory.h"
#include "fileio.h"
#include "lookup.h"
#include "mgmt.h"
#include "names.h"
#include "oidc.h"
#include "store.h"
#include "sync.h"
#include "util.h"

/* The lock common/auth.c holds around its read-modify-write of the snapshot (sign-ins). */
#define DIRECTORY_LOCK_NAME "directory.update.lock"
#define LOCK_TIMEOUT_MS     10000

static const char *state_dir(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
}

static const char *cache_dir(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->cache_dir ? ctx->cfg->cache_dir : LOGTO_CACHE_DIR;
}

/* ---------------------------------------------------------------- snapshot edits */

/*
 * Edit the snapshot under the lock sign-ins take: remove user `name` (remove = true; only when
 * its sub is `sub`, if given: a name that now belongs to another Logto user is left alone), or
 * replace the snapshot with an empty one (name NULL). A missing snapshot is left missing.
 * *ret_changed says whether anything was written.
 */
static int snapshot_edit(const struct logto_ctx *ctx, const char *name, const char *sub,
                         bool *ret_changed, struct logto_error *err)
{
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    _cleanup_free_ char *path = logto_asprintf("%s/%s", state_dir(ctx), LOGTO_SNAPSHOT_NAME);
    _cleanup_close_ int dirfd = -1, lockfd = -1;
    int r;

    *ret_changed = false;
    if (!path)
        return LOGTO_OOM(err);
    r = logto_dir_open_trusted(state_dir(ctx), false, &dirfd, err);
    if (r == -LOGTO_E_NOTFOUND)
        return 0;
    if (r < 0)
        return r;
    r = logto_lock_at(dirfd, DIRECTORY_LOCK_NAME, DIRECTORY_LOCK_NAME, LOCK_TIMEOUT_MS, &lockfd,
                      err);
    if (r < 0)
        return r;
    if (!name) {
        struct stat st;
        if (fstatat(dirfd, LOGTO_SNAPSHOT_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return errno == ENOENT ? 0
                                   : logto_error_set(err, LOGTO_E_IO, "cannot access %s: %s", path,
                                                     strerror(errno));
        dir = logto_directory_new();
        if (!dir)
            return LOGTO_OOM(err);
    } else {
        const struct logto_dir_user *u = NULL;
        r = logto_snapshot_read(path, &dir, err);
        if (r == -LOGTO_E_NOTFOUND)
            return 0;
        if (r < 0)
            return r;
        for (size_t i = 0; i < dir->n_users && !u; i++)
            if (strcmp(dir->users[i].name, name) == 0)
                u = &dir->users[i];
        if (!u || (sub && strcmp(u->sub, sub) != 0))
            return 0;
        _cleanup_free_ char *usub = strdup(u->sub);
        if (!usub)
            return LOGTO_OOM(err);
        r = logto_directory_remove_user(dir, usub);
        if (r < 0)
            return logto_error_set(err, logto_errc_from(r), "cannot remove %s from %s", name, path);
    }
    dir->generated_at = logto_now(ctx);
    r = logto_snapshot_write(path, dir, err);
    if (r < 0)
        return r;
    *ret_changed = true;
    return 0;
}

int cli_snapshot_forget(const struct logto_ctx *ctx, const char *name, const char *sub,
                        bool *ret_changed, struct logto_error *err)
{
    struct logto_error kerr = { 0 };
    int r = snapshot_edit(ctx, name, sub, ret_changed, err);

    /* The SSH key cache goes with the entry: nobody may log in with cached keys any more. */
    if (r >= 0 && logto_sync_keys_store(ctx, name, NULL, NULL, &kerr) < 0)
        logto_log(&ctx->log, LOG_WARNING, "keys-cache-write-failed user=%s reason=\"%s\"", name,
                  kerr.message);
    return r;
}

/* ---------------------------------------------------------------- removing files */

struct cleared {
    const char *what; /* "discovery", "jwks", "token", "m2m-token", "keys", "snapshot",
                         "lookups" */
    char *path;
    const char *result; /* "removed", "removed-symlink", "emptied", "absent", "skipped", "failed" */
    char *message;      /* skipped / failed: why */
};

struct clear_report {
    struct cleared *items;
    size_t n;
    bool failed;
};

static void report_done(struct clear_report *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        free(rep->items[i].path);
        free(rep->items[i].message);
    }
    free(rep->items);
}

static int report_add(struct clear_report *rep, const char *what, const char *dir, const char *name,
                      const char *result, const char *message)
{
    struct cleared *items = realloc(rep->items, (rep->n + 1) * sizeof(*items));

    if (!items)
        return -LOGTO_E_NOMEM;
    rep->items = items;
    items[rep->n] = (struct cleared){
        .what = what,
        .path = logto_asprintf("%s%s%s", dir, name ? "/" : "", name ? name : ""),
        .result = result,
        .message = message ? strdup(message) : NULL,
    };
    if (!items[rep->n].path || (message && !items[rep->n].message)) {
        free(items[rep->n].path);
        free(items[rep->n].message);
        return -LOGTO_E_NOMEM;
    }
    rep->n++;
    if (strcmp(result, "failed") == 0 || strcmp(result, "skipped") == 0)
        rep->failed = true;
    return 0;
}

/* Remove dir/name: a regular file or a symbolic link (the link itself), nothing else. */
static int remove_at(struct clear_report *rep, const char *what, int dirfd, const char *dir,
                     const char *name)
{
    struct stat st;
    char msg[256];

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return report_add(rep, what, dir, name, "absent", NULL);
        snprintf(msg, sizeof(msg), "cannot access it: %s", strerror(errno));
        return report_add(rep, what, dir, name, "failed", msg);
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return report_add(rep, what, dir, name, "skipped",
                          "not a regular file or symbolic link: left alone");
    if (unlinkat(dirfd, name, 0) < 0) {
        snprintf(msg, sizeof(msg), "cannot remove it: %s", strerror(errno));
        return report_add(rep, what, dir, name, "failed", msg);
    }
    (void)fsync(dirfd);
    return report_add(rep, what, dir, name, S_ISLNK(st.st_mode) ? "removed-symlink" : "removed",
                      S_ISLNK(st.st_mode) ? "a symbolic link: removed, its target not touched"
                                          : NULL);
}

/* Open a directory we may remove files from; a missing one is reported as absent. */
static int open_dir(struct clear_report *rep, const char *what, const char *dir, bool private_dir,
                    int *ret_fd)
{
    struct logto_error e = { 0 };
    int r = logto_dir_open_trusted(dir, private_dir, ret_fd, &e);

    if (r == -LOGTO_E_NOTFOUND) {
        *ret_fd = -1;
        return report_add(rep, what, dir, NULL, "absent", NULL) < 0 ? -LOGTO_E_NOMEM : 0;
    }
    if (r < 0) {
        *ret_fd = -1;
        return report_add(rep, what, dir, NULL, "failed", e.message) < 0 ? -LOGTO_E_NOMEM : 0;
    }
    return 1;
}

static int clear_cache_file(struct cli *cli, struct clear_report *rep, const char *what,
                            const char *name)
{
    _cleanup_close_ int fd = -1;
    int r = open_dir(rep, what, cache_dir(&cli->ctx), false, &fd);

    return r <= 0 ? r : remove_at(rep, what, fd, cache_dir(&cli->ctx), name);
}

static int clear_token(struct clear_report *rep, struct logto_store *store, const char *dir,
                       const char *name)
{
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    struct logto_error e = { 0 };
    _cleanup_free_ char *path = NULL;
    char file[LOGTO_NAME_MAX + 8];
    struct stat st;
    bool link;
    int r;

    snprintf(file, sizeof(file), "%s.json", name);
    path = logto_asprintf("%s/%s", dir, file);
    if (!path)
        return -LOGTO_E_NOMEM;
    r = logto_store_lock(store, name, LOCK_TIMEOUT_MS, &lock, &e);
    if (r < 0)
        return report_add(rep, "token", dir, file, "failed", e.message);
    /* For the report only: logto_store_remove unlinks the name, never what a link points to. */
    if (lstat(path, &st) < 0)
        st.st_mode = S_IFREG;
    link = S_ISLNK(st.st_mode);
    if (!S_ISREG(st.st_mode) && !link)
        return report_add(rep, "token", dir, file, "skipped",
                          "not a regular file or symbolic link: left alone");
    r = logto_store_remove(lock, &e);
    if (r == -LOGTO_E_NOTFOUND)
        return report_add(rep, "token", dir, file, "absent", NULL);
    return report_add(rep, "token", dir, file,
                      r < 0  ? "failed"
                      : link ? "removed-symlink"
                             : "removed",
                      r < 0  ? e.message
                      : link ? "a symbolic link: removed, its target not touched"
                             : NULL);
}

/* A user's failed sign-in counts (attempts.h), under the user's lock: the host limit and the
 * offline limits start afresh. */
static int clear_attempts(struct cli *cli, struct clear_report *rep, const char *user)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_free_ char *dir = logto_asprintf("%s/%s", state_dir(&cli->ctx), LOGTO_TOKENS_SUBDIR);
    char file[LOGTO_NAME_MAX + 16];
    struct logto_error e = { 0 };
    int r;

    if (!dir)
        return -LOGTO_E_NOMEM;
    snprintf(file, sizeof(file), "%s.%s", user, LOGTO_ATTEMPTS_SUFFIX);
    r = logto_store_open(&cli->ctx, &store, &e);
    if (r >= 0)
        r = logto_store_lock(store, user, LOCK_TIMEOUT_MS, &lock, &e);
    if (r >= 0)
        r = logto_store_remove_companion(lock, LOGTO_ATTEMPTS_SUFFIX, &e);
    if (r == -LOGTO_E_NOTFOUND)
        return report_add(rep, "attempts", dir, file, "absent", NULL);
    return report_add(rep, "attempts", dir, file, r < 0 ? "failed" : "removed",
                      r < 0 ? e.message : NULL);
}

static int clear_tokens(struct cli *cli, struct clear_report *rep, const char *user)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_strv_ char **names = NULL;
    _cleanup_free_ char *dir = logto_asprintf("%s/%s", state_dir(&cli->ctx), LOGTO_TOKENS_SUBDIR);
    struct logto_error e = { 0 };
    int r;

    if (!dir)
        return -LOGTO_E_NOMEM;
    r = logto_store_open(&cli->ctx, &store, &e);
    if (r < 0)
        return report_add(rep, "token", dir, NULL, "failed", e.message);
    if (user)
        return clear_token(rep, store, dir, user);
    r = logto_store_list(store, &names, &e);
    if (r < 0)
        return report_add(rep, "token", dir, NULL, "failed", e.message);
    if (!names[0])
        return report_add(rep, "token", dir, NULL, "absent", NULL);
    for (size_t i = 0; names[i]; i++)
        if ((r = clear_token(rep, store, dir, names[i])) < 0)
            return r;
    return 0;
}

static int clear_keys(struct cli *cli, struct clear_report *rep)
{
    _cleanup_free_ char *dir = logto_asprintf("%s/%s", state_dir(&cli->ctx), LOGTO_KEYS_SUBDIR);
    _cleanup_strv_ char **names = calloc(1, sizeof(char *));
    _cleanup_close_ int fd = -1;
    struct dirent *de;
    DIR *d;
    int r, lfd;

    if (!dir || !names)
        return -LOGTO_E_NOMEM;
    r = open_dir(rep, "keys", dir, true, &fd);
    if (r <= 0)
        return r;
    lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0 || !(d = fdopendir(lfd))) {
        if (lfd >= 0)
            close(lfd);
        return report_add(rep, "keys", dir, NULL, "failed", strerror(errno));
    }
    /* Only the files the key cache writes: one per valid user name. */
    while ((de = readdir(d)))
        if (logto_name_valid(de->d_name) && logto_strv_push(&names, de->d_name) < 0) {
            closedir(d);
            return -LOGTO_E_NOMEM;
        }
    closedir(d);
    logto_strv_sort(names);
    for (size_t i = 0; names[i]; i++)
        if ((r = remove_at(rep, "keys", fd, dir, names[i])) < 0)
            return r;
    return 0;
}

/* A file directly in state_dir: the M2M token, the remembered lookups. */
static int clear_state_file(struct cli *cli, struct clear_report *rep, const char *what,
                            const char *name)
{
    _cleanup_close_ int fd = -1;
    int r = open_dir(rep, what, state_dir(&cli->ctx), false, &fd);

    return r <= 0 ? r : remove_at(rep, what, fd, state_dir(&cli->ctx), name);
}

static int clear_snapshot(struct cli *cli, struct clear_report *rep)
{
    struct logto_error e = { 0 };
    bool changed = false;
    int r = snapshot_edit(&cli->ctx, NULL, NULL, &changed, &e);

    return report_add(rep, "snapshot", state_dir(&cli->ctx), LOGTO_SNAPSHOT_NAME,
                      r < 0     ? "failed"
                      : changed ? "emptied"
                                : "absent",
                      r < 0 ? e.message : NULL);
}

/* ---------------------------------------------------------------- expire */

static void expire_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] [--quiet] cache expire --user NAME\n");
}

/* 0 when NAME's claims were made stale; -LOGTO_E_NOTFOUND when NAME has no token record. */
static int expire_claims(struct cli *cli, const char *name, struct logto_error *err)
{
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    int r = logto_store_open(&cli->ctx, &store, err);

    if (r >= 0)
        r = logto_store_lock(store, name, LOCK_TIMEOUT_MS, &lock, err);
    if (r >= 0)
        r = logto_store_load(lock, &rec, err);
    if (r == -LOGTO_E_NOTFOUND)
        return logto_error_set(err, LOGTO_E_NOTFOUND,
                               "%s has no token record on this host: nothing is cached for them",
                               name);
    if (r < 0)
        return r;
    rec->claims_at = 0;
    return logto_store_save(lock, rec, err);
}

static int cache_expire(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "user", required_argument, NULL, 'u' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };
    const char *user = NULL;
    char shown[160];
    int c, r;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+u:h", options, NULL)) != -1) {
        switch (c) {
        case 'u':
            user = optarg;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            expire_usage(stdout);
            return CLI_OK;
        default:
            expire_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc || !user) {
        expire_usage(stderr);
        return CLI_USAGE;
    }
    if (!logto_name_valid(user)) {
        fprintf(stderr, "logtoctl: cache expire: '%s' is not a valid user name\n",
                logto_log_sanitize(shown, sizeof(shown), user));
        return CLI_USAGE;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "logtoctl: cache expire must run as root: the token records are root's\n");
        return CLI_FAIL;
    }
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;
    cli_audit_log(cli);
    r = expire_claims(cli, user, &err);
    if (r < 0)
        return cli_fail(cli, r, &err);
    logto_log(&cli->ctx.log, LOG_NOTICE, "cache-expire user=%s what=claims", user);
    if (cli->json)
        return cli_print_json(
                   json_pack("{s:b, s:s, s:s}", "ok", 1, "user", user, "expired", "claims")) < 0
                   ? CLI_FAIL
                   : CLI_OK;
    if (!cli->quiet)
        printf("%s: cached claims expired: the next sign-in check asks the identity provider "
               "again (the session goes on)\n",
               user);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

/* ---------------------------------------------------------------- the command */

static void cache_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] [--quiet] cache clear [--discovery] [--jwks] "
                 "[--tokens USER | --all-tokens]\n"
                 "                [--attempts USER] [--m2m-token] [--keys] [--snapshot]\n"
                 "                [--lookups]\n"
                 "       logtoctl [--json] [--quiet] cache expire --user NAME\n"
                 "With no option: --discovery --jwks.\n");
}

enum {
    C_DISCOVERY = 1 << 0,
    C_JWKS = 1 << 1,
    C_TOKENS = 1 << 2,
    C_M2M = 1 << 3,
    C_KEYS = 1 << 4,
    C_SNAPSHOT = 1 << 5,
    C_ATTEMPTS = 1 << 6,
    C_LOOKUPS = 1 << 7,
};

int cli_cmd_cache(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "discovery", no_argument, NULL, 'd' },    { "jwks", no_argument, NULL, 'k' },
        { "tokens", required_argument, NULL, 't' }, { "all-tokens", no_argument, NULL, 'T' },
        { "m2m-token", no_argument, NULL, 'm' },    { "keys", no_argument, NULL, 'K' },
        { "snapshot", no_argument, NULL, 's' },     { "attempts", required_argument, NULL, 'a' },
        { "lookups", no_argument, NULL, 'l' },      { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    struct clear_report rep = { 0 };
    const char *user = NULL, *attempts_user = NULL;
    unsigned what = 0;
    bool all_tokens = false;
    int c, r = 0, status;

    if (argc >= 2 && strcmp(argv[1], "expire") == 0)
        return cache_expire(cli, argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "clear") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            cache_usage(stdout);
            return CLI_OK;
        }
        if (argc >= 2)
            fprintf(stderr, "logtoctl: cache: unknown subcommand '%s'\n", argv[1]);
        cache_usage(stderr);
        return CLI_USAGE;
    }
    optind = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "+h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            what |= C_DISCOVERY;
            break;
        case 'k':
            what |= C_JWKS;
            break;
        case 't':
            if (user || all_tokens) {
                fprintf(stderr, "logtoctl: cache clear: --tokens USER once, or --all-tokens\n");
                return CLI_USAGE;
            }
            user = optarg;
            what |= C_TOKENS;
            break;
        case 'T':
            if (user) {
                fprintf(stderr, "logtoctl: cache clear: --tokens USER once, or --all-tokens\n");
                return CLI_USAGE;
            }
            all_tokens = true;
            what |= C_TOKENS;
            break;
        case 'a':
            if (attempts_user) {
                fprintf(stderr, "logtoctl: cache clear: --attempts USER once\n");
                return CLI_USAGE;
            }
            attempts_user = optarg;
            what |= C_ATTEMPTS;
            break;
        case 'm':
            what |= C_M2M;
            break;
        case 'K':
            what |= C_KEYS;
            break;
        case 's':
            what |= C_SNAPSHOT;
            break;
        case 'l':
            what |= C_LOOKUPS;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            cache_usage(stdout);
            return CLI_OK;
        default:
            cache_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "logtoctl: cache clear: unexpected argument '%s'\n", argv[optind + 1]);
        return CLI_USAGE;
    }
    if ((user && !logto_name_valid(user)) || (attempts_user && !logto_name_valid(attempts_user))) {
        fprintf(stderr, "logtoctl: cache clear: '%s' is not a valid user name\n",
                user && !logto_name_valid(user) ? user : attempts_user);
        return CLI_USAGE;
    }
    if (!what)
        what = C_DISCOVERY | C_JWKS;
    if (geteuid() != 0) {
        fprintf(stderr, "logtoctl: cache clear must run as root: the caches are root's\n");
        return CLI_FAIL;
    }
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;
    cli_audit_log(cli);

    r = 0;
    if (r >= 0 && (what & C_DISCOVERY))
        r = clear_cache_file(cli, &rep, "discovery", LOGTO_DISCOVERY_FILE);
    if (r >= 0 && (what & C_JWKS))
        r = clear_cache_file(cli, &rep, "jwks", LOGTO_JWKS_FILE);
    if (r >= 0 && (what & C_TOKENS))
        r = clear_tokens(cli, &rep, user);
    if (r >= 0 && (what & C_ATTEMPTS))
        r = clear_attempts(cli, &rep, attempts_user);
    if (r >= 0 && (what & C_M2M))
        r = clear_state_file(cli, &rep, "m2m-token", LOGTO_MGMT_TOKEN_FILE);
    if (r >= 0 && (what & C_LOOKUPS))
        r = clear_state_file(cli, &rep, "lookups", LOGTO_LOOKUP_FILE);
    if (r >= 0 && (what & C_KEYS))
        r = clear_keys(cli, &rep);
    if (r >= 0 && (what & C_SNAPSHOT))
        r = clear_snapshot(cli, &rep);
    if (r < 0) {
        report_done(&rep);
        return cli_fail(cli, r, NULL);
    }
    for (size_t i = 0; i < rep.n; i++)
        if (strcmp(rep.items[i].result, "absent") != 0)
            logto_log(&cli->ctx.log,
                      strcmp(rep.items[i].result, "failed") == 0 ||
                              strcmp(rep.items[i].result, "skipped") == 0
                          ? LOG_WARNING
                          : LOG_NOTICE,
                      "cache-clear what=%s path=%s result=%s", rep.items[i].what, rep.items[i].path,
                      rep.items[i].result);
    status = rep.failed ? CLI_FAIL : CLI_OK;

    if (cli->json) {
        json_t *items = json_array();
        for (size_t i = 0; items && i < rep.n; i++)
            json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:o}", "what",
                                                   rep.items[i].what, "path", rep.items[i].path,
                                                   "result", rep.items[i].result, "message",
                                                   cli_json_string_or_null(rep.items[i].message)));
        if (cli_print_json(json_pack("{s:b, s:o}", "ok", !rep.failed, "cleared",
                                     items ? items : json_null())) < 0)
            status = CLI_FAIL;
    } else if (!cli->quiet || rep.failed) {
        for (size_t i = 0; i < rep.n; i++)
            printf("%-10s %-16s %s%s%s\n", rep.items[i].what, rep.items[i].result,
                   rep.items[i].path, rep.items[i].message ? ": " : "",
                   rep.items[i].message ? rep.items[i].message : "");
        if (fflush(stdout) != 0)
            status = CLI_FAIL;
    }
    report_done(&rep);
    return status;
}
