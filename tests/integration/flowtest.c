/* SPDX-License-Identifier: MIT */
/*
 * flowtest: drives common/ network operations against an IdP, for integration tests and for
 * engineers trying things out. One subcommand per operation; add new ones to `commands` below.
 *
 *   flowtest --config FILE [options] COMMAND [ARG]
 *
 *   discover              discovery (cached); prints the endpoints and the JWKS kids as JSON
 *   jwks                  load the JWKS (cached); with --force fetch it again (rate-limited)
 *   verify-id-token [T..] verify T (or the id_token of --tokens FILE); prints the claims; with
 *                         several tokens, each in turn in one process: "TOKEN <i> OK" or
 *                         "TOKEN <i> ERROR <name>: <message>" per token
 *   device                device flow: prints "USER_CODE <code>" and "VERIFICATION_URI <uri>",
 *                         polls, prints the verified claims; --tokens FILE receives the tokens
 *   refresh               refresh the --tokens FILE (rotation: the file is rewritten before the
 *                         new tokens are used); prints the new ID token's claims or {}
 *   userinfo              userinfo with the access token of --tokens FILE; prints it
 *   revoke                revoke the refresh token of --tokens FILE (--hint access_token: the
 *                         access token)
 *
 * Options: --tokens FILE, --client-id ID (default: client_id of the config), --sub SUB (expected
 * subject for refresh/userinfo), --now-offset SECONDS (shifts the injected clock), --force,
 * --hint HINT, --qr (the UI is a terminal: draw QR codes), --enter-prompt (answer the "press
 * Enter" prompt from stdin), --fail-persist (the refresh persist callback fails), --debug.
 *
 * Output: the result on stdout; on failure one line "ERROR <error-name>: <message>" on stdout
 * and exit status 10 + the error code (2 for usage errors). Log lines and UI text go to stderr.
 * The tokens file (JSON, mode 0600) holds secrets; nothing else printed ever does.
 *
 * The password flows and Management API commands (password, mgmt-*) live in
 * flowtest_password.c, with their own options; see there.
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
#include "device.h"
#include "fileio.h"
#include "http.h"
#include "json.h"
#include "jwt.h"
#include "memory.h"
#include "oidc.h"
#include "tokens.h"
#include "ui.h"
#include "util.h"

#include "flowtest_password.h"

#define EXIT_USAGE     2
#define EXIT_ERROR_MIN 10
#define TOKENS_MAX     (256 * 1024)

struct options {
    const char *config;
    const char *tokens;
    const char *client_id;
    const char *sub;
    const char *hint;
    bool force, qr, enter_prompt, fail_persist, debug;
};

struct run {
    struct options opt;
    struct logto_config *cfg;
    char *client_secret; /* of the configured client (client_secret_file), if any */
    struct logto_ctx ctx;
    struct logto_http *http;
    struct logto_oidc *oidc;
    int argc;
    char **argv;
    char **refreshed; /* cmd_refresh: the token persist replaces (as pam_logto's record does) */
};

static int64_t clock_offset;

static int64_t shifted_now(void)
{
    return (int64_t)time(NULL) + clock_offset;
}

static void log_to_stderr(void *data, int priority, const char *line)
{
    (void)data;
    fprintf(stderr, "log<%d>: %s\n", priority, line);
}

/* ------------------------------------------------------------------ output */

static void print_json(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", text ? text : "null");
    free(text);
}

static int fail(int r, const struct logto_error *err)
{
    enum logto_errc code = logto_errc_from(r);
    printf("ERROR %s: %s\n", logto_errc_name(code), err->message);
    return EXIT_ERROR_MIN + (int)code;
}

/* ------------------------------------------------------------------ the tokens file */

static int tokens_save(const char *path, const struct logto_tokens *t, struct logto_error *err)
{
    _cleanup_json_ json_t *doc = json_object();
    _cleanup_secret_ char *text = NULL;

    if (!doc || json_object_set_new(doc, "access_token", json_string(t->access_token)) < 0 ||
        (t->refresh_token &&
         json_object_set_new(doc, "refresh_token", json_string(t->refresh_token)) < 0) ||
        (t->id_token && json_object_set_new(doc, "id_token", json_string(t->id_token)) < 0) ||
        (t->scope && json_object_set_new(doc, "scope", json_string(t->scope)) < 0))
        return LOGTO_OOM(err);
    text = logto_json_dump(doc);
    if (!text)
        return LOGTO_OOM(err);
    return logto_file_write_atomic(path, text, strlen(text), 0600, err);
}

static int tokens_load(const char *path, struct logto_tokens *t, struct logto_error *err)
{
    _cleanup_secret_ char *text = NULL;
    _cleanup_json_ json_t *doc = NULL;
    const char *at = NULL, *rt = NULL, *it = NULL;
    size_t len = 0;
    int r;

    if (!path)
        return logto_error_set(err, LOGTO_E_INVAL, "this command needs --tokens FILE");
    r = logto_file_read_trusted(path, LOGTO_FILE_SECRET, TOKENS_MAX, &text, &len, err);
    if (r < 0)
        return r;
    r = logto_json_parse_object(text, len, TOKENS_MAX, 8, path, &doc, err);
    if (r < 0 || (r = logto_json_get_string(doc, "access_token", 0, &at, err)) < 0 ||
        (r = logto_json_get_string(doc, "refresh_token", 0, &rt, err)) < 0 ||
        (r = logto_json_get_string(doc, "id_token", 0, &it, err)) < 0)
        return r;
    t->access_token = logto_strdup_or_null(at);
    t->refresh_token = logto_strdup_or_null(rt);
    t->id_token = logto_strdup_or_null(it);
    return 0;
}

/* ------------------------------------------------------------------ UI on stderr/stdin */

static int ui_info(void *data, const char *text)
{
    (void)data;
    fprintf(stderr, "%s", text);
    return 0;
}

static int ui_prompt(void *data, bool echo, const char *question, char **ret)
{
    char line[256];

    (void)data;
    (void)echo;
    fprintf(stderr, "%s", question);
    if (!fgets(line, sizeof(line), stdin))
        return -1;
    line[strcspn(line, "\n")] = '\0';
    *ret = strdup(line);
    logto_erase(line, sizeof(line));
    return *ret ? 0 : -1;
}

/* ------------------------------------------------------------------ commands */

static struct logto_client client_of(const struct run *run)
{
    if (run->opt.client_id)
        return (struct logto_client){ .client_id = run->opt.client_id };
    return (struct logto_client){
        .client_id = run->cfg->client_id,
        .client_secret = run->client_secret,
    };
}

static int cmd_discover(struct run *run, struct logto_error *err)
{
    _cleanup_json_ json_t *out = NULL;
    int r = logto_oidc_load_jwks(&run->ctx, run->http, run->oidc, false, err);

    if (r < 0)
        return r;
    out = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I}", "issuer", run->oidc->issuer,
                    "token_endpoint", run->oidc->token_endpoint, "jwks_uri", run->oidc->jwks_uri,
                    "userinfo_endpoint", run->oidc->userinfo_endpoint, "revocation_endpoint",
                    run->oidc->revocation_endpoint, "device_authorization_endpoint",
                    run->oidc->device_authorization_endpoint, "authorization_endpoint",
                    run->oidc->authorization_endpoint, "jwks_keys",
                    (json_int_t)logto_jwks_size(run->oidc->jwks));
    if (!out)
        return LOGTO_OOM(err);
    print_json(out);
    return 0;
}

static int cmd_jwks(struct run *run, struct logto_error *err)
{
    int r = logto_oidc_load_jwks(&run->ctx, run->http, run->oidc, run->opt.force, err);

    if (r < 0)
        return r;
    printf("{\"keys\":%zu,\"fetched_at\":%lld}\n", logto_jwks_size(run->oidc->jwks),
           (long long)run->oidc->jwks_fetched_at);
    return 0;
}

static int cmd_verify(struct run *run, struct logto_error *err)
{
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    _cleanup_json_ json_t *claims = NULL;
    struct logto_client client = client_of(run);
    const char *token;
    int r;

    if (run->argc > 1) {
        /* Several tokens, one process (one in-memory key set): a line "TOKEN <i> OK" or
         * "TOKEN <i> ERROR <name>: <message>" each; the result is the last error. */
        r = 0;
        for (int i = 0; i < run->argc; i++) {
            struct logto_error e = { 0 };
            int ri = logto_oidc_verify_id_token(&run->ctx, run->http, run->oidc, client.client_id,
                                                run->argv[i], NULL, (struct json_t **)&claims, &e);
            if (ri < 0) {
                printf("TOKEN %d ERROR %s: %s\n", i + 1, logto_errc_name(logto_errc_from(ri)),
                       e.message);
                r = ri;
                if (err)
                    *err = e;
            } else {
                printf("TOKEN %d OK\n", i + 1);
                json_decref(TAKE_PTR(claims));
            }
        }
        return r;
    }
    if (run->argc > 0) {
        token = run->argv[0];
    } else {
        r = tokens_load(run->opt.tokens, &t, err);
        if (r < 0)
            return r;
        token = t.id_token;
    }
    r = logto_oidc_verify_id_token(&run->ctx, run->http, run->oidc, client.client_id, token, NULL,
                                   (struct json_t **)&claims, err);
    if (r >= 0)
        print_json(claims);
    return r;
}

static int cmd_device(struct run *run, struct logto_error *err)
{
    _cleanup_device_auth_ struct logto_device_auth auth = { 0 };
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    _cleanup_json_ json_t *claims = NULL;
    struct logto_client client = client_of(run);
    struct logto_ui ui = { .info = ui_info, .prompt = ui_prompt, .terminal = run->opt.qr };
    struct logto_service svc = { .qr = run->opt.qr, .enter_prompt = run->opt.enter_prompt };
    int r;

    r = logto_device_start(&run->ctx, run->http, run->oidc, &client, &auth, err);
    if (r < 0)
        return r;
    printf("USER_CODE %s\nVERIFICATION_URI %s\n", auth.user_code,
           auth.verification_uri_complete ? auth.verification_uri_complete : auth.verification_uri);
    fflush(stdout);
    r = logto_device_show(&run->ctx, &svc, &ui, &auth, err);
    if (r >= 0)
        r = logto_device_poll(&run->ctx, run->http, run->oidc, &client, &auth, &t,
                              (struct json_t **)&claims, err);
    if (r >= 0 && run->opt.tokens)
        r = tokens_save(run->opt.tokens, &t, err);
    if (r >= 0)
        print_json(claims);
    return r;
}

static int persist_tokens(void *data, const struct logto_tokens *t, struct logto_error *err)
{
    const struct run *run = data;

    int r;

    if (run->opt.fail_persist)
        return logto_error_set(err, LOGTO_E_IO, "persisting is disabled (--fail-persist)");
    r = tokens_save(run->opt.tokens, t, err);
    /* Like the module's token record, the stored token is replaced: the string the request
     * was made with is gone, so nothing may read it after persist (valgrind, ASan). */
    if (r >= 0 && run->refreshed) {
        logto_free_secret(*run->refreshed);
        *run->refreshed = NULL;
    }
    return r;
}

static int cmd_refresh(struct run *run, struct logto_error *err)
{
    _cleanup_tokens_ struct logto_tokens old = { 0 }, fresh = { 0 };
    _cleanup_json_ json_t *claims = NULL;
    struct logto_client client = client_of(run);
    struct logto_refresh_request req = {
        .client = &client,
        .expected_sub = run->opt.sub,
        .persist = persist_tokens,
        .persist_data = run,
    };
    int r;

    r = tokens_load(run->opt.tokens, &old, err);
    if (r < 0)
        return r;
    req.refresh_token = old.refresh_token;
    run->refreshed = &old.refresh_token;
    r = logto_tokens_refresh(&run->ctx, run->http, run->oidc, &req, &fresh,
                             (struct json_t **)&claims, err);
    run->refreshed = NULL;
    if (r >= 0)
        claims ? print_json(claims) : (void)printf("{}\n");
    return r;
}

static int cmd_userinfo(struct run *run, struct logto_error *err)
{
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    _cleanup_json_ json_t *info = NULL;
    int r;

    r = tokens_load(run->opt.tokens, &t, err);
    if (r >= 0)
        r = logto_userinfo(&run->ctx, run->http, run->oidc, t.access_token, run->opt.sub,
                           (struct json_t **)&info, err);
    if (r >= 0)
        print_json(info);
    return r;
}

static int cmd_revoke(struct run *run, struct logto_error *err)
{
    _cleanup_tokens_ struct logto_tokens t = { 0 };
    struct logto_client client = client_of(run);
    const char *hint = run->opt.hint ? run->opt.hint : "refresh_token";
    int r;

    r = tokens_load(run->opt.tokens, &t, err);
    if (r < 0)
        return r;
    r = logto_tokens_revoke(&run->ctx, run->http, run->oidc, &client,
                            strcmp(hint, "access_token") == 0 ? t.access_token : t.refresh_token,
                            hint, err);
    if (r >= 0)
        printf("{\"revoked\":\"%s\"}\n", hint);
    return r;
}

static const struct {
    const char *name;
    int (*run)(struct run *run, struct logto_error *err);
} commands[] = {
    { "discover", cmd_discover }, { "jwks", cmd_jwks },       { "verify-id-token", cmd_verify },
    { "device", cmd_device },     { "refresh", cmd_refresh }, { "userinfo", cmd_userinfo },
    { "revoke", cmd_revoke },
};

/* ------------------------------------------------------------------ main */

static int usage(void)
{
    fprintf(stderr, "usage: flowtest --config FILE [--tokens FILE] [--client-id ID] [--sub SUB]\n"
                    "       [--now-offset S] [--force] [--hint H] [--qr] [--enter-prompt]\n"
                    "       [--fail-persist] [--debug] COMMAND [ARG]\n"
                    "commands: discover jwks verify-id-token device refresh userinfo revoke\n");
    return EXIT_USAGE;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "tokens", required_argument, NULL, 't' },
        { "client-id", required_argument, NULL, 'i' },
        { "sub", required_argument, NULL, 's' },
        { "now-offset", required_argument, NULL, 'n' },
        { "hint", required_argument, NULL, 'h' },
        { "force", no_argument, NULL, 'f' },
        { "qr", no_argument, NULL, 'q' },
        { "enter-prompt", no_argument, NULL, 'e' },
        { "fail-persist", no_argument, NULL, 'p' },
        { "debug", no_argument, NULL, 'd' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 't':
            o->tokens = optarg;
            break;
        case 'i':
            o->client_id = optarg;
            break;
        case 's':
            o->sub = optarg;
            break;
        case 'h':
            o->hint = optarg;
            break;
        case 'n':
            clock_offset = strtoll(optarg, NULL, 10);
            break;
        case 'f':
            o->force = true;
            break;
        case 'q':
            o->qr = true;
            break;
        case 'e':
            o->enter_prompt = true;
            break;
        case 'p':
            o->fail_persist = true;
            break;
        case 'd':
            o->debug = true;
            break;
        default:
            return -1;
        }
    }
    return o->config && optind < argc ? optind : -1;
}

static int run_command(struct run *run, const char *name, struct logto_error *err)
{
    int r;

    for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        r = logto_http_new(&run->ctx, 0, &run->http, err);
        if (r >= 0)
            r = logto_oidc_discover(&run->ctx, run->http, &run->oidc, err);
        return r < 0 ? r : commands[i].run(run, err);
    }
    return logto_error_set(err, LOGTO_E_INVAL, "unknown command %s", name);
}

int main(int argc, char **argv)
{
    struct run run = { 0 };
    struct logto_error err = { 0 };
    int first, r;

    r = flowtest_password_dispatch(argc, argv);
    if (r >= 0)
        return r;
    first = parse_options(argc, argv, &run.opt);
    if (first < 0)
        return usage();
    r = logto_config_load(run.opt.config, &run.cfg, &err);
    if (r >= 0) {
        run.ctx = (struct logto_ctx){
            .cfg = run.cfg,
            .log = { .fn = log_to_stderr, .debug = run.opt.debug || run.cfg->debug },
            .now = shifted_now,
        };
        run.argc = argc - first - 1;
        run.argv = argv + first + 1;
        if (run.cfg->client_secret_file)
            r = logto_config_read_secret(run.cfg->client_secret_file, &run.client_secret, &err);
    }
    if (r >= 0)
        r = run_command(&run, argv[first], &err);
    logto_free_secret(run.client_secret);
    logto_oidc_free(run.oidc);
    logto_http_free(run.http);
    logto_config_free(run.cfg);
    return r < 0 ? fail(r, &err) : 0;
}
