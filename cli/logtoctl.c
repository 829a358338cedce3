/* SPDX-License-Identifier: MIT */
/* logtoctl: administration and test command line (see logtoctl(8)). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "net.h"
#include "version.h"

/* Keep sorted by name; `logtoctl help` prints them in this order. */
static const struct cli_command commands[] = {
    { "cache",
      "clear [--discovery] [--jwks] [--tokens USER|--all-tokens] [--attempts USER] [--m2m-token] "
      "[--keys] [--snapshot] [--lookups] | expire --user NAME",
      "remove cached files, empty the snapshot, expire a user's claims", cli_cmd_cache, false },
    { "config", "check [--config PATH] | keys", "check the configuration, list its keys",
      cli_cmd_config, false },
    { "keys", "[--cached] NAME", "SSH public keys of a user (sshd AuthorizedKeysCommand)",
      cli_cmd_keys, false },
    { "login", "[--method device|experience|pat|management|grant] [--service NAME] USER",
      "sign a user in on the terminal (test a setup)", cli_cmd_login, false },
    { "logout", "[--forget] USER", "revoke and remove a user's token record", cli_cmd_logout,
      false },
    { "publish", "[--json] DIR", "write the signed directory for relay hosts ([publish])",
      cli_cmd_publish, false },
    { "status", "[--offline]", "configuration, IdP, caches, snapshot, last sync, token records",
      cli_cmd_status, false },
    { "sync", "[--dry-run] [--persist-uids|--no-persist-uids] [--verbose] [--user NAME]",
      "rebuild the user/group snapshot from Logto (or one user's entry)", cli_cmd_sync, false },
    { "token", "[--resource URI] [--organization ID] [--scope SCOPES] [--user NAME]",
      "an access token from a session (root: any user's; a user: their own, via "
      "logto-helper)",
      cli_cmd_token, false },
    { "user", "[--offline] NAME", "show how a user maps, from the snapshot and Logto", cli_cmd_user,
      true },
    { "version", "", "print the version and library versions", cli_cmd_version, false },
};

static void stderr_log(void *data, int priority, const char *line)
{
    (void)data;
    fprintf(stderr, "logtoctl: %s%s\n", priority <= LOG_ERR ? "error: " : "", line);
}

int cli_cmd_version(struct cli *cli, int argc, char **argv)
{
    char version[256];

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs("usage: logtoctl [--json] version\n", stdout);
        return CLI_OK;
    }
    if (argc > 1) {
        fputs("usage: logtoctl [--json] version\n", stderr);
        return CLI_USAGE;
    }
    logto_version_string(version, sizeof(version));
    if (cli->json)
        return cli_print_json(json_pack("{s:s, s:s, s:s}", "package", PACKAGE_NAME, "version",
                                        PACKAGE_VERSION, "description", version)) < 0
                   ? CLI_FAIL
                   : CLI_OK;
    puts(version);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--config PATH] [--json] [--debug] [--quiet] COMMAND [ARGS]\n"
                 "       logtoctl help [COMMAND] | COMMAND --help | --help | --version\n\n"
                 "commands:\n");
    for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
        if (strlen(commands[i].args) <= 28)
            fprintf(out, "  %-8s %-28s %s\n", commands[i].name, commands[i].args,
                    commands[i].summary);
        else /* the arguments on a line of their own, the summary under them */
            fprintf(out, "  %-8s %s\n  %-8s %-28s %s\n", commands[i].name, commands[i].args, "", "",
                    commands[i].summary);
    }
    fprintf(out, "\nSee logtoctl(8).\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "debug", no_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct cli cli = { 0 };
    const struct cli_command *cmd = NULL;
    static char version_arg[] = "version", help_arg[] = "--help";
    bool help = false, version = false;
    int c;

    /* logtoctl carries the network half itself (net.h): no library is loaded. */
    logto_net_builtin();
    /* Text from the IdP is in much of what we print: nothing reaches the terminal unfiltered. */
    if (cli_output_init() < 0) {
        fputs("logtoctl: cannot set up the output streams\n", stderr);
        return CLI_FAIL;
    }

    /* '+': stop at the first non-option, so subcommands parse their own options. */
    while ((c = getopt_long(argc, argv, "+c:jdqhV", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli.config_path = optarg;
            break;
        case 'j':
            cli.json = true;
            break;
        case 'd':
            cli.debug = true;
            break;
        case 'q':
            cli.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        case 'V':
            version = true;
            break;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (version) /* after the loop: --json counts wherever it is */
        return cli_cmd_version(&cli, 1, (char *[]){ version_arg, NULL });
    if (optind >= argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[optind], "help") == 0) {
        /* logtoctl help COMMAND is COMMAND --help */
        if (optind + 1 >= argc) {
            usage(stdout);
            return CLI_OK;
        }
        optind++;
        help = true;
    }
    for (size_t i = 0; i < ELEMENTSOF(commands); i++)
        if (strcmp(commands[i].name, argv[optind]) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "logtoctl: unknown command '%s'\n", argv[optind]);
        usage(stderr);
        return CLI_USAGE;
    }
    /* The command's arguments up to "--": --json counts after the command name as before it (it
     * is taken out here, so no command has to know it); --help or -h anywhere shows the
     * command's own usage, before anything is loaded or checked. */
    int name_at = optind, kept = optind + 1;
    bool dashdash = false;
    for (int i = optind + 1; i < argc; i++) {
        if (!dashdash && strcmp(argv[i], "--") == 0)
            dashdash = true;
        else if (!dashdash && strcmp(argv[i], "--json") == 0) {
            cli.json = true;
            continue;
        } else if (!dashdash && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0))
            help = true;
        argv[kept++] = argv[i];
    }
    argv[kept] = NULL;
    argc = kept;
    if (help) {
        optind = 0;
        return cmd->run(&cli, 2, (char *[]){ argv[name_at], help_arg, NULL });
    }

    cli.ctx.log.fn = stderr_log;
    cli.ctx.log.debug = cli.debug;

    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    if (cmd->needs_config) {
        _cleanup_free_ char *path = NULL;
        struct logto_error err = { 0 };
        int r;

        if (cli_absolute_path(cli.config_path, &path) < 0)
            return cli_fail(&cli, -LOGTO_E_IO, NULL);
        r = logto_config_load(path, &cfg, &err);
        if (r < 0)
            return cli_fail(&cli, r, &err);
        cli.ctx.cfg = cfg;
        cli.ctx.log.debug = cli.debug || cfg->debug;
    }

    /* Subcommands parse their own options from their own name on. */
    int sub = optind;
    optind = 0;
    return cmd->run(&cli, argc - sub, argv + sub);
}
