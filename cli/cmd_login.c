/* SPDX-License-Identifier: MIT */
/*
 * logtoctl login USER: a sign-in on the terminal, as pam_logto would do it (the admin's test of a
 * setup). logtoctl logout USER: revoke and remove a token record. logtoctl token: an access token
 * from a user's cached session, for scripts (see logtoctl(8)).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "cli.h"
#include "conf.h"
#include "directory.h"
#include "http.h"
#include "identity.h"
#include "json.h"
#include "memory.h"
#include "names.h"
#include "net.h"
#include "oidc.h"
#include "owners.h"
#include "store.h"
#include "sync.h"
#include "tokens.h"
#include "util.h"

#define LOCK_TIMEOUT_MS 10000
#define ANSWER_MAX      4096 /* longer answers are cut (LOGTO_PASSWORD_MAX_LEN refuses them) */

/* ---------------------------------------------------------------- logging */

/*
 * The commands that act for a user (login, logout, token, cache clear) leave an audit trail:
 * every library line at LOG_INFO or above also goes to syslog (LOG_AUTHPRIV, ident logtoctl),
 * in the same "event key=value" format as pam_logto's. On stderr only warnings and errors,
 * everything with --debug.
 */
static void audit_sink(void *data, int priority, const char *line)
{
    const struct cli *cli = data;

    if (priority <= LOG_INFO)
        syslog(LOG_AUTHPRIV | priority, "%s", line);
    if (priority <= LOG_WARNING || cli->debug)
        fprintf(stderr, "logtoctl: %s%s\n", priority <= LOG_ERR ? "error: " : "", line);
}

void cli_audit_log(struct cli *cli)
{
    openlog("logtoctl", LOG_PID, LOG_AUTHPRIV);
    cli->ctx.log.fn = audit_sink;
    cli->ctx.log.userdata = cli;
}

/* ---------------------------------------------------------------- JSON */

static json_t *jerror(int r, const struct logto_error *err)
{
    if (r >= 0)
        return json_null();
    return json_pack("{s:s, s:s}", "code", logto_errc_name(logto_errc_from(r)), "message",
                     err && err->message[0] ? err->message : logto_errc_name(logto_errc_from(r)));
}

/* ---------------------------------------------------------------- the terminal as a UI */

static struct termios saved_termios;
static volatile sig_atomic_t termios_fd = -1;

static void restore_and_die(int sig)
{
    if (termios_fd >= 0)
        tcsetattr(termios_fd, TCSAFLUSH, &saved_termios);
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * Read one line from fd (the terminal, or a pipe for scripts) without stdio, so no buffer
 * holds more of a secret than we wipe, and a pipe is not read past the line (the next prompt
 * gets the next line). With echo off on a terminal, echo is restored on every way out.
 */
static int read_answer(int fd, bool echo, const char *question, char **ret)
{
    struct sigaction sa = { .sa_handler = restore_and_die }, old_int, old_term, old_hup;
    struct termios t;
    bool tty = isatty(fd) == 1, noecho = false;
    char *buf = calloc(1, ANSWER_MAX + 1);
    size_t len = 0;
    int r = 0;

    if (!buf)
        return -LOGTO_E_NOMEM;
    if (tty && !echo && tcgetattr(fd, &saved_termios) == 0) {
        t = saved_termios;
        t.c_lflag &= ~(tcflag_t)ECHO;
        t.c_lflag |= ECHONL;
        sigemptyset(&sa.sa_mask);
        termios_fd = fd;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        sigaction(SIGHUP, &sa, &old_hup);
        noecho = tcsetattr(fd, TCSAFLUSH, &t) == 0;
    }
    /* Only now: whatever is typed once the question shows is not echoed. A script that pipes
     * the answer in gets no prompt text in its output. */
    if (tty) {
        fputs(question, stderr);
        fflush(stderr);
    }
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -LOGTO_E_IO;
            break;
        }
        if (n == 0) {
            if (len == 0)
                r = -LOGTO_E_IO; /* end of input: no answer */
            break;
        }
        if (c == '\n')
            break;
        if (len < ANSWER_MAX)
            buf[len++] = c;
    }
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (termios_fd >= 0) {
        if (noecho)
            tcsetattr(fd, TCSAFLUSH, &saved_termios);
        termios_fd = -1;
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
    }
    if (r < 0) {
        logto_freezero(buf, ANSWER_MAX + 1);
        return r;
    }
    *ret = buf;
    return 0;
}

struct term {
    FILE *out; /* info text: stdout, or stderr with --json */
};

static int term_info(void *data, const char *text)
{
    struct term *t = data;
    size_t n = strlen(text);

    fputs(text, t->out);
    if (n == 0 || text[n - 1] != '\n')
        fputc('\n', t->out);
    return fflush(t->out) == 0 ? 0 : -LOGTO_E_IO;
}

static int term_error(void *data, const char *text)
{
    (void)data;
    fprintf(stderr, "logtoctl: %s\n", text);
    return 0;
}

static int term_prompt(void *data, bool echo, const char *question, char **ret_answer)
{
    struct term *t = data;

    fflush(t->out);
    return read_answer(STDIN_FILENO, echo, question, ret_answer);
}

/* ---------------------------------------------------------------- shared helpers */

static int need_root(const char *what)
{
    if (geteuid() == 0)
        return CLI_OK;
    fprintf(stderr, "logtoctl: %s must run as root: %s\n", what,
            strcmp(what, "token") == 0 ? "the token records are root's"
                                       : "it writes root's token records and directory snapshot");
    return CLI_FAIL;
}

static int check_name(const char *cmd, const char *name)
{
    if (logto_name_valid(name))
        return CLI_OK;
    fprintf(stderr, "logtoctl: %s: '%s' is not a valid user name\n", cmd, name);
    return CLI_USAGE;
}

static const char *state_dir(const struct logto_config *cfg)
{
    return cfg && cfg->state_dir ? cfg->state_dir : LOGTO_STATE_DIR;
}

/* ---------------------------------------------------------------- logtoctl login */

static const char *org_name(const struct logto_identity *id, const char *org)
{
    for (size_t k = 0; k < id->n_org_names; k++)
        if (strcmp(id->org_names[k].id, org) == 0)
            return id->org_names[k].name;
    return NULL;
}

static json_t *identity_json(const struct logto_identity *id, const struct logto_dir_group *groups,
                             size_t n_groups)
{
    json_t *orgs = json_array(), *gs = json_array(), *doc;

    for (size_t i = 0; orgs && id->orgs && id->orgs[i]; i++)
        json_array_append_new(orgs, json_pack("{s:s, s:o}", "id", id->orgs[i], "name",
                                              cli_json_string_or_null(org_name(id, id->orgs[i]))));
    for (size_t i = 0; gs && i < n_groups; i++)
        json_array_append_new(gs, json_pack("{s:s, s:I, s:s, s:o, s:b}", "name", groups[i].name,
                                            "gid", (json_int_t)groups[i].gid, "kind",
                                            logto_group_kind_name(groups[i].kind), "source",
                                            cli_json_string_or_null(groups[i].source), "primary",
                                            groups[i].gid == id->gid));
    doc =
        json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o}", "name",
                  id->name, "sub", id->sub, "uid", (json_int_t)id->uid, "gid", (json_int_t)id->gid,
                  "home", id->home, "shell", id->shell, "gecos", id->gecos ? id->gecos : "",
                  "suspended", id->suspended, "roles", cli_json_strv(id->roles), "organizations",
                  orgs ? orgs : json_null(), "organization_roles", cli_json_strv(id->org_roles),
                  "claim_groups", cli_json_strv(id->groups), "groups", gs ? gs : json_null());
    if (doc) {
        json_object_set_new(doc, "from",
                            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "name",
                                      cli_json_string_or_null(id->name_from), "uid",
                                      cli_json_string_or_null(id->uid_from), "gid",
                                      cli_json_string_or_null(id->gid_from), "home",
                                      cli_json_string_or_null(id->home_from), "shell",
                                      cli_json_string_or_null(id->shell_from), "gecos",
                                      cli_json_string_or_null(id->gecos_from)));
        json_object_set_new(doc, "origin", cli_origins_json(id));
    }
    return doc;
}

static void print_list(const char *label, char *const *v)
{
    printf("  %-9s", label);
    for (size_t i = 0; v && v[i]; i++)
        printf(" %s", v[i]);
    printf("%s\n", v && v[0] ? "" : " -");
}

static void print_identity(const struct logto_auth_result *res,
                           const struct logto_dir_group *groups, size_t n_groups)
{
    const struct logto_identity *id = res->identity;

    printf("signed in: %s (method %s%s)\n", id->name, res->method,
           res->offline ? ", offline: checked against the cached verifier" : "");
    printf("  name      %-24s from %s\n", id->name, id->name_from ? id->name_from : "-");
    printf("  uid       %-24" PRIu32 " from %s\n", id->uid, id->uid_from ? id->uid_from : "-");
    printf("  gid       %-24" PRIu32 " from %s\n", id->gid, id->gid_from ? id->gid_from : "-");
    cli_print_passwd_fields(id);
    printf("  sub       %s\n", id->sub);
    print_list("roles", id->roles);
    printf("  orgs     ");
    for (size_t i = 0; id->orgs && id->orgs[i]; i++) {
        const char *n = org_name(id, id->orgs[i]);
        printf(" %s%s%s%s", id->orgs[i], n ? " (" : "", n ? n : "", n ? ")" : "");
    }
    printf("%s\n", id->orgs && id->orgs[0] ? "" : " -");
    print_list("org roles", id->org_roles);
    if (id->groups && id->groups[0])
        print_list("claim grp", id->groups);
    printf("  groups:%s\n", n_groups ? "" : " -");
    for (size_t i = 0; i < n_groups; i++)
        printf("    %-32s %10" PRIu32 "  %-8s %s%s\n", groups[i].name, groups[i].gid,
               logto_group_kind_name(groups[i].kind), groups[i].source ? groups[i].source : "",
               groups[i].gid == id->gid ? "  (primary)" : "");
}

/* The rules the sign-in follows: [service NAME] (or [service *]), --method on top. */
static int login_service(const struct logto_config *cfg, const char *service, const char *method,
                         struct logto_service **ret, struct logto_error *err)
{
    const char *args[2] = { NULL, NULL };
    char flow_arg[32], method_arg[64];
    int n = 0;

    if (method && strcmp(method, "device") == 0) {
        args[n++] = "flow=device";
    } else if (method) {
        snprintf(flow_arg, sizeof(flow_arg), "flow=password");
        snprintf(method_arg, sizeof(method_arg), "password_method=%s", method);
        args[n++] = flow_arg;
        args[n++] = method_arg;
    }
    return logto_config_service(cfg, service, n, args, ret, err);
}

static int do_signin(struct cli *cli, const struct logto_service *svc, const char *user,
                     const struct logto_ui *ui, struct logto_auth_result **res,
                     struct logto_error *err)
{
    _cleanup_secret_ char *password = NULL;
    int r;

    if (svc->flow == LOGTO_FLOW_DEVICE)
        return logto_auth_device(&cli->ctx, svc, user, ui, res, err);
    r = ui->prompt(ui->data, false,
                   svc->flow == LOGTO_FLOW_BOTH
                       ? "Password (or press Enter to sign in with a code): "
                       : "Password: ",
                   &password);
    if (r < 0)
        return logto_error_set(err, LOGTO_E_IO, "no password was entered");
    if (svc->flow == LOGTO_FLOW_BOTH && !password[0])
        return logto_auth_device(&cli->ctx, svc, user, ui, res, err);
    return logto_auth_password(&cli->ctx, svc, user, password, ui, res, err);
}

static void login_usage(FILE *out)
{
    fprintf(out,
            "usage: logtoctl [--json] login [--method device|experience|pat|management|grant]\n"
            "                [--service NAME] USER\n");
}

int cli_cmd_login(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "method", required_argument, NULL, 'm' },
        { "service", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char *const methods[] = { "device", "experience", "pat", "management", "grant" };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_(logto_service_freep) struct logto_service *svc = NULL, *acct_svc = NULL;
    _cleanup_(logto_auth_result_freep) struct logto_auth_result *res = NULL, *acct = NULL;
    _cleanup_free_ char *record = NULL, *snapshot = NULL;
    struct logto_dir_group *groups = NULL;
    size_t n_groups = 0;
    struct logto_error err = { 0 }, aerr = { 0 }, gerr = { 0 };
    const char *method = NULL, *service = NULL, *user;
    struct term term = { 0 };
    struct logto_ui ui;
    bool local = false, known = false;
    int c, r, ar = 0, status;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+m:s:h", options, NULL)) != -1) {
        switch (c) {
        case 'm':
            method = optarg;
            break;
        case 's':
            service = optarg;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            login_usage(stdout);
            return CLI_OK;
        default:
            login_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        login_usage(stderr);
        return CLI_USAGE;
    }
    user = argv[optind];
    for (size_t i = 0; method && i < ELEMENTSOF(methods); i++)
        known |= strcmp(method, methods[i]) == 0;
    if (method && !known) {
        fprintf(stderr, "logtoctl: login: unknown method '%s'\n", method);
        return CLI_USAGE;
    }
    if ((r = check_name("login", user)) != CLI_OK || (r = need_root("login")) != CLI_OK)
        return r;
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;
    cli_audit_log(cli);

    r = logto_auth_is_local_user(&cli->ctx, user, &local, &err);
    if (r < 0)
        return cli_fail(cli, r, &err);
    if (local) {
        fprintf(stderr, "logtoctl: %s is a local account (passwd file): %s never signs it in\n",
                user, logto_idp_name(cfg));
        return CLI_FAIL;
    }
    r = login_service(cfg, service ? service : "logtoctl", method, &svc, &err);
    if (r >= 0 && service)
        r = logto_config_service(cfg, service, 0, NULL, &acct_svc, &err);
    if (r < 0)
        return cli_fail(cli, r, &err);

    term.out = cli->json ? stderr : stdout;
    ui = (struct logto_ui){
        .info = term_info,
        .error = term_error,
        .prompt = term_prompt,
        .data = &term,
        .terminal = isatty(cli->json ? STDERR_FILENO : STDOUT_FILENO) == 1,
    };
    r = do_signin(cli, svc, user, &ui, &res, &err);
    if (r < 0) {
        logto_log(&cli->ctx.log, LOG_NOTICE, "login-failed user=%s error=%s reason=\"%s\"", user,
                  logto_errc_name(logto_errc_from(r)), err.message);
        if (cli->json)
            (void)cli_print_json(
                json_pack("{s:s, s:b, s:o}", "user", user, "ok", 0, "error", jerror(r, &err)));
        return cli_fail(cli, r, &err);
    }
    logto_log(&cli->ctx.log, LOG_NOTICE, "login-ok user=%s method=%s uid=%" PRIu32 "%s", user,
              res->method, res->identity->uid, res->offline ? " offline=yes" : "");
    record = logto_asprintf("%s/%s/%s.json", state_dir(cfg), LOGTO_TOKENS_SUBDIR, user);
    snapshot = logto_asprintf("%s/%s", state_dir(cfg), LOGTO_SNAPSHOT_NAME);
    if (!record || !snapshot)
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
    /* The groups NSS now serves for the user (what the sign-in wrote into the snapshot). */
    if (logto_identity_groups(&cli->ctx, res->identity, &groups, &n_groups, &gerr) < 0)
        n_groups = 0;
    if (service) {
        ar = logto_auth_account(&cli->ctx, acct_svc, user, &acct, &aerr);
        logto_log(&cli->ctx.log, LOG_NOTICE, "login-account user=%s service=%s result=%s%s%s%s",
                  user, service, ar < 0 ? "deny" : "allow", ar < 0 ? " reason=\"" : "",
                  ar < 0 ? (acct && acct->reason[0] ? acct->reason : aerr.message) : "",
                  ar < 0 ? "\"" : "");
    }
    status = ar < 0 ? (cli_exit_code(ar) == CLI_UNAVAIL ? CLI_UNAVAIL : CLI_DENIED) : CLI_OK;

    if (cli->json) {
        json_t *account = json_null();
        if (service)
            account =
                json_pack("{s:s, s:b, s:o, s:o, s:b, s:o}", "service", service, "allowed", ar >= 0,
                          "decided", cli_json_string_or_null(acct ? acct->method : NULL), "reason",
                          ar < 0 ? cli_json_string_or_null(acct && acct->reason[0] ? acct->reason
                                                                                   : aerr.message)
                                 : json_null(),
                          "offline", acct && acct->offline, "error", jerror(ar, &aerr));
        if (cli_print_json(json_pack("{s:s, s:b, s:s, s:b, s:o, s:s, s:s, s:o, s:o}", "user", user,
                                     "ok", 1, "method", res->method, "offline", res->offline,
                                     "identity", identity_json(res->identity, groups, n_groups),
                                     "record", record, "snapshot", snapshot, "account", account,
                                     "error", json_null())) < 0)
            status = CLI_FAIL;
        logto_identity_groups_free(groups, n_groups);
        return status;
    }
    print_identity(res, groups, n_groups);
    logto_identity_groups_free(groups, n_groups);
    printf("written: %s, %s\n", record, snapshot);
    if (service) {
        if (ar >= 0)
            printf("service %s: allowed (decided: %s%s)\n", service, acct->method,
                   acct->offline ? ", offline" : "");
        else
            printf("service %s: denied: %s\n", service,
                   acct && acct->reason[0] ? acct->reason : aerr.message);
    }
    return fflush(stdout) == 0 ? status : CLI_FAIL;
}

/* ---------------------------------------------------------------- logtoctl logout */

/* Revoke rec's refresh token at the IdP (the network half's revoke, as pam_logto does). 0:
 * revoked; < 0: could not (err says why). */
static int revoke_record(struct cli *cli, const struct logto_record *rec, struct logto_error *err)
{
    const struct logto_net_ops *net;
    int r = logto_net_get(&cli->ctx, &net, err);

    return r < 0 ? r : net->revoke(&cli->ctx, rec->auth_method, rec->refresh_token, err);
}

static void logout_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] [--quiet] logout [--forget] USER\n");
}

int cli_cmd_logout(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "forget", no_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    struct logto_error err = { 0 }, rerr = { 0 }, ferr = { 0 };
    const char *user, *revoked = "none";
    bool forget = false, removed = false, forgotten = false;
    int c, r, rr = 0, fr = 0, status = CLI_OK;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+fh", options, NULL)) != -1) {
        switch (c) {
        case 'f':
            forget = true;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            logout_usage(stdout);
            return CLI_OK;
        default:
            logout_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        logout_usage(stderr);
        return CLI_USAGE;
    }
    user = argv[optind];
    if ((r = check_name("logout", user)) != CLI_OK || (r = need_root("logout")) != CLI_OK)
        return r;
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;
    cli_audit_log(cli);

    if ((r = logto_store_open(&cli->ctx, &store, &err)) < 0 ||
        (r = logto_store_lock(store, user, LOCK_TIMEOUT_MS, &lock, &err)) < 0)
        return cli_fail(cli, r, &err);
    r = logto_store_load(lock, &rec, &err);
    if (r < 0 && r != -LOGTO_E_NOTFOUND)
        return cli_fail(cli, r, &err);

    if (rec && rec->refresh_token) {
        rr = revoke_record(cli, rec, &rerr);
        revoked = rr < 0 ? "failed" : "yes";
        if (rr < 0)
            fprintf(stderr,
                    "logtoctl: warning: the refresh token of %s could not be revoked (%s); the "
                    "record is removed anyway, the token stays valid at the IdP until it "
                    "expires\n",
                    user, rerr.message);
    }
    if (rec) {
        r = logto_store_remove(lock, &err);
        if (r < 0 && r != -LOGTO_E_NOTFOUND)
            return cli_fail(cli, r, &err);
        removed = r >= 0;
    }
    if (forget) {
        bool changed = false;
        /* The snapshot entry and the SSH key cache, by the sub of the record, else of the
         * snapshot entry with this name. */
        fr = cli_snapshot_forget(&cli->ctx, user, rec ? rec->sub : NULL, &changed, &ferr);
        if (fr < 0)
            fprintf(stderr, "logtoctl: %s could not be removed from the snapshot: %s\n", user,
                    ferr.message);
        forgotten = fr >= 0 && changed;
    }
    logto_log(&cli->ctx.log, LOG_NOTICE, "logout user=%s record=%s revoked=%s forget=%s", user,
              removed ? "removed" : "none", revoked,
              !forget     ? "no"
              : forgotten ? "yes"
              : fr < 0    ? "failed"
                          : "none");

    if (!rec && !forgotten && fr >= 0) {
        fprintf(stderr, "logtoctl: no token record for %s%s\n", user,
                forget ? " and no snapshot entry" : "");
        status = CLI_NOTFOUND;
    } else if (fr < 0)
        status = cli_exit_code(fr);
    else if (rr < 0)
        status = cli_exit_code(rr);

    if (cli->json) {
        if (cli_print_json(json_pack("{s:s, s:b, s:s, s:o, s:b, s:b}", "user", user,
                                     "record_removed", removed, "revoked", revoked, "revoke_error",
                                     jerror(rr, &rerr), "forget", forget, "forgotten", forgotten)) <
            0)
            return CLI_FAIL;
        return status;
    }
    if (!cli->quiet && (rec || forgotten)) {
        if (rec)
            printf("%s: token record removed; refresh token %s\n", user,
                   strcmp(revoked, "yes") == 0      ? "revoked at the IdP"
                   : strcmp(revoked, "failed") == 0 ? "NOT revoked (see above)"
                                                    : "none (nothing to revoke)");
        if (forget)
            printf("%s: %s\n", user,
                   forgotten ? "removed from the directory snapshot (until the next sync or "
                               "sign-in)"
                             : "not in the directory snapshot");
        else
            printf("%s: still resolves through NSS (the snapshot keeps the entry; --forget "
                   "removes it)\n",
                   user);
    }
    return fflush(stdout) == 0 ? status : CLI_FAIL;
}

/* ---------------------------------------------------------------- logtoctl token */

struct token_persist {
    const struct logto_ctx *ctx;
    const struct logto_store_lock *lock;
    struct logto_record *rec;
};

/* The rotated refresh token is stored before anything uses the new tokens (tokens.h). */
static int token_persist(void *data, const struct logto_tokens *tokens, struct logto_error *err)
{
    struct token_persist *p = data;

    if (logto_record_set_refresh_token(p->rec, tokens->refresh_token) < 0)
        return LOGTO_OOM(err);
    p->rec->refresh_token_at = logto_now(p->ctx);
    logto_record_set_refresh_failure(p->rec, 0, NULL);
    return logto_store_save(p->lock, p->rec, err);
}

/*
 * Whose token? The caller is known from the kernel alone: root (getuid() 0 here) or the peer of
 * the helper's socket (SO_PEERCRED, helper.c), never from the environment (a SUDO_UID that a
 * SETENV sudoers rule lets the caller set is no identity). Root names the user with --user; any
 * other caller gets only the Logto user that the directory snapshot gives its UID (the record's
 * UID and subject are checked again later).
 */
static int token_user(struct cli *cli, uid_t invoker, const char *requested, char *name, size_t n)
{
    struct logto_error err = { 0 };
    int r;

    if (invoker == 0) {
        if (!requested) {
            fprintf(stderr, "logtoctl: token: root has no session of its own: name the user "
                            "with --user NAME\n");
            return CLI_USAGE;
        }
        snprintf(name, n, "%s", requested);
        return CLI_OK;
    }
    r = logto_owner_name_of_uid(&cli->ctx, (uint32_t)invoker, name, n, &err);
    if (r == -LOGTO_E_NOTFOUND) {
        fprintf(stderr, "logtoctl: token: uid %u is not a Logto user on this host\n",
                (unsigned)invoker);
        return CLI_NOTFOUND;
    }
    if (r < 0)
        return cli_fail(cli, r, &err);
    if (requested && strcmp(requested, name) != 0) {
        logto_log(&cli->ctx.log, LOG_NOTICE, "token-refused uid=%u user=%s reason=not-own",
                  (unsigned)invoker, requested);
        fprintf(stderr, "logtoctl: token: only root may ask for another user's token\n");
        return CLI_DENIED;
    }
    return CLI_OK;
}

/*
 * Root through sudo, doas or pkexec is refused, whatever the variables say: they are never
 * an identity (a SETENV sudoers rule lets the caller set SUDO_UID to anything), and a sudoers rule
 * for `logtoctl token` would otherwise hand every user anybody's token, as root may name any user.
 * The variables only ever narrow: their presence refuses, no value grants. An ordinary user runs
 * `logtoctl token` without sudo and gets their own token from logto-helper.
 */
static int refuse_elevated(const char *cmd)
{
    static const char *const vars[] = { "SUDO_UID", "SUDO_USER", "SUDO_COMMAND", "DOAS_USER",
                                        "PKEXEC_UID" };

    for (size_t i = 0; i < ELEMENTSOF(vars); i++)
        if (getenv(vars[i])) {
            fprintf(stderr,
                    "logtoctl: %s: refused through sudo, doas or pkexec (%s is set): run "
                    "`logtoctl %s` as yourself, without sudo, to get your own token; root "
                    "itself names the user with --user\n",
                    cmd, vars[i], cmd);
            return CLI_DENIED;
        }
    return CLI_OK;
}

static bool claims_list_has(const json_t *claims, const char *key, const char *value)
{
    const json_t *a = json_object_get(claims, key), *item;
    size_t i;

    json_array_foreach(a, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
            return true;
    }
    return false;
}

static void token_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] token [--resource URI] [--organization ID] "
                 "[--scope SCOPES] [--user NAME]\n");
}

int cli_cmd_token(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "resource", required_argument, NULL, 'r' },
        { "organization", required_argument, NULL, 'o' },
        { "scope", required_argument, NULL, 's' },
        { "user", required_argument, NULL, 'u' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct cli_token_request req = { 0 };
    int c, r;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+r:o:s:u:h", options, NULL)) != -1) {
        switch (c) {
        case 'r':
            req.resource = optarg;
            break;
        case 'o':
            req.organization = optarg;
            break;
        case 's':
            req.scope = optarg;
            break;
        case 'u':
            req.user = optarg;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            token_usage(stdout);
            return CLI_OK;
        default:
            token_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        token_usage(stderr);
        return CLI_USAGE;
    }
    if (req.user && (r = check_name("token", req.user)) != CLI_OK)
        return r;
    /* Only root reads the token records; everybody else asks the helper, which knows the caller
     * from its socket (helper_client.c). */
    if (geteuid() != 0)
        return cli_helper_token(cli, &req);
    if ((r = refuse_elevated("token")) != CLI_OK)
        return r;
    return cli_token_for(cli, getuid(), &req);
}

int cli_token_for(struct cli *cli, uid_t invoker, const struct cli_token_request *req)
{
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_(logto_store_closep) struct logto_store *store = NULL;
    _cleanup_(logto_store_unlockp) struct logto_store_lock *lock = NULL;
    _cleanup_(logto_record_freep) struct logto_record *rec = NULL;
    _cleanup_tokens_ struct logto_tokens tokens = { 0 };
    _cleanup_secret_ char *secret = NULL, *text = NULL;
    const char *resource = req->resource, *org = req->organization, *scope = req->scope;
    struct logto_error err = { 0 };
    struct logto_oauth_error oerr = { 0 };
    struct logto_client client;
    struct token_persist tp;
    struct logto_holder holder;
    char user[LOGTO_NAME_MAX + 1];
    struct logto_idp idp;
    int r;

    if (req->user && (r = check_name("token", req->user)) != CLI_OK)
        return r;
    if ((r = need_root("token")) != CLI_OK)
        return r;
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;
    cli_audit_log(cli);
    if ((r = token_user(cli, invoker, req->user, user, sizeof(user))) != CLI_OK)
        return r;

    /*
     * Checked here, before the refresh token is spent: a refresh the IdP refuses after rotating
     * (an unknown resource is refused only then) would lose the session.
     */
    if (resource && !logto_oidc_requests_resource(cfg, resource)) {
        fprintf(stderr,
                "logtoctl: token: %s is not requested at sign-in, so the session cannot get "
                "tokens for it: add it to [logto] resources (users sign in again afterwards)\n",
                resource);
        return CLI_CONFIG;
    }
    if (org && (cfg->profile != LOGTO_PROFILE_LOGTO || !logto_oidc_wants_org_resource(cfg))) {
        fprintf(stderr, "logtoctl: token: organization tokens need the Logto profile and the scope "
                        "urn:logto:scope:organizations in [logto] scopes\n");
        return CLI_CONFIG;
    }

    if ((r = logto_store_open(&cli->ctx, &store, &err)) < 0 ||
        (r = logto_store_lock(store, user, LOCK_TIMEOUT_MS, &lock, &err)) < 0)
        return cli_fail(cli, r, &err);
    r = logto_store_load(lock, &rec, &err);
    if (r == -LOGTO_E_NOTFOUND || (r >= 0 && !rec->refresh_token)) {
        bool keeps_none = r >= 0 && (rec->auth_method == LOGTO_AUTH_PAT ||
                                     rec->auth_method == LOGTO_AUTH_MANAGEMENT ||
                                     rec->auth_method == LOGTO_AUTH_NONE);
        fprintf(stderr, "logtoctl: token: %s has no %s session on this host (%s)\n", user,
                logto_idp_text(cfg, LOGTO_IDP_LABEL),
                r < 0                ? "never signed in here"
                : rec->refresh_error ? "it ended; sign in again"
                : keeps_none         ? "pat and management sign-ins give no refresh token"
                                     : "the sign-in gave no refresh token: is offline_access in "
                                       "[logto] scopes?");
        return CLI_NOTFOUND;
    }
    if (r < 0)
        return cli_fail(cli, r, &err);
    /* A record decides nothing for a name that now belongs to someone else (owners.h). */
    if ((r = logto_owner_holder(&cli->ctx, user, &holder, &err)) < 0)
        return cli_fail(cli, r, &err);
    if (holder.kind != LOGTO_HOLDER_SUBJECT || strcmp(holder.sub, rec->sub) != 0 ||
        holder.uid != rec->uid) {
        logto_log(&cli->ctx.log, LOG_NOTICE,
                  "token-refused user=%s record_sub=%s holder_sub=%s reason=record-foreign", user,
                  rec->sub, holder.kind == LOGTO_HOLDER_SUBJECT ? holder.sub : "none");
        fprintf(stderr,
                "logtoctl: token: the token record of %s belongs to %s user %s (uid %" PRIu32
                "), but the name %s %s%s%s: sign in again\n",
                user, logto_idp_text(cfg, LOGTO_IDP_LABEL), rec->sub, rec->uid, user,
                holder.kind == LOGTO_HOLDER_BLOCKED ? "is blocked"
                : holder.kind == LOGTO_HOLDER_NONE  ? "is not served on this host"
                                                    : "now belongs to ",
                holder.kind == LOGTO_HOLDER_SUBJECT ? holder.sub : "",
                holder.kind == LOGTO_HOLDER_SUBJECT && strcmp(holder.sub, rec->sub) == 0
                    ? " with another UID"
                    : "");
        return CLI_DENIED;
    }
    if (invoker != 0 && rec->uid != invoker) {
        fprintf(stderr, "logtoctl: token: the record of %s is for uid %" PRIu32 ", not %u\n", user,
                rec->uid, (unsigned)invoker);
        return CLI_DENIED;
    }
    if (org && !claims_list_has(rec->claims, "organizations", org)) {
        fprintf(stderr,
                "logtoctl: token: %s is not a member of organization %s (claims of the last "
                "sign-in or refresh)\n",
                user, org);
        return CLI_DENIED;
    }

    r = logto_refresh_client(cfg, rec->auth_method, &client, &secret, &err);
    if (r >= 0)
        r = logto_idp_open(&cli->ctx, &idp, &err);
    if (r >= 0) {
        tp = (struct token_persist){ .ctx = &cli->ctx, .lock = lock, .rec = rec };
        struct logto_refresh_request refresh = {
            .client = &client,
            .refresh_token = rec->refresh_token,
            .expected_sub = rec->sub,
            .persist = token_persist,
            .persist_data = &tp,
            .resource = resource,
            .organization_id = org,
            .scope = scope,
            .oerr = &oerr,
        };
        r = logto_tokens_refresh(&cli->ctx, idp.http, idp.oidc, &refresh, &tokens, NULL, &err);
        logto_idp_close(&idp);
    }
    if (r < 0) {
        /* A plain refresh the IdP refuses means the grant is gone (as in common/auth.c); with a
         * resource or an organization the refusal may be about those alone. */
        bool no_access = r == -LOGTO_E_DENIED && strcmp(oerr.error, "access_denied") == 0;
        if (no_access && !resource && !org) {
            /* App-level access control: the grant lives on, signing in again cannot help. */
            struct logto_error ignored = { 0 };
            logto_record_set_refresh_failure(rec, logto_now(&cli->ctx), LOGTO_REFRESH_NO_ACCESS);
            (void)logto_store_save(lock, rec, &ignored);
            logto_error_prefix(&err,
                               "%s has no access to this application %s (an administrator must "
                               "grant it there)",
                               user, logto_idp_text(cfg, LOGTO_IDP_IN));
        } else if ((r == -LOGTO_E_DENIED || r == -LOGTO_E_EXPIRED) && !resource && !org) {
            struct logto_error ignored = { 0 };
            logto_record_set_refresh_token(rec, NULL);
            logto_record_set_refresh_failure(rec, logto_now(&cli->ctx),
                                             logto_errc_name(logto_errc_from(r)));
            (void)logto_store_save(lock, rec, &ignored);
            logto_error_prefix(&err,
                               "the %s session of %s ended (revoked, suspended or "
                               "deleted): sign in again",
                               logto_idp_text(cfg, LOGTO_IDP_LABEL), user);
        }
        logto_log(&cli->ctx.log, LOG_NOTICE,
                  "token-failed user=%s resource=%s organization=%s error=%s reason=\"%s\"", user,
                  resource ? resource : "-", org ? org : "-", logto_errc_name(logto_errc_from(r)),
                  err.message);
        if (cli->json)
            (void)cli_print_json(json_pack("{s:s, s:o}", "user", user, "error", jerror(r, &err)));
        return cli_fail(cli, r, &err);
    }
    logto_log(&cli->ctx.log, LOG_INFO,
              "token-issued user=%s resource=%s organization=%s expires_in=%" PRId64, user,
              resource ? resource : "-", org ? org : "-", tokens.expires_in);
    if (cli->json) {
        json_t *doc =
            json_pack("{s:s, s:s, s:I, s:o, s:s, s:o, s:o}", "access_token", tokens.access_token,
                      "token_type", tokens.token_type ? tokens.token_type : "Bearer", "expires_in",
                      (json_int_t)tokens.expires_in, "scope", cli_json_string_or_null(tokens.scope),
                      "user", user, "resource", cli_json_string_or_null(resource),
                      "organization_id", cli_json_string_or_null(org));
        if (!doc)
            return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
        text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        logto_json_wipe_string(doc, "access_token");
        json_decref(doc);
        if (!text)
            return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
        printf("%s\n", text);
    } else {
        printf("%s\n", tokens.access_token);
    }
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}
