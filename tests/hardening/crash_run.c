/* SPDX-License-Identifier: MIT */
/*
 * crash_run: run a command and SIGKILL it (its whole process group) after a delay, for
 * tests/hardening/crash.sh.
 *
 *   crash_run DELAY_US COMMAND [ARG...]
 *
 * Prints one line: "killed ELAPSED_US" when the kill landed, or "exited STATUS ELAPSED_US" when
 * the command ended first (STATUS is its exit code, or 128+signal). Exits 0 either way, 2 on
 * usage or system errors.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int status_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long long delay;
    int64_t start;
    pid_t pid;
    int status;

    if (argc < 3 || (delay = strtoll(argv[1], &end, 10)) < 0 || *end) {
        fprintf(stderr, "usage: crash_run DELAY_US COMMAND [ARG...]\n");
        return 2;
    }
    start = now_us();
    pid = fork();
    if (pid < 0) {
        perror("crash_run: fork");
        return 2;
    }
    if (pid == 0) {
        setpgid(0, 0);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "crash_run: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with the kill below */
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            printf("exited %d %lld\n", status_code(status), (long long)(now_us() - start));
            return 0;
        }
        if (w < 0 && errno != EINTR) {
            perror("crash_run: waitpid");
            return 2;
        }
        if (now_us() - start >= delay)
            break;
        struct timespec ts = { 0, 50 * 1000 };
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    /* It may have finished in the last microseconds: then it was not killed. */
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        printf("killed %lld\n", (long long)(now_us() - start));
    else
        printf("exited %d %lld\n", status_code(status), (long long)(now_us() - start));
    return 0;
}
