/* SPDX-License-Identifier: MIT */
/* logtoctl: administration and test command line. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv)
{
    char version[256];

    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        logto_version_string(version, sizeof(version));
        puts(version);
        return 0;
    }
    fprintf(stderr, "usage: logtoctl --version\n");
    return 2;
}
