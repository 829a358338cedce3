/* SPDX-License-Identifier: MIT */
/* logtoctl config: check the configuration files, list the keys they accept. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "authz.h"
#include "cli.h"
#include "conf.h"
#include "util.h"

int cli_absolute_path(const char *path, char **ret)
{
    _cleanup_free_ char *cwd = NULL;

    *ret = NULL;
    if (!path)
        return 0;
    if (path[0] == '/') {
        *ret = strdup(path);
        return *ret ? 0 : -1;
    }
    /* Not realpath(): a symlinked configuration must still be seen, and refused, as one. */
    cwd = getcwd(NULL, 0);
    if (!cwd)
        return -1;
    *ret = logto_asprintf("%s/%s", strcmp(cwd, "/") ? cwd : "", path);
    return *ret ? 0 : -1;
}

static int print_json(json_t *doc)
{
    int r = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0 ? -1 : 0;
    json_decref(doc);
    putchar('\n');
    return r < 0 ? CLI_FAIL : CLI_OK;
}

/*
 * logto.conf holds no secret (secrets live in root-only *_secret_file files), so it is meant to
 * be readable by everyone: a file others cannot read is no error, but programs that run without
 * privileges (screen lockers, logtoctl run by a user) cannot read it, and the person should know.
 */
static int mode_notices(const struct logto_config *cfg, char ***ret)
{
    for (size_t i = 0; cfg && cfg->sources && cfg->sources[i]; i++) {
        struct stat st;
        if (stat(cfg->sources[i], &st) < 0 || (st.st_mode & S_IROTH))
            continue;
        if (logto_strv_push_take(ret, logto_asprintf("%s: mode %04o: unprivileged PAM programs "
                                                     "(screen lockers) and logtoctl run by users "
                                                     "cannot read it; it holds no secret: 0644 "
                                                     "is the intended mode",
                                                     cfg->sources[i],
                                                     (unsigned)(st.st_mode & 07777))) < 0)
            return -1;
    }
    /* Generic providers may revoke only for authenticated clients (Glewlwyd answers 401). */
    if (cfg && cfg->profile == LOGTO_PROFILE_GENERIC && !cfg->client_secret_file &&
        logto_strv_push_take(ret, logto_asprintf("no client_secret_file: logtoctl logout and "
                                                 "revoke_on_close revoke refresh tokens as a "
                                                 "public client, which some providers refuse "
                                                 "(Glewlwyd: HTTP 401); revocation needs "
                                                 "client_secret_file at such providers "
                                                 "(logtoctl status asks the provider)")) < 0)
        return -1;
    return 0;
}

/* Whom a service admits, for the notices: "everyone", "nobody" or "rules". */
static const char *admits_text(const struct logto_service *svc)
{
    if (logto_authz_admits_anyone(svc))
        return "everyone";
    return logto_authz_names_nobody(svc) ? "nobody" : "rules";
}

/* Is there a [service NAME] section for this resolved service? ("*" may have none.) */
static bool has_section(const struct logto_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_services; i++)
        if (strcmp(cfg->services[i]->name, name) == 0)
            return true;
    return false;
}

static json_t *services_json(const struct logto_authz_host *host)
{
    json_t *a = json_array();
    for (size_t i = 0; a && host && i < host->n_services; i++) {
        const struct logto_service *svc = host->services[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:i}", "name", svc->name, "admits",
                                           admits_text(svc), "file",
                                           cli_json_string_or_null(svc->file), "line", svc->line));
    }
    return a;
}

/*
 * Deny by default, said out loud: services that admit every user of the tenant (a notice: it
 * may be what is wanted) and sections that admit nobody (a warning: probably a mistake).
 */
static void print_service_notices(const struct logto_config *cfg,
                                  const struct logto_authz_host *host)
{
    for (size_t i = 0; host && i < host->n_services; i++) {
        const struct logto_service *svc = host->services[i];
        bool star = strcmp(svc->name, "*") == 0;
        char where[300] = "";

        if (svc->file)
            snprintf(where, sizeof(where), " (%s:%d)", svc->file, svc->line);
        if (logto_authz_admits_anyone(svc))
            printf("notice: [service %s]%s admits every user of %s (allow_any_user = yes%s)\n",
                   svc->name, where,
                   cfg->profile == LOGTO_PROFILE_GENERIC ? "the identity provider"
                                                         : "the Logto tenant",
                   svc->deny_users ? ", except deny_users" : "");
        else if (logto_authz_names_nobody(svc) && (!star || has_section(cfg, "*")))
            printf("warning: [service %s]%s admits nobody: set require_roles, require_orgs, "
                   "require_org_roles or allow_users (or allow_any_user = yes)\n",
                   svc->name, where);
        else if (logto_authz_names_nobody(svc))
            printf("notice: PAM services without a [service NAME] section admit nobody (no "
                   "[service *] rules)\n");
    }
}

/* The online findings as text: errors and warnings on stderr, the rest on stdout (not with
 * --quiet), each "RESULT: [FILE:LINE: ]MESSAGE". */
static void print_online(const struct cli *cli, const json_t *findings)
{
    size_t i;
    const json_t *item;

    json_array_foreach(findings, i, item)
    {
        const char *result = json_string_value(json_object_get(item, "result"));
        const char *file = json_string_value(json_object_get(item, "file"));
        bool bad = logto_streq(result, "error") || logto_streq(result, "warning");
        FILE *out = bad ? stderr : stdout;

        if (!bad && cli->quiet)
            continue;
        fprintf(out, "%s: ", result);
        if (file)
            fprintf(out, "%s:%d: ", file, (int)json_integer_value(json_object_get(item, "line")));
        fprintf(out, "%s\n", json_string_value(json_object_get(item, "message")));
    }
}

static int check_json(const struct logto_config *cfg, char *const *errors, char *const *notices,
                      json_t *online, int status)
{
    _cleanup_(logto_authz_host_freep) struct logto_authz_host *host = NULL;
    json_t *doc;

    if (cfg && logto_authz_host_new(cfg, &host, NULL) < 0)
        return CLI_FAIL;
    doc = json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "ok", cfg != NULL && status == CLI_OK,
                    "files", cli_json_strv(cfg ? cfg->sources : NULL), "errors",
                    cli_json_strv(errors), "notices", cli_json_strv(notices), "services",
                    host ? services_json(host) : json_array(), "online",
                    online ? online : json_null());
    if (!doc)
        return CLI_FAIL;
    return print_json(doc) == CLI_OK ? status : CLI_FAIL;
}

static int config_check(struct cli *cli, const char *path, bool online)
{
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_(logto_authz_host_freep) struct logto_authz_host *host = NULL;
    _cleanup_strv_ char **errors = NULL, **notices = NULL;
    _cleanup_free_ char *abs = NULL, *files = NULL;
    json_t *findings = NULL;
    int n, status = CLI_OK;

    if (cli_absolute_path(path, &abs) < 0)
        return cli_fail(cli, -LOGTO_E_IO, NULL);
    n = logto_config_check(abs, &cfg, &errors);
    if (n < 0)
        return cli_fail(cli, n, NULL);
    if (mode_notices(cfg, &notices) < 0)
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
    /* The provider is asked only about a valid configuration. */
    if (online && n == 0)
        status = cli_config_online(cli, cfg, &findings);
    if (cli->json)
        return check_json(cfg, errors, notices, findings, n > 0 ? CLI_CONFIG : status);
    if (n > 0) {
        for (size_t i = 0; errors[i]; i++)
            fprintf(stderr, "%s\n", errors[i]);
        if (online)
            fprintf(stderr, "not checked online: the configuration has errors\n");
        return CLI_CONFIG;
    }
    for (size_t i = 0; notices && notices[i]; i++)
        fprintf(stderr, "notice: %s\n", notices[i]);
    if (cli->quiet) {
        print_online(cli, findings);
        json_decref(findings);
        return status;
    }
    files = logto_strv_join(cfg->sources, ", ");
    if (!files)
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
    printf("configuration OK: %s\n", files);
    if (logto_authz_host_new(cfg, &host, NULL) < 0)
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
    print_service_notices(cfg, host);
    logto_config_dump(cfg, stdout);
    if (findings) {
        fflush(stdout);
        print_online(cli, findings);
        json_decref(findings);
    }
    return fflush(stdout) == 0 ? status : CLI_FAIL;
}

static int config_keys(struct cli *cli)
{
    size_t n;
    const struct logto_config_key *keys = logto_config_keys(&n);

    if (cli->json) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
            json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s?, s:s}", "section",
                                               keys[i].section, "key", keys[i].name, "type",
                                               keys[i].type, "default", keys[i].def, "doc",
                                               keys[i].doc));
        return a ? print_json(a) : CLI_FAIL;
    }
    /* Tab-separated: section, key, type, default ("-": none, "": empty), description. */
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\t%s\t%s\t%s\n", keys[i].section, keys[i].name, keys[i].type,
               !keys[i].def     ? "-"
               : keys[i].def[0] ? keys[i].def
                                : "\"\"",
               keys[i].doc);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static void config_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] [--quiet] config check [--config PATH] [--online]\n"
                 "       logtoctl [--json] config keys\n");
}

int cli_cmd_config(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { "online", no_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = cli->config_path;
    bool online = false;
    int c;

    if (argc < 2) {
        config_usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        config_usage(stdout);
        return CLI_OK;
    }
    /* Options follow the subcommand: parse argv from "check" or "keys" on. */
    optind = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "+c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'h':
            config_usage(stdout);
            return CLI_OK;
        case 'o':
            online = true;
            break;
        default:
            config_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "logtoctl: config %s: unexpected argument '%s'\n", argv[1],
                argv[optind + 1]);
        return CLI_USAGE;
    }
    if (online && strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "logtoctl: config %s: --online is an option of config check\n", argv[1]);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "check") == 0)
        return config_check(cli, path, online);
    if (strcmp(argv[1], "keys") == 0)
        return config_keys(cli);
    fprintf(stderr, "logtoctl: config: unknown subcommand '%s'\n", argv[1]);
    config_usage(stderr);
    return CLI_USAGE;
}
