/* SPDX-License-Identifier: MIT */
/* logtoctl publish DIR: the signed directory for relay hosts (relay.h, logtoctl(8)). */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "relay.h"

static void publish_usage(FILE *f)
{
    fprintf(f, "usage: logtoctl [--json] [--quiet] publish DIR\n"
               "Fetch the directory from Logto (the [sync] credentials), make the tenant-wide\n"
               "decisions, and write a signed manifest and the directory into DIR for relay\n"
               "hosts ([relay] url). Writes nothing when nothing changed.\n");
}

int cli_cmd_publish(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    struct logto_relay_publish_report report;
    struct logto_error err = { 0 };
    int c, r;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            cli->json = true;
            break;
        case 'h':
            publish_usage(stdout);
            return CLI_OK;
        default:
            publish_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (argc - optind != 1) {
        publish_usage(stderr);
        return CLI_USAGE;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "logtoctl: publish must run as root: it reads the root-only signing key "
                        "and M2M secret\n");
        return CLI_FAIL;
    }
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;
    r = logto_relay_publish(&cli->ctx, argv[optind], &report, &err);
    if (r < 0)
        return cli_fail(cli, r, &err);
    if (cli->json)
        return cli_print_json(json_pack(
                   "{s:b,s:b,s:I,s:s,s:I,s:I,s:I,s:I,s:b,s:I}", "written", report.written,
                   "object_written", report.object_written, "serial",
                   (json_int_t)report.manifest.serial, "sha256", report.manifest.sha256, "size",
                   (json_int_t)report.manifest.size, "not_after",
                   (json_int_t)report.manifest.not_after, "users", (json_int_t)report.users,
                   "refused", (json_int_t)report.refused, "delta_written", report.delta_written,
                   "delta_size",
                   (json_int_t)(report.manifest.has_delta ? report.manifest.delta_size : 0))) < 0
                   ? CLI_FAIL
                   : CLI_OK;
    if (!cli->quiet) {
        printf("%s serial %" PRId64 " (%s, %" PRIu64 " bytes, %zu users, %zu refused, valid "
               "until %" PRId64 ")\n",
               report.written ? "published" : "unchanged:", report.manifest.serial,
               report.manifest.object, report.manifest.size, report.users, report.refused,
               report.manifest.not_after);
        if (report.manifest.has_delta)
            printf("delta from the previous directory: %s, %" PRIu64 " bytes\n",
                   report.manifest.delta_object, report.manifest.delta_size);
    }
    return CLI_OK;
}
