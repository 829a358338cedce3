/* SPDX-License-Identifier: MIT */
/*
 * Per-user counts of failed password sign-ins on this host, kept next to the token record as
 * <state_dir>/tokens/<name>.attempts (root 0600, replaced atomically) and read and changed only
 * under the user's store lock (store.h), so concurrent sign-ins (several su at once) count
 * exactly. Two counts:
 *
 *   failures   password attempts that reached the provider and were refused, or are under way,
 *              within [logto] host_lockout_window. Past host_lockout_attempts this host refuses
 *              the user's passwords itself until the oldest leaves the window: a local user
 *              cannot spend Logto's per-user lockout budget (its sentinel locks the identifier
 *              for the whole tenant). An attempt is counted before the provider is asked and
 *              given back if it was no failure (signed in, or no answer), so a crash or a kill
 *              in between leaves it counted. A success does not erase earlier failures: Logto
 *              counts every failure of its hour, successes in between or not, and so does this.
 *   offline    wrong passwords in a row checked against the offline verifier (the provider
 *              could not be reached). Past [service] offline_delay_after each further try waits
 *              offline_delay, doubled per failure; at offline_lock_after offline password
 *              sign-in is off until the next online sign-in.
 *
 * An online sign-in (password or device flow) resets the offline count. A file that cannot be read
 * (torn by another writer, foreign, corrupt) is an error: callers refuse the sign-in (fail closed
 * for Logto users) and an administrator removes the file to reset it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "context.h"
#include "error.h"
#include "store.h"

#define LOGTO_ATTEMPTS_SUFFIX   "attempts"
#define LOGTO_ATTEMPTS_VERSION  1
#define LOGTO_ATTEMPTS_MAX      LOGTO_HOST_LOCKOUT_MAX /* failure times kept at most */
#define LOGTO_ATTEMPTS_FILE_MAX 8192
#define LOGTO_OFFLINE_DELAY_MAX 3600 /* the doubling wait stops growing here */

struct logto_attempts {
    int64_t failures[LOGTO_ATTEMPTS_MAX]; /* times of counted attempts, oldest first */
    size_t n_failures;
    int64_t offline_failures;  /* wrong offline passwords in a row */
    int64_t offline_failed_at; /* time of the last one (0: none) */
};

/* Read the locked user's counts (none yet: all zero). LOGTO_E_CORRUPT, LOGTO_E_UNSAFE, LOGTO_E_IO
 * when the file exists but cannot be used. */
int logto_attempts_load(const struct logto_store_lock *lock, struct logto_attempts *ret,
                        struct logto_error *err);
/* Replace the locked user's counts atomically. */
int logto_attempts_save(const struct logto_store_lock *lock, const struct logto_attempts *a,
                        struct logto_error *err);

/* The host limit. Forget failures that left the window (times in the future, from a clock set
 * back, count as now). */
void logto_attempts_expire(struct logto_attempts *a, int64_t now, int64_t window);
/* Seconds until the user may try a password again (0: now), after logto_attempts_expire. */
int64_t logto_attempts_host_wait(const struct logto_attempts *a, int64_t now, int64_t max,
                                 int64_t window);
/* Count an attempt made at `at`; -1 when the list is full (the caller refuses). */
int logto_attempts_charge(struct logto_attempts *a, int64_t at);
/* Give back one attempt counted at `at` (nothing if a success cleared it meanwhile). */
void logto_attempts_refund(struct logto_attempts *a, int64_t at);

/* Offline tries: seconds until the next may be checked (0: now), or -1 when offline password
 * sign-in is off until an online one. */
int64_t logto_attempts_offline_wait(const struct logto_attempts *a, int64_t now,
                                    const struct logto_service *svc);

/* ---- the sign-in steps (each takes the user's lock for itself) ---- */

/*
 * Before a password goes to the provider: when the user is past the host limit, refuse
 * (LOGTO_E_LOCKED with a message for the person; logged as auth-host-lockout); else count the
 * attempt (*ret_at names it for logto_attempts_finish). Counts that cannot be read refuse too
 * (LOGTO_E_LOCKED, logged as attempts-unreadable); a store that cannot be opened or locked
 * returns its own error. Nothing has been sent when this fails.
 */
int logto_attempts_begin(const struct logto_ctx *ctx, const char *user, int64_t *ret_at,
                         struct logto_error *err);

/*
 * After the provider's answer r to the attempt counted at `at` with password: a refusal
 * (LOGTO_E_DENIED, LOGTO_E_LOCKED, LOGTO_E_SUSPENDED) keeps it counted and removes the user's
 * offline verifier from the token record (logged as verifier-removed): an old password never
 * works offline after the provider refused it. A wrong password (LOGTO_E_DENIED) that is not the
 * verifier's keeps the verifier: anybody can type one. Anything else gives the attempt back;
 * success (r == 0) also resets the offline count. Problems are logged only.
 */
void logto_attempts_finish(const struct logto_ctx *ctx, const char *user, int64_t at, int r,
                           const char *password);

/* A successful sign-in that sent no password (device flow): reset the offline count. */
void logto_attempts_online(const struct logto_ctx *ctx, const char *user);

/*
 * The provider cannot be reached: check password against the offline verifier of the user
 * whose lock the caller holds, within the service's offline limits. LOGTO_E_LOCKED (message for
 * the person; logged as auth-offline-delay or auth-offline-locked) when the user must wait or
 * offline sign-in is off, or the counts cannot be read or written; LOGTO_E_DENIED for a wrong
 * password (counted before the check, so a crash or kill during it still counts; logged as
 * auth-offline-failed); 0 when it is right (the count starts again).
 */
int logto_attempts_offline_check(const struct logto_ctx *ctx, const struct logto_service *svc,
                                 const struct logto_store_lock *lock, const char *user,
                                 const char *password, const char *verifier,
                                 struct logto_error *err);
