/* SPDX-License-Identifier: MIT */
/*
 * nss_hammer: many threads look names up through glibc (getpwnam_r, getpwuid_r, getgrnam_r,
 * getgrgid_r, getgrouplist: whatever nsswitch.conf says, here "files logto") while something
 * else replaces the snapshot, for tests/hardening/concurrency.sh.
 *
 *   nss_hammer SECONDS THREADS SPEC...
 *
 * SPEC is user:NAME:UID (must always resolve, with that UID, and back by UID), group:NAME:GID
 * (likewise for a group), or maybe:NAME (may come and go between snapshots, but a lookup must
 * answer found or not found, never fail). Every failure (an error return, a wrong ID, a record
 * whose fields do not belong together) is counted. Prints
 * "threads=N lookups=N found=N absent=N errors=N mismatches=N" and exits 1 if any error or
 * mismatch was seen.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { USER, GROUP, MAYBE };

struct spec {
    enum kind kind;
    char *arg; /* strtok'd copy of the argument: name points into it */
    char *name;
    unsigned long id;
};

static struct spec *specs;
static size_t n_specs;
static atomic_long lookups, found, absent, errors, mismatches;
static atomic_int stop;

static void report(const char *what, const char *name, int r)
{
    /* Only the first few: a broken run must not flood the log. */
    static atomic_int shown;
    if (atomic_fetch_add(&shown, 1) < 10)
        fprintf(stderr, "nss_hammer: %s %s: %s\n", what, name, r ? strerror(r) : "mismatch");
}

/* Call f with a growing buffer until it stops saying ERANGE. */
#define WITH_BUFFER(call)                                                                          \
    do {                                                                                           \
        size_t len = 1024;                                                                         \
        for (;;) {                                                                                 \
            buf = realloc(buf, len);                                                               \
            r = (call);                                                                            \
            if (r != ERANGE || len >= (16u << 20))                                                 \
                break;                                                                             \
            len *= 4;                                                                              \
        }                                                                                          \
    } while (0)

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char *buf = NULL;

    while (!atomic_load(&stop)) {
        const struct spec *s = &specs[rand_r(&seed) % n_specs];
        struct passwd pw, *pwr = NULL;
        struct group gr, *grr = NULL;
        int r;

        atomic_fetch_add(&lookups, 1);
        if (s->kind == GROUP) {
            if (rand_r(&seed) & 1)
                WITH_BUFFER(getgrnam_r(s->name, &gr, buf, len, &grr));
            else
                WITH_BUFFER(getgrgid_r((gid_t)s->id, &gr, buf, len, &grr));
            if (r) {
                atomic_fetch_add(&errors, 1);
                report("getgr", s->name, r);
            } else if (!grr || strcmp(grr->gr_name, s->name) != 0 || grr->gr_gid != s->id) {
                atomic_fetch_add(&mismatches, 1);
                report("getgr", s->name, 0);
            } else
                atomic_fetch_add(&found, 1);
            continue;
        }
        if (s->kind == USER && (rand_r(&seed) & 1))
            WITH_BUFFER(getpwuid_r((uid_t)s->id, &pw, buf, len, &pwr));
        else
            WITH_BUFFER(getpwnam_r(s->name, &pw, buf, len, &pwr));
        if (r) {
            atomic_fetch_add(&errors, 1);
            report("getpw", s->name, r);
            continue;
        }
        if (!pwr) {
            if (s->kind == USER) {
                atomic_fetch_add(&mismatches, 1);
                report("getpw (absent)", s->name, 0);
            } else
                atomic_fetch_add(&absent, 1);
            continue;
        }
        if (strcmp(pwr->pw_name, s->name) != 0 || (s->kind == USER && pwr->pw_uid != s->id) ||
            !pwr->pw_dir || strncmp(pwr->pw_dir, "/home/", 6) != 0 || !pwr->pw_shell) {
            atomic_fetch_add(&mismatches, 1);
            report("getpw", s->name, 0);
            continue;
        }
        atomic_fetch_add(&found, 1);
        if (s->kind == USER && (rand_r(&seed) % 8) == 0) {
            gid_t groups[256];
            int ng = 256;
            if (getgrouplist(s->name, pwr->pw_gid, groups, &ng) < 0 && ng <= 256) {
                atomic_fetch_add(&errors, 1);
                report("getgrouplist", s->name, EIO);
            }
        }
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t *threads;
    long seconds, n;

    if (argc < 4 || (seconds = atol(argv[1])) <= 0 || (n = atol(argv[2])) <= 0 || n > 256) {
        fprintf(stderr, "usage: [NSS_HAMMER_STOP=FILE] nss_hammer SECONDS THREADS SPEC...\n");
        return 2;
    }
    n_specs = (size_t)argc - 3;
    specs = calloc(n_specs, sizeof(*specs));
    for (size_t i = 0; i < n_specs; i++) {
        char *a = strdup(argv[3 + i]), *k = strtok(a, ":"), *name = strtok(NULL, ":"),
             *id = strtok(NULL, ":");
        if (!k || !name || (strcmp(k, "maybe") != 0 && !id)) {
            fprintf(stderr, "nss_hammer: bad spec %s\n", argv[3 + i]);
            return 2;
        }
        specs[i].arg = a;
        specs[i].kind = strcmp(k, "user") == 0 ? USER : strcmp(k, "group") == 0 ? GROUP : MAYBE;
        specs[i].name = name;
        specs[i].id = id ? strtoul(id, NULL, 10) : 0;
    }
    threads = calloc((size_t)n, sizeof(*threads));
    for (long i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
            perror("nss_hammer: pthread_create");
            return 2;
        }
    /* Until the file named by NSS_HAMMER_STOP appears (the test's work is done), at most SECONDS.
     */
    const char *stop_file = getenv("NSS_HAMMER_STOP");
    for (long ms = 0; ms < seconds * 1000; ms += 10) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        if (stop_file && access(stop_file, F_OK) == 0)
            break;
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    for (long i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    printf("threads=%ld lookups=%ld found=%ld absent=%ld errors=%ld mismatches=%ld\n", n,
           atomic_load(&lookups), atomic_load(&found), atomic_load(&absent), atomic_load(&errors),
           atomic_load(&mismatches));
    for (size_t i = 0; i < n_specs; i++)
        free(specs[i].arg);
    free(specs);
    free(threads);
    return atomic_load(&errors) || atomic_load(&mismatches) ? 1 : 0;
}
