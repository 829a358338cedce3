/* SPDX-License-Identifier: MIT */
/*
 * A main() for the fuzz targets in builds without libFuzzer: runs LLVMFuzzerTestOneInput once
 * per file named on the command line (directories: every regular file in them, in name order),
 * so `make check` replays the seed corpora and every crash ever found (tests/fuzz/replay.sh).
 * Prints counts only, never an input.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    struct stat st;
    uint8_t *buf;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* An exact-size buffer, so ASan or valgrind notice a read past the input. */
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (!buf) {
        close(fd);
        return -1;
    }
    while (len < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    if (len != (size_t)st.st_size) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    unsigned files = 0, failed = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct dirent **names;
        struct stat st;
        int n;

        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed += replay_file(argv[i]) < 0;
            files++;
            continue;
        }
        n = scandir(argv[i], &names, skip_hidden, by_name);
        if (n < 0) {
            fprintf(stderr, "replay: cannot list %s\n", argv[i]);
            failed++;
            continue;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                failed += replay_file(path) < 0;
                files++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("%s: replayed %u inputs\n", argv[0], files - failed);
    return failed ? 1 : 0;
}
