/* SPDX-License-Identifier: MIT */
/* The lookup bucket and the cache of lookup answers (lookup.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "lookup.h"
#include "memory.h"
#include "names.h"
#include "util.h"

#define HEADER          "logto-lookups v1"
#define LOCK_TIMEOUT_MS 2000
#define MILLI           1000 /* the bucket counts thousandths of a token */
#define FILE_MAX        (LOGTO_LOOKUP_MAX_ENTRIES * 200 + 256)

static const char *const kind_names[] = {
    [LOGTO_LOOKUP_USER] = "user",
    [LOGTO_LOOKUP_KEYS] = "keys",
};

struct entry {
    enum logto_lookup_kind kind;
    char name[LOGTO_NAME_MAX + 1];
    struct logto_lookup_answer answer;
};

struct state {
    int64_t tokens; /* thousandths; -1: no bucket line (a full bucket) */
    int64_t tokens_at;
    struct entry *entries;
    size_t n;
};

static const char *state_dir(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
}

static int64_t ttl(const struct logto_ctx *ctx)
{
    return ctx->cfg ? ctx->cfg->lookup_cache_ttl : 0;
}

/* A sub we store and print: the Logto ID alphabet and then some, no spaces. */
static bool sub_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > LOGTO_LOOKUP_SUB_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* One "KIND NAME +|- AT SUB|-" line; false when it is not one. */
static bool parse_entry(char *line, struct entry *e)
{
    char *save = NULL, *kind = strtok_r(line, " ", &save), *name = strtok_r(NULL, " ", &save),
         *found = strtok_r(NULL, " ", &save), *at = strtok_r(NULL, " ", &save),
         *sub = strtok_r(NULL, " ", &save);
    uint64_t t;

    if (!kind || !name || !found || !at || !sub || strtok_r(NULL, " ", &save))
        return false;
    *e = (struct entry){ 0 };
    if (strcmp(kind, "user") == 0)
        e->kind = LOGTO_LOOKUP_USER;
    else if (strcmp(kind, "keys") == 0)
        e->kind = LOGTO_LOOKUP_KEYS;
    else
        return false;
    if (!logto_name_valid(name) || (strcmp(found, "+") != 0 && strcmp(found, "-") != 0) ||
        logto_parse_u64(at, 0, INT64_MAX, &t) < 0)
        return false;
    e->answer.found = found[0] == '+';
    e->answer.at = (int64_t)t;
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (strcmp(sub, "-") == 0)
        return !e->answer.found; /* a user found has an ID */
    if (!sub_ok(sub))
        return false;
    snprintf(e->answer.sub, sizeof(e->answer.sub), "%s", sub);
    return true;
}

static int parse_state(char *buf, struct state *st)
{
    char *save = NULL, *line = strtok_r(buf, "\n", &save);
    uint64_t tokens, at;

    *st = (struct state){ .tokens = -1 };
    if (!line || strcmp(line, HEADER) != 0)
        return -LOGTO_E_CORRUPT;
    while ((line = strtok_r(NULL, "\n", &save))) {
        if (logto_startswith(line, "bucket ")) {
            if (sscanf(line, "bucket %" SCNu64 " %" SCNu64, &tokens, &at) != 2 ||
                tokens > INT64_MAX || at > INT64_MAX)
                return -LOGTO_E_CORRUPT;
            st->tokens = (int64_t)tokens;
            st->tokens_at = (int64_t)at;
            continue;
        }
        if (st->n >= LOGTO_LOOKUP_MAX_ENTRIES)
            return -LOGTO_E_CORRUPT;
        if (st->n % 64 == 0) {
            struct entry *p = realloc(st->entries, (st->n + 64) * sizeof(*p));
            if (!p)
                return -LOGTO_E_NOMEM;
            st->entries = p;
        }
        if (!parse_entry(line, &st->entries[st->n]))
            return -LOGTO_E_CORRUPT;
        st->n++;
    }
    return 0;
}

/* The state on disk; a missing file is an empty state, a damaged one is logged and dropped. */
static int load_state(const struct logto_ctx *ctx, int dirfd, const char *path, struct state *st,
                      struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r;

    *st = (struct state){ .tokens = -1 };
    r = logto_file_read_at(dirfd, LOGTO_LOOKUP_FILE, path, LOGTO_FILE_SECRET, FILE_MAX, &buf, &len,
                           err);
    if (r == -LOGTO_E_NOTFOUND)
        return 0;
    if (r < 0)
        return r;
    r = strlen(buf) == len ? parse_state(buf, st) : -LOGTO_E_CORRUPT;
    if (r == -LOGTO_E_CORRUPT) {
        logto_log(&ctx->log, LOG_WARNING, "lookups-reset path=%s reason=\"damaged file\"", path);
        free(st->entries);
        *st = (struct state){ .tokens = -1 };
        return 0;
    }
    if (r < 0)
        return LOGTO_OOM(err);
    return 0;
}

static int save_state(int dirfd, const char *path, const struct state *st, struct logto_error *err)
{
    size_t cap = 64 + st->n * (sizeof(struct entry) + 48), len = 0;
    _cleanup_free_ char *buf = malloc(cap);

    if (!buf)
        return LOGTO_OOM(err);
    len += (size_t)snprintf(buf, cap, "%s\n", HEADER);
    if (st->tokens >= 0)
        len += (size_t)snprintf(buf + len, cap - len, "bucket %" PRId64 " %" PRId64 "\n",
                                st->tokens, st->tokens_at);
    for (size_t i = 0; i < st->n; i++) {
        const struct entry *e = &st->entries[i];
        len += (size_t)snprintf(buf + len, cap - len, "%s %s %s %" PRId64 " %s\n",
                                kind_names[e->kind], e->name, e->answer.found ? "+" : "-",
                                e->answer.at, e->answer.sub[0] ? e->answer.sub : "-");
    }
    return logto_file_write_at(dirfd, LOGTO_LOOKUP_FILE, path, buf, len, 0600, err);
}

static bool fresh(const struct logto_ctx *ctx, const struct entry *e, int64_t now)
{
    /* An answer from the future (clock stepped back) is not trusted to be recent. */
    return e->answer.at <= now && now - e->answer.at < ttl(ctx);
}

static struct entry *find(struct state *st, enum logto_lookup_kind kind, const char *name)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->entries[i].kind == kind && strcmp(st->entries[i].name, name) == 0)
            return &st->entries[i];
    return NULL;
}

/* Open state_dir, take the lock, load the state. */
static int begin(const struct logto_ctx *ctx, int *ret_dirfd, int *ret_lockfd, char **ret_path,
                 struct state *st, struct logto_error *err)
{
    _cleanup_free_ char *path = logto_asprintf("%s/%s", state_dir(ctx), LOGTO_LOOKUP_FILE);
    _cleanup_free_ char *lockpath = logto_asprintf("%s/%s", state_dir(ctx), LOGTO_LOOKUP_LOCK);
    _cleanup_close_ int dirfd = -1, lockfd = -1;
    int r;

    if (!path || !lockpath)
        return LOGTO_OOM(err);
    r = logto_dir_ensure(state_dir(ctx), 0755, false, &dirfd, err);
    if (r < 0)
        return r;
    r = logto_lock_at(dirfd, LOGTO_LOOKUP_LOCK, lockpath, LOCK_TIMEOUT_MS, &lockfd, err);
    if (r < 0)
        return r;
    r = load_state(ctx, dirfd, path, st, err);
    if (r < 0)
        return r;
    *ret_dirfd = TAKE_FD(dirfd);
    *ret_lockfd = TAKE_FD(lockfd);
    *ret_path = TAKE_PTR(path);
    return 0;
}

int logto_lookup_cached(const struct logto_ctx *ctx, enum logto_lookup_kind kind, const char *name,
                        struct logto_lookup_answer *ret, struct logto_error *err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int dirfd = -1;
    struct state st = { 0 };
    struct entry *e;
    int r;

    if (ttl(ctx) <= 0 || !logto_name_valid(name))
        return -LOGTO_E_NOTFOUND;
    path = logto_asprintf("%s/%s", state_dir(ctx), LOGTO_LOOKUP_FILE);
    if (!path)
        return LOGTO_OOM(err);
    /* Readers need no lock: the file is replaced atomically. */
    r = logto_dir_open_trusted(state_dir(ctx), false, &dirfd, err);
    if (r == -LOGTO_E_NOTFOUND)
        return r;
    if (r >= 0)
        r = load_state(ctx, dirfd, path, &st, err);
    if (r < 0)
        return r;
    e = find(&st, kind, name);
    r = e && fresh(ctx, e, logto_now(ctx)) ? 0 : -LOGTO_E_NOTFOUND;
    if (r == 0)
        *ret = e->answer;
    free(st.entries);
    return r;
}

int logto_lookup_remember(const struct logto_ctx *ctx, enum logto_lookup_kind kind,
                          const char *name, bool found, const char *sub, struct logto_error *err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int dirfd = -1, lockfd = -1;
    struct state st = { 0 };
    int64_t now = logto_now(ctx);
    struct entry *e;
    size_t w = 0;
    int r;

    if (ttl(ctx) <= 0 || !logto_name_valid(name))
        return 0;
    if ((found && !sub) || (sub && !sub_ok(sub)))
        return logto_error_set(err, LOGTO_E_INVAL, "no usable %s user ID to remember",
                               logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL));
    r = begin(ctx, &dirfd, &lockfd, &path, &st, err);
    if (r < 0)
        return r;
    /* Forget what has expired, then make room by dropping the oldest answers. */
    for (size_t i = 0; i < st.n; i++)
        if (fresh(ctx, &st.entries[i], now) &&
            !(st.entries[i].kind == kind && strcmp(st.entries[i].name, name) == 0))
            st.entries[w++] = st.entries[i];
    st.n = w;
    while (st.n >= LOGTO_LOOKUP_MAX_ENTRIES) {
        size_t oldest = 0;
        for (size_t i = 1; i < st.n; i++)
            if (st.entries[i].answer.at < st.entries[oldest].answer.at)
                oldest = i;
        st.entries[oldest] = st.entries[--st.n];
    }
    if (st.n % 64 == 0) {
        e = realloc(st.entries, (st.n + 64) * sizeof(*e));
        if (!e) {
            free(st.entries);
            return LOGTO_OOM(err);
        }
        st.entries = e;
    }
    e = &st.entries[st.n++];
    *e = (struct entry){ .kind = kind, .answer = { .found = found, .at = now } };
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (sub)
        snprintf(e->answer.sub, sizeof(e->answer.sub), "%s", sub);
    r = save_state(dirfd, path, &st, err);
    free(st.entries);
    return r;
}

int logto_lookup_take(const struct logto_ctx *ctx, struct logto_error *err)
{
    const struct logto_config *cfg = ctx->cfg;
    int64_t burst = cfg && cfg->lookup_burst > 0 ? cfg->lookup_burst : 1;
    int64_t rate = cfg && cfg->lookup_rate > 0 ? cfg->lookup_rate : 1;
    int64_t now = logto_now(ctx), tokens;
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int dirfd = -1, lockfd = -1;
    struct state st = { 0 };
    bool stepped_back = false;
    int r;

    r = begin(ctx, &dirfd, &lockfd, &path, &st, err);
    if (r == -LOGTO_E_BUSY)
        return logto_error_set(err, LOGTO_E_BUSY, "the lookup budget is busy");
    if (r < 0)
        return r;
    if (st.tokens < 0) {
        tokens = burst * MILLI; /* no bucket yet: full */
    } else if (st.tokens_at > now) {
        /* A clock stepped back: no refill for the time it went back; refills count from now. */
        tokens = st.tokens;
        st.tokens_at = now;
        stepped_back = true;
    } else {
        /* rate tokens a minute; capped first so that a long pause cannot overflow. */
        int64_t elapsed = now - st.tokens_at > 86400 ? 86400 : now - st.tokens_at;
        tokens = st.tokens + elapsed * rate * MILLI / 60;
    }
    if (tokens > burst * MILLI)
        tokens = burst * MILLI;
    if (tokens < MILLI) {
        if (stepped_back)
            (void)save_state(dirfd, path, &st, NULL);
        free(st.entries);
        return logto_error_set(err, LOGTO_E_BUSY,
                               "the Management API lookup budget is spent (lookup_rate = %" PRId64
                               " a minute, lookup_burst = %" PRId64 ")",
                               rate, burst);
    }
    st.tokens = tokens - MILLI;
    st.tokens_at = now;
    r = save_state(dirfd, path, &st, err);
    free(st.entries);
    return r;
}
