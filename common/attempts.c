/* SPDX-License-Identifier: MIT */
/* Per-user counts of failed password sign-ins on this host (see attempts.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "attempts.h"
#include "json.h"
#include "log.h"
#include "memory.h"
#include "util.h"
#include "verifier.h"

#define OFFLINE_FAILURES_MAX 1000000
#define LOCK_TIMEOUT_MS      10000

static int corrupt(const char *path, const char *what, struct logto_error *err)
{
    return logto_error_set(err, LOGTO_E_CORRUPT, "%s is corrupt: %s", path, what);
}

static int from_json(const json_t *doc, const char *path, struct logto_attempts *a,
                     struct logto_error *err)
{
    static const char *const known[] = { "version", "failures", "offline_failures",
                                         "offline_failed_at" };
    const char *key;
    json_t *v, *list = NULL;
    int64_t version = 0;
    size_t i;

    json_object_foreach((json_t *)(uintptr_t)doc, key, v)
    {
        bool ok = false;
        for (i = 0; i < ELEMENTSOF(known); i++)
            ok = ok || strcmp(known[i], key) == 0;
        if (!ok)
            return corrupt(path, "an unknown field", err);
    }
    if (logto_json_get_int(doc, "version", LOGTO_JSON_REQUIRED, LOGTO_ATTEMPTS_VERSION,
                           LOGTO_ATTEMPTS_VERSION, &version, NULL) < 0)
        return corrupt(path, "no known version", err);
    if (logto_json_get_array(doc, "failures", LOGTO_JSON_REQUIRED, &list, NULL) < 0 ||
        json_array_size(list) > LOGTO_ATTEMPTS_MAX)
        return corrupt(path, "failures is not a list of times", err);
    json_array_foreach(list, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return corrupt(path, "failures is not a list of times", err);
        a->failures[a->n_failures++] = (int64_t)json_integer_value(v);
    }
    if (logto_json_get_int(doc, "offline_failures", LOGTO_JSON_REQUIRED, 0, OFFLINE_FAILURES_MAX,
                           &a->offline_failures, NULL) < 0 ||
        logto_json_get_int(doc, "offline_failed_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX / 2,
                           &a->offline_failed_at, NULL) < 0)
        return corrupt(path, "the offline counts are not numbers", err);
    return 0;
}

int logto_attempts_load(const struct logto_store_lock *lock, struct logto_attempts *ret,
                        struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_free_ char *buf = NULL;
    struct logto_error e = { 0 };
    char path[4096];
    size_t len = 0;
    int r;

    *ret = (struct logto_attempts){ 0 };
    r = logto_store_read_companion(lock, LOGTO_ATTEMPTS_SUFFIX, LOGTO_ATTEMPTS_FILE_MAX, &buf, &len,
                                   err);
    if (r == -LOGTO_E_NOTFOUND)
        return 0;
    if (r < 0)
        return r;
    logto_store_companion_path(lock, LOGTO_ATTEMPTS_SUFFIX, path, sizeof(path));
    if (logto_json_parse_object(buf, len, LOGTO_ATTEMPTS_FILE_MAX, 2, "the text", &doc, &e) < 0)
        return corrupt(path, e.message, err);
    r = from_json(doc, path, ret, err);
    if (r < 0)
        *ret = (struct logto_attempts){ 0 };
    return r;
}

int logto_attempts_save(const struct logto_store_lock *lock, const struct logto_attempts *a,
                        struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL, *list = json_array();
    _cleanup_free_ char *text = NULL;

    for (size_t i = 0; list && i < a->n_failures; i++)
        if (json_array_append_new(list, json_integer(a->failures[i])) < 0)
            return LOGTO_OOM(err);
    doc = list ? json_pack("{s:i, s:O, s:I, s:I}", "version", LOGTO_ATTEMPTS_VERSION, "failures",
                           list, "offline_failures", (json_int_t)a->offline_failures,
                           "offline_failed_at", (json_int_t)a->offline_failed_at)
               : NULL;
    text = doc ? logto_json_dump(doc) : NULL;
    if (!text)
        return LOGTO_OOM(err);
    return logto_store_write_companion(lock, LOGTO_ATTEMPTS_SUFFIX, text, strlen(text), err);
}

void logto_attempts_expire(struct logto_attempts *a, int64_t now, int64_t window)
{
    size_t w = 0;

    for (size_t i = 0; i < a->n_failures; i++) {
        int64_t t = a->failures[i] > now ? now : a->failures[i];
        if (t > now - window)
            a->failures[w++] = t;
    }
    a->n_failures = w;
}

static int cmp_time(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

int64_t logto_attempts_host_wait(const struct logto_attempts *a, int64_t now, int64_t max,
                                 int64_t window)
{
    int64_t sorted[LOGTO_ATTEMPTS_MAX];

    /* The loader keeps max in 1..LOGTO_HOST_LOCKOUT_MAX; a hand-built configuration may not. */
    if (max < 1)
        max = 1;
    if ((int64_t)a->n_failures < max)
        return 0;
    /* Another try is allowed once all but max - 1 of them have left the window. */
    memcpy(sorted, a->failures, a->n_failures * sizeof(sorted[0]));
    qsort(sorted, a->n_failures, sizeof(sorted[0]), cmp_time);
    int64_t wait = sorted[a->n_failures - (size_t)max] + window - now;
    return wait > 0 ? wait : 1;
}

int logto_attempts_charge(struct logto_attempts *a, int64_t at)
{
    if (a->n_failures >= LOGTO_ATTEMPTS_MAX)
        return -1;
    a->failures[a->n_failures++] = at;
    return 0;
}

void logto_attempts_refund(struct logto_attempts *a, int64_t at)
{
    /* The attempt's own time, or the latest before it: a process whose clock was read a tick
     * earlier may have clamped it to that reading (logto_attempts_expire) meanwhile. */
    size_t i, found = a->n_failures;

    for (i = 0; i < a->n_failures; i++)
        if (a->failures[i] <= at &&
            (found == a->n_failures || a->failures[i] >= a->failures[found]))
            found = i;
    if (found == a->n_failures)
        return;
    memmove(&a->failures[found], &a->failures[found + 1],
            (a->n_failures - found - 1) * sizeof(a->failures[0]));
    a->n_failures--;
}

int64_t logto_attempts_offline_wait(const struct logto_attempts *a, int64_t now,
                                    const struct logto_service *svc)
{
    int64_t n = a->offline_failures, delay = svc->offline_delay, last = a->offline_failed_at;

    if (n >= svc->offline_lock_after)
        return -1;
    if (n < svc->offline_delay_after || delay <= 0)
        return 0;
    for (int64_t k = n - svc->offline_delay_after; k > 0 && delay < LOGTO_OFFLINE_DELAY_MAX; k--)
        delay *= 2;
    if (delay > LOGTO_OFFLINE_DELAY_MAX)
        delay = LOGTO_OFFLINE_DELAY_MAX;
    /* A last failure in the future (a clock set back) counts as now. */
    if (last > now)
        last = now;
    return last + delay > now ? last + delay - now : 0;
}

/* ------------------------------------------------------------------ the sign-in steps */

struct locked {
    struct logto_store *store;
    struct logto_store_lock *lock;
};

static void unlock(struct locked *l)
{
    logto_store_unlock(l->lock);
    logto_store_close(l->store);
    *l = (struct locked){ 0 };
}

static int lock_user(const struct logto_ctx *ctx, const char *user, struct locked *l,
                     struct logto_error *err)
{
    int r = logto_store_open(ctx, &l->store, err);

    if (r >= 0)
        r = logto_store_lock(l->store, user, LOCK_TIMEOUT_MS, &l->lock, err);
    if (r < 0)
        unlock(l);
    return r;
}

/* "42 seconds", "3 minutes": for the person. */
static void say_wait(char *buf, size_t n, int64_t seconds)
{
    if (seconds < 120)
        snprintf(buf, n, "%lld second%s", (long long)seconds, seconds == 1 ? "" : "s");
    else
        snprintf(buf, n, "%lld minutes", (long long)((seconds + 59) / 60));
}

static int unreadable(const struct logto_ctx *ctx, const char *user, const struct logto_error *why,
                      struct logto_error *err)
{
    logto_log(&ctx->log, LOG_ERR, "attempts-unreadable user=%s reason=\"%s\"", user, why->message);
    return logto_error_set(err, LOGTO_E_LOCKED,
                           "the failed sign-in count of %s on this host cannot be used: "
                           "password sign-in is refused until an administrator clears it",
                           user);
}

int logto_attempts_begin(const struct logto_ctx *ctx, const char *user, int64_t *ret_at,
                         struct logto_error *err)
{
    _cleanup_(unlock) struct locked l = { 0 };
    struct logto_attempts a;
    struct logto_error e = { 0 };
    int64_t now, window = ctx->cfg->host_lockout_window, wait;
    char when[32];
    int r = lock_user(ctx, user, &l, err);

    if (r < 0)
        return r;
    now = logto_now(ctx); /* read under the lock: times in the file are never ahead of it */
    if (logto_attempts_load(l.lock, &a, &e) < 0)
        return unreadable(ctx, user, &e, err);
    logto_attempts_expire(&a, now, window);
    wait = logto_attempts_host_wait(&a, now, ctx->cfg->host_lockout_attempts, window);
    if (wait > 0 || logto_attempts_charge(&a, now) < 0) {
        logto_log(&ctx->log, LOG_WARNING, "auth-host-lockout user=%s failures=%zu retry_in=%lld",
                  user, a.n_failures, (long long)wait);
        say_wait(when, sizeof(when), wait);
        return logto_error_set(err, LOGTO_E_LOCKED,
                               "too many failed sign-in attempts for %s on this host: try again "
                               "in %s",
                               user, when);
    }
    r = logto_attempts_save(l.lock, &a, err);
    if (r < 0)
        return r;
    *ret_at = now;
    return 0;
}

static bool refused(int r)
{
    return r == -LOGTO_E_DENIED || r == -LOGTO_E_LOCKED || r == -LOGTO_E_SUSPENDED;
}

/* Under the user's lock: the provider refused a password, so the offline verifier goes;
 * except for a plain "wrong password" (r == -LOGTO_E_DENIED) that is not the password the
 * verifier holds: anybody can type a wrong password for a user, and that must not take away the
 * user's offline sign-in. */
static void remove_verifier(const struct logto_ctx *ctx, const struct logto_store_lock *lock,
                            const char *user, int r, const char *password)
{
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_error e = { 0 };

    if (logto_store_load(lock, &rec, &e) < 0) {
        if (e.code != LOGTO_E_NOTFOUND)
            logto_log(&ctx->log, LOG_WARNING, "verifier-remove-failed user=%s reason=\"%s\"", user,
                      e.message);
        return;
    }
    if (!rec->verifier)
        return;
    if (r == -LOGTO_E_DENIED && password && logto_verifier_check(password, rec->verifier, NULL) < 0)
        return;
    logto_record_set_verifier(rec, NULL);
    rec->verifier_at = 0;
    if (logto_store_save(lock, rec, &e) < 0) {
        logto_log(&ctx->log, LOG_ERR, "verifier-remove-failed user=%s reason=\"%s\"", user,
                  e.message);
        return;
    }
    logto_log(&ctx->log, LOG_NOTICE, "verifier-removed user=%s error=%s", user,
              logto_errc_name(logto_errc_from(r)));
}

static void settle(const struct logto_ctx *ctx, const char *user, const int64_t *at, int r,
                   const char *password)
{
    _cleanup_(unlock) struct locked l = { 0 };
    struct logto_attempts a;
    struct logto_error e = { 0 };

    if (lock_user(ctx, user, &l, &e) < 0 || logto_attempts_load(l.lock, &a, &e) < 0) {
        logto_log(&ctx->log, LOG_WARNING, "attempts-update-failed user=%s reason=\"%s\"", user,
                  e.message);
        /* The verifier still goes: it does not depend on the counts. */
        if (l.lock && refused(r))
            remove_verifier(ctx, l.lock, user, r, password);
        return;
    }
    if (refused(r)) {
        remove_verifier(ctx, l.lock, user, r, password);
        return; /* the attempt stays counted: nothing to write */
    }
    /* Not a failure: the attempt is given back. The failures before it stay in the window even
     * after a success: Logto's sentinel counts every failure of its hour, successes or not, so
     * failures between the user's own sign-ins would otherwise add up there. */
    if (at)
        logto_attempts_refund(&a, *at);
    else if (a.offline_failures == 0)
        return; /* nothing changes: no write */
    if (r == 0) {
        /* Online again: offline password sign-in starts afresh. */
        a.offline_failures = 0;
        a.offline_failed_at = 0;
    }
    if (logto_attempts_save(l.lock, &a, &e) < 0)
        logto_log(&ctx->log, LOG_WARNING, "attempts-update-failed user=%s reason=\"%s\"", user,
                  e.message);
}

void logto_attempts_finish(const struct logto_ctx *ctx, const char *user, int64_t at, int r,
                           const char *password)
{
    settle(ctx, user, &at, r, password);
}

void logto_attempts_online(const struct logto_ctx *ctx, const char *user)
{
    settle(ctx, user, NULL, 0, NULL);
}

int logto_attempts_offline_check(const struct logto_ctx *ctx, const struct logto_service *svc,
                                 const struct logto_store_lock *lock, const char *user,
                                 const char *password, const char *verifier,
                                 struct logto_error *err)
{
    struct logto_attempts a;
    struct logto_error e = { 0 };
    int64_t now = logto_now(ctx), wait;
    char when[32];

    if (logto_attempts_load(lock, &a, &e) < 0)
        return unreadable(ctx, user, &e, err);
    wait = logto_attempts_offline_wait(&a, now, svc);
    if (wait < 0) {
        logto_log(&ctx->log, LOG_WARNING, "auth-offline-locked user=%s failures=%lld", user,
                  (long long)a.offline_failures);
        return logto_error_set(err, LOGTO_E_LOCKED,
                               "offline sign-in of %s is off after %lld wrong passwords; it "
                               "works again after a sign-in while the IdP can be reached",
                               user, (long long)a.offline_failures);
    }
    if (wait > 0) {
        logto_log(&ctx->log, LOG_NOTICE, "auth-offline-delay user=%s failures=%lld retry_in=%lld",
                  user, (long long)a.offline_failures, (long long)wait);
        say_wait(when, sizeof(when), wait);
        return logto_error_set(err, LOGTO_E_LOCKED,
                               "too many wrong passwords for %s while the IdP cannot be "
                               "reached: try again in %s",
                               user, when);
    }
    /* Counted before the (slow) check: killing the process during it does not undo the try. */
    a.offline_failures++;
    a.offline_failed_at = now;
    if (logto_attempts_save(lock, &a, &e) < 0)
        return unreadable(ctx, user, &e, err);
    if (logto_verifier_check(password, verifier, NULL) < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "auth-offline-failed user=%s failures=%lld", user,
                  (long long)a.offline_failures);
        return logto_error_set(err, LOGTO_E_DENIED,
                               "wrong password (checked offline: the IdP cannot be reached)");
    }
    a.offline_failures = 0;
    a.offline_failed_at = 0;
    if (logto_attempts_save(lock, &a, &e) < 0)
        logto_log(&ctx->log, LOG_WARNING, "attempts-update-failed user=%s reason=\"%s\"", user,
                  e.message);
    return 0;
}
