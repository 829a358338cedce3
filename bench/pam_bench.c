/* SPDX-License-Identifier: MIT */
/*
 * In-process PAM account transactions for bench/pam-bench.sh: pam_start, pam_acct_mgmt, pam_end,
 * N times for each of two services, alternating, in one process. libpam dlopens the stack's
 * modules at every pam_start; pam_logto stays mapped (-z nodelete), so after the first
 * transaction this measures what the module's code does per decision, without the cost of
 * loading it and its libraries, which a new process (pamtester, sudo, sshd's child) pays once.
 *
 *   pam_bench N USER SERVICE_A SERVICE_B
 *
 * Prints, per service, the median, p99 and minimum in microseconds, then the difference of
 * the medians. Exit 1 if a transaction fails.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <security/pam_appl.h>

static int no_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    (void)n, (void)msg, (void)resp, (void)data;
    return PAM_CONV_ERR;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int one(const char *service, const char *user, double *ret_us)
{
    struct pam_conv conv = { no_conv, NULL };
    pam_handle_t *pamh = NULL;
    double t0 = now_us();
    int r = pam_start(service, user, &conv, &pamh);

    if (r == PAM_SUCCESS)
        r = pam_acct_mgmt(pamh, PAM_SILENT);
    pam_end(pamh, r);
    *ret_us = now_us() - t0;
    if (r != PAM_SUCCESS)
        fprintf(stderr, "pam_bench: %s %s: %s\n", service, user, pam_strerror(NULL, r));
    return r;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    const char *svc[2];
    double *t[2], med[2], dummy;
    int n;

    if (argc != 5 || (n = atoi(argv[1])) < 1) {
        fprintf(stderr, "usage: pam_bench N USER SERVICE_A SERVICE_B\n");
        return 2;
    }
    svc[0] = argv[3];
    svc[1] = argv[4];
    t[0] = calloc((size_t)n, sizeof(double));
    t[1] = calloc((size_t)n, sizeof(double));
    if (!t[0] || !t[1])
        return 1;
    /* Warm-up: loads the modules (pam_logto stays loaded) and fills the caches. */
    for (int i = 0; i < 10; i++)
        for (int k = 0; k < 2; k++)
            if (one(svc[k], argv[2], &dummy) != PAM_SUCCESS)
                return 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 2; j++) {
            int k = (i % 2) ? 1 - j : j; /* alternate the order against drift */
            if (one(svc[k], argv[2], &t[k][i]) != PAM_SUCCESS)
                return 1;
        }
    printf("in-process transactions: %d of each kind, alternating\n", n);
    printf("%-28s%10s%10s%10s\n", "service", "median us", "p99 us", "min us");
    for (int k = 0; k < 2; k++) {
        qsort(t[k], (size_t)n, sizeof(double), cmp);
        med[k] = median(t[k], n);
        printf("%-28s%10.1f%10.1f%10.1f\n", svc[k], med[k], t[k][(int)(0.99 * (n - 1) + 0.5)],
               t[k][0]);
    }
    printf("difference of medians (%s - %s): %.1f us\n", svc[0], svc[1], med[0] - med[1]);
    free(t[0]);
    free(t[1]);
    return 0;
}
