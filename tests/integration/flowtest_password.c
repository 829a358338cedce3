/* SPDX-License-Identifier: MIT */
/*
 * flowtest subcommands for common/password and common/mgmt (same conventions as flowtest.c:
 * result on stdout, "ERROR <name>: <message>" and exit 10 + code on failure, logs on stderr).
 *
 *   password --method experience|pat|management|grant --user NAME
 *                      the password (or PAT) is the first line of stdin, never an argument; a
 *                      one-time code, when asked, is the next line. Prints the method, the
 *                      verified claims and which tokens came back; --tokens FILE saves them (0600)
 *   mgmt-token         make sure an M2M token is at hand (memory, disk cache, token endpoint)
 *   mgmt-forget        drop the cached M2M token
 *   mgmt-users         list all users: {"count","requests","token_requests","usernames":[...]}
 *   mgmt-roles         list the roles (type User) with their member counts
 *   mgmt-orgs          list the organizations with their member counts
 *   mgmt-user NAME     find NAME, print the claims built from the Management API
 *   mgmt-verify NAME   check NAME's password (first line of stdin) with the Management API
 *   mgmt-patch NAME J  PATCH NAME's custom data with the JSON object J; prints the result
 *   mgmt-directory     everything a sync needs, in the fewest requests; prints the counts and,
 *                      with --user NAME, that user's roles and organization memberships
 *
 * Every mgmt command prints "requests" and "token_requests": the HTTP requests it made.
 * Options: --config FILE (required), --debug, --now-offset S, --tokens FILE, --method M,
 * --user NAME.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"
#include "context.h"
#include "fileio.h"
#include "json.h"
#include "memory.h"
#include "mgmt.h"
#include "password.h"
#include "tokens.h"
#include "ui.h"
#include "util.h"

#include "flowtest_password.h"

#define EXIT_USAGE     2
#define EXIT_ERROR_MIN 10

struct pw_options {
    const char *config, *tokens, *method, *user;
    bool debug;
};

static int64_t pw_clock_offset;

static int64_t pw_now(void)
{
    return (int64_t)time(NULL) + pw_clock_offset;
}

static void pw_log(void *data, int priority, const char *line)
{
    (void)data;
    fprintf(stderr, "log<%d>: %s\n", priority, line);
}

static void pw_print(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", text ? text : "null");
    free(text);
}

static int pw_fail(int r, const struct logto_error *err)
{
    enum logto_errc code = logto_errc_from(r);
    printf("ERROR %s: %s\n", logto_errc_name(code), err->message);
    return EXIT_ERROR_MIN + (int)code;
}

/* One line of stdin (without the newline), wiped from the stack buffer. NULL at EOF. */
static char *read_line(void)
{
    char line[8192];
    char *s;

    if (!fgets(line, sizeof(line), stdin))
        return NULL;
    line[strcspn(line, "\n")] = '\0';
    s = strdup(line);
    logto_erase(line, sizeof(line));
    return s;
}

static int pw_ui_info(void *data, const char *text)
{
    (void)data;
    fprintf(stderr, "%s", text);
    return 0;
}

static int pw_ui_prompt(void *data, bool echo, const char *question, char **ret)
{
    (void)data;
    (void)echo;
    fprintf(stderr, "%s\n", question);
    *ret = read_line();
    return *ret ? 0 : -1;
}

static int save_tokens(const char *path, const struct logto_tokens *t, struct logto_error *err)
{
    _cleanup_json_secret_ json_t *doc = json_object();
    _cleanup_secret_ char *text = NULL;

    if (!doc ||
        (t->access_token &&
         json_object_set_new(doc, "access_token", json_string(t->access_token)) < 0) ||
        (t->refresh_token &&
         json_object_set_new(doc, "refresh_token", json_string(t->refresh_token)) < 0) ||
        (t->id_token && json_object_set_new(doc, "id_token", json_string(t->id_token)) < 0))
        return LOGTO_OOM(err);
    text = logto_json_dump(doc);
    if (!text)
        return LOGTO_OOM(err);
    return logto_file_write_atomic(path, text, strlen(text), 0600, err);
}

static int method_of(const char *s, enum logto_password_method *ret)
{
    static const enum logto_password_method all[] = { LOGTO_PW_EXPERIENCE, LOGTO_PW_PAT,
                                                      LOGTO_PW_MANAGEMENT, LOGTO_PW_GRANT };
    for (size_t i = 0; s && i < ELEMENTSOF(all); i++)
        if (strcmp(s, logto_password_method_name(all[i])) == 0) {
            *ret = all[i];
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------ commands */

static int cmd_password(const struct logto_ctx *ctx, const struct pw_options *o, int argc,
                        char **argv, struct logto_error *err)
{
    _cleanup_(logto_password_result_freep) struct logto_password_result *res = NULL;
    _cleanup_secret_ char *password = NULL;
    _cleanup_json_ json_t *out = NULL;
    struct logto_ui ui = { .info = pw_ui_info, .error = pw_ui_info, .prompt = pw_ui_prompt };
    enum logto_password_method method;
    int r;

    (void)argc;
    (void)argv;
    if (method_of(o->method, &method) < 0 || !o->user)
        return logto_error_set(err, LOGTO_E_INVAL,
                               "password needs --method experience|pat|management|grant and "
                               "--user NAME");
    password = read_line();
    if (!password)
        return logto_error_set(err, LOGTO_E_INVAL, "no password on stdin");
    r = logto_password_signin(ctx, method, o->user, NULL, password, &ui, &res, err);
    if (r < 0)
        return r;
    if (o->tokens) {
        r = save_tokens(o->tokens, &res->tokens, err);
        if (r < 0)
            return r;
    }
    out = json_pack("{s:s, s:O, s:b, s:b, s:b}", "method", res->method, "claims", res->claims,
                    "access_token", res->tokens.access_token != NULL, "refresh_token",
                    res->tokens.refresh_token != NULL, "id_token", res->tokens.id_token != NULL);
    if (!out)
        return LOGTO_OOM(err);
    pw_print(out);
    return 0;
}

static int print_counts(struct logto_mgmt *m, json_t *out, struct logto_error *err)
{
    if (json_object_set_new(out, "requests", json_integer(logto_mgmt_request_count(m))) < 0 ||
        json_object_set_new(out, "token_requests",
                            json_integer(logto_mgmt_token_request_count(m))) < 0)
        return LOGTO_OOM(err);
    pw_print(out);
    return 0;
}

static int cmd_mgmt_token(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                          struct logto_error *err)
{
    _cleanup_json_ json_t *out = json_object();
    int r;

    (void)o;
    (void)argc;
    (void)argv;
    if (!out)
        return LOGTO_OOM(err);
    r = logto_mgmt_authenticate(m, err);
    return r < 0 ? r : print_counts(m, out, err);
}

static int cmd_mgmt_forget(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                           struct logto_error *err)
{
    _cleanup_json_ json_t *out = json_object();
    int r;

    (void)o;
    (void)argc;
    (void)argv;
    if (!out)
        return LOGTO_OOM(err);
    r = logto_mgmt_forget_token(m, err);
    return r < 0 ? r : print_counts(m, out, err);
}

static int cmd_mgmt_users(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                          struct logto_error *err)
{
    _cleanup_json_ json_t *users = NULL, *names = json_array(), *out = NULL;
    json_t *u;
    size_t i;
    int r;

    (void)o;
    (void)argc;
    (void)argv;
    if (!names)
        return LOGTO_OOM(err);
    r = logto_mgmt_list_users(m, &users, err);
    if (r < 0)
        return r;
    json_array_foreach(users, i, u) if (json_array_append(names, json_object_get(u, "username")) <
                                        0) return LOGTO_OOM(err);
    out = json_pack("{s:I, s:O}", "count", (json_int_t)json_array_size(users), "usernames", names);
    return out ? print_counts(m, out, err) : LOGTO_OOM(err);
}

/* roles / organizations with member counts */
static int list_with_members(struct logto_mgmt *m, bool orgs, struct logto_error *err)
{
    _cleanup_json_ json_t *items = NULL, *summary = json_object(), *out = NULL;
    json_t *item;
    size_t i;
    int r;

    if (!summary)
        return LOGTO_OOM(err);
    r = orgs ? logto_mgmt_list_organizations(m, &items, err)
             : logto_mgmt_list_roles(m, &items, err);
    if (r < 0)
        return r;
    json_array_foreach(items, i, item)
    {
        _cleanup_json_ json_t *members = NULL;
        const char *id = json_string_value(json_object_get(item, "id"));
        r = orgs ? logto_mgmt_list_organization_users(m, id, &members, err)
                 : logto_mgmt_list_role_users(m, id, &members, err);
        if (r < 0)
            return r;
        if (json_object_set_new(summary,
                                orgs ? id : json_string_value(json_object_get(item, "name")),
                                json_integer((json_int_t)json_array_size(members))) < 0)
            return LOGTO_OOM(err);
    }
    out = json_pack("{s:I, s:O}", "count", (json_int_t)json_array_size(items), "members", summary);
    return out ? print_counts(m, out, err) : LOGTO_OOM(err);
}

static int cmd_mgmt_roles(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                          struct logto_error *err)
{
    (void)o;
    (void)argc;
    (void)argv;
    return list_with_members(m, false, err);
}

static int cmd_mgmt_orgs(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                         struct logto_error *err)
{
    (void)o;
    (void)argc;
    (void)argv;
    return list_with_members(m, true, err);
}

static int cmd_mgmt_user(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                         struct logto_error *err)
{
    _cleanup_json_ json_t *user = NULL, *full = NULL, *roles = NULL, *orgs = NULL, *claims = NULL;
    _cleanup_json_ json_t *out = NULL;
    const char *id;
    int r;

    (void)o;
    if (argc < 1)
        return logto_error_set(err, LOGTO_E_INVAL, "mgmt-user needs a user name");
    r = logto_mgmt_find_user(m, argv[0], &user, err);
    if (r < 0)
        return r;
    id = json_string_value(json_object_get(user, "id"));
    r = logto_mgmt_get_user(m, id, &full, err);
    if (r >= 0)
        r = logto_mgmt_user_roles(m, id, &roles, err);
    if (r >= 0)
        r = logto_mgmt_user_organizations(m, id, &orgs, err);
    if (r >= 0)
        r = logto_mgmt_user_claims(full, roles, orgs, &claims, err);
    if (r < 0)
        return r;
    out = json_pack("{s:O, s:O}", "claims", claims, "isSuspended",
                    json_object_get(full, "isSuspended"));
    return out ? print_counts(m, out, err) : LOGTO_OOM(err);
}

static int cmd_mgmt_verify(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                           struct logto_error *err)
{
    _cleanup_json_ json_t *user = NULL, *out = json_object();
    _cleanup_secret_ char *password = NULL;
    int r;

    (void)o;
    if (argc < 1 || !out)
        return argc < 1 ? logto_error_set(err, LOGTO_E_INVAL, "mgmt-verify needs a user name")
                        : LOGTO_OOM(err);
    password = read_line();
    if (!password)
        return logto_error_set(err, LOGTO_E_INVAL, "no password on stdin");
    r = logto_mgmt_find_user(m, argv[0], &user, err);
    if (r >= 0)
        r = logto_mgmt_verify_password(m, json_string_value(json_object_get(user, "id")), password,
                                       err);
    if (r < 0)
        return r;
    if (json_object_set_new(out, "verified", json_true()) < 0)
        return LOGTO_OOM(err);
    return print_counts(m, out, err);
}

static int cmd_mgmt_patch(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
                          struct logto_error *err)
{
    _cleanup_json_ json_t *user = NULL, *patch = NULL, *merged = NULL, *out = NULL;
    json_error_t jerr;
    int r;

    (void)o;
    if (argc < 2)
        return logto_error_set(err, LOGTO_E_INVAL, "mgmt-patch needs a user name and JSON");
    patch = json_loads(argv[1], 0, &jerr);
    if (!json_is_object(patch))
        return logto_error_set(err, LOGTO_E_INVAL, "the custom data must be a JSON object");
    r = logto_mgmt_find_user(m, argv[0], &user, err);
    if (r >= 0)
        r = logto_mgmt_patch_custom_data(m, json_string_value(json_object_get(user, "id")), patch,
                                         &merged, err);
    if (r < 0)
        return r;
    out = json_pack("{s:O?}", "customData", merged);
    return out ? print_counts(m, out, err) : LOGTO_OOM(err);
}

static int cmd_mgmt_directory(struct logto_mgmt *m, const struct pw_options *o, int argc,
                              char **argv, struct logto_error *err)
{
    _cleanup_(logto_mgmt_directory_freep) struct logto_mgmt_directory *dir = NULL;
    _cleanup_json_ json_t *out = NULL;
    size_t role_links = 0, org_links = 0;
    int r;

    (void)argc;
    (void)argv;
    r = logto_mgmt_fetch_directory(m, &dir, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < dir->n_users; i++) {
        role_links += logto_strv_length(dir->users[i].roles);
        org_links += dir->users[i].n_orgs;
    }
    out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "users", (json_int_t)dir->n_users, "roles",
                    (json_int_t)json_array_size(dir->roles), "organizations",
                    (json_int_t)json_array_size(dir->organizations), "role_memberships",
                    (json_int_t)role_links, "org_memberships", (json_int_t)org_links,
                    "fetch_requests", (json_int_t)dir->requests);
    if (!out)
        return LOGTO_OOM(err);
    for (size_t i = 0; o->user && i < dir->n_users; i++) {
        const struct logto_mgmt_dir_user *u = &dir->users[i];
        const char *name = json_string_value(json_object_get(u->user, "username"));
        _cleanup_json_ json_t *roles = json_array(), *orgs = json_array();
        if (!name || strcmp(name, o->user) != 0)
            continue;
        if (!roles || !orgs)
            return LOGTO_OOM(err);
        for (size_t k = 0; u->roles[k]; k++)
            json_array_append_new(roles, json_string(u->roles[k]));
        for (size_t k = 0; k < u->n_orgs; k++) {
            json_t *orl = json_array();
            for (size_t j = 0; orl && u->orgs[k].roles[j]; j++)
                json_array_append_new(orl, json_string(u->orgs[k].roles[j]));
            json_array_append_new(orgs, json_pack("{s:s, s:s?, s:o}", "id", u->orgs[k].id, "name",
                                                  u->orgs[k].name, "roles", orl));
        }
        json_object_set_new(out, "user",
                            json_pack("{s:s, s:s, s:O, s:O}", "username", name, "id", u->id,
                                      "roles", roles, "organizations", orgs));
    }
    return print_counts(m, out, err);
}

static const struct {
    const char *name;
    int (*run)(struct logto_mgmt *m, const struct pw_options *o, int argc, char **argv,
               struct logto_error *err);
} mgmt_commands[] = {
    { "mgmt-token", cmd_mgmt_token },         { "mgmt-forget", cmd_mgmt_forget },
    { "mgmt-users", cmd_mgmt_users },         { "mgmt-roles", cmd_mgmt_roles },
    { "mgmt-orgs", cmd_mgmt_orgs },           { "mgmt-user", cmd_mgmt_user },
    { "mgmt-verify", cmd_mgmt_verify },       { "mgmt-patch", cmd_mgmt_patch },
    { "mgmt-directory", cmd_mgmt_directory },
};

/* ------------------------------------------------------------------ dispatch */

static bool is_ours(const char *cmd)
{
    if (strcmp(cmd, "password") == 0)
        return true;
    for (size_t i = 0; i < ELEMENTSOF(mgmt_commands); i++)
        if (strcmp(cmd, mgmt_commands[i].name) == 0)
            return true;
    return false;
}

/* The command word: the first argument that is not an option or an option's value. */
static const char *command_word(int argc, char **argv)
{
    static const char *const with_value[] = { "--config",     "--tokens", "--client-id", "--sub",
                                              "--now-offset", "--hint",   "--method",    "--user" };
    for (int i = 1; i < argc; i++) {
        bool takes = false;
        if (strcmp(argv[i], "--") == 0)
            return i + 1 < argc ? argv[i + 1] : NULL;
        if (argv[i][0] != '-')
            return argv[i];
        for (size_t k = 0; k < ELEMENTSOF(with_value); k++)
            if (strcmp(argv[i], with_value[k]) == 0)
                takes = true;
        if (takes)
            i++;
    }
    return NULL;
}

int flowtest_password_dispatch(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "tokens", required_argument, NULL, 't' },
        { "method", required_argument, NULL, 'm' },
        { "user", required_argument, NULL, 'u' },
        { "now-offset", required_argument, NULL, 'n' },
        { "debug", no_argument, NULL, 'd' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };
    struct pw_options o = { 0 };
    struct logto_ctx ctx;
    const char *cmd = command_word(argc, argv);
    int c, r;

    if (!cmd || !is_ours(cmd))
        return -1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 't':
            o.tokens = optarg;
            break;
        case 'm':
            o.method = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'n':
            pw_clock_offset = strtoll(optarg, NULL, 10);
            break;
        case 'd':
            o.debug = true;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (!o.config || optind >= argc) {
        fprintf(stderr, "usage: flowtest --config FILE [--debug] [--tokens FILE] "
                        "[--method M] [--user NAME] password|mgmt-... [ARG...]\n");
        return EXIT_USAGE;
    }
    r = logto_config_load(o.config, &cfg, &err);
    if (r < 0)
        return pw_fail(r, &err);
    ctx = (struct logto_ctx){
        .cfg = cfg,
        .log = { .fn = pw_log, .debug = o.debug || cfg->debug },
        .now = pw_now,
    };
    argc -= optind + 1;
    argv += optind + 1;
    if (strcmp(cmd, "password") == 0) {
        r = cmd_password(&ctx, &o, argc, argv, &err);
    } else {
        _cleanup_mgmt_ struct logto_mgmt *m = NULL;
        r = logto_mgmt_new(&ctx, &m, &err);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(mgmt_commands); i++)
            if (strcmp(cmd, mgmt_commands[i].name) == 0)
                r = mgmt_commands[i].run(m, &o, argc, argv, &err);
    }
    return r < 0 ? pw_fail(r, &err) : 0;
}
