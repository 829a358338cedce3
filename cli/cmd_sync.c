/* SPDX-License-Identifier: MIT */
/* logtoctl sync: rebuild the directory snapshot from the Management API (common/sync.h). */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "identity.h"
#include "owners.h"
#include "sync.h"
#include "syncstatus.h"
#include "util.h"

struct sync_ui {
    bool tty;     /* stderr is a terminal: progress on one line, redrawn in place */
    bool line;    /* a progress line is showing */
    bool verbose; /* notices too, not only warnings and errors */
    bool debug;
};

static void clear_line(struct sync_ui *ui)
{
    if (ui->line) {
        fputs("\r\033[K", cli_raw_stderr);
        ui->line = false;
    }
}

/* Warnings and errors always; notices and info with --verbose; debug with --debug (the library
 * filters those). A progress line is cleared first so log lines stay whole. */
static void sync_log(void *userdata, int priority, const char *line)
{
    struct sync_ui *ui = userdata;

    if (priority > LOG_WARNING && !ui->verbose && !(ui->debug && priority == LOG_DEBUG))
        return;
    clear_line(ui);
    fprintf(stderr, "logtoctl: %s%s\n", priority <= LOG_ERR ? "error: " : "", line);
}

static void sync_progress(void *userdata, const char *phase, size_t done, size_t total)
{
    static const struct {
        const char *phase, *text;
    } texts[] = {
        { "users", "fetching users" },
        { "roles", "fetching roles" },
        { "role-members", "fetching role members" },
        { "organizations", "fetching organizations" },
        { "organization-members", "fetching organization members" },
        { "mapping", "mapping users" },
        { "writing", "writing the snapshot" },
        { "persist", "persisting UIDs" },
    };
    struct sync_ui *ui = userdata;
    const char *text = phase;

    if (!ui->tty)
        return;
    for (size_t i = 0; i < ELEMENTSOF(texts); i++)
        if (strcmp(texts[i].phase, phase) == 0)
            text = texts[i].text;
    if (total)
        fprintf(cli_raw_stderr, "\r\033[K%s %zu/%zu", text, done, total);
    else
        fprintf(cli_raw_stderr, "\r\033[K%s %zu", text, done);
    fflush(cli_raw_stderr);
    ui->line = true;
}

/* ---------------------------------------------------------------- text output */

static void print_change(const struct logto_sync_change *c)
{
    switch (c->kind) {
    case LOGTO_SYNC_USER_ADDED:
        printf("  + user %s (sub %s)\n", c->name, c->sub);
        break;
    case LOGTO_SYNC_USER_REMOVED:
        printf("  - user %s (sub %s)\n", c->name, c->sub);
        break;
    case LOGTO_SYNC_USER_CHANGED:
        printf("  ~ user %s (sub %s): %s\n", c->name, c->sub, c->detail ? c->detail : "");
        break;
    case LOGTO_SYNC_GROUP_ADDED:
        printf("  + group %s\n", c->name);
        break;
    case LOGTO_SYNC_GROUP_REMOVED:
        printf("  - group %s\n", c->name);
        break;
    case LOGTO_SYNC_GROUP_CHANGED:
        printf("  ~ group %s: %s\n", c->name, c->detail ? c->detail : "");
        break;
    case LOGTO_SYNC_MEMBER_ADDED:
        printf("  + member %s: %s\n", c->group, c->name);
        break;
    case LOGTO_SYNC_MEMBER_REMOVED:
        printf("  - member %s: %s\n", c->group, c->name);
        break;
    default:
        break;
    }
}

/* Blocked names and UIDs in collision: never served until the tenant changes (owners.h). */
static void print_blocked(const struct logto_blocked *b)
{
    for (size_t i = 0; b && i < b->n_names + b->n_uids; i++) {
        const struct logto_blocked_entry *e =
            i < b->n_names ? &b->names[i] : &b->uids[i - b->n_names];
        _cleanup_free_ char *who = logto_blocked_claimants_text(e);
        if (i < b->n_names)
            printf("BLOCKED name %s: %s: %s\n", e->name, e->reason, who ? who : "?");
        else
            printf("BLOCKED UID %" PRIu32 ": %s: %s\n", e->uid, e->reason, who ? who : "?");
    }
}

static void print_report(const struct logto_sync_report *r, bool full)
{
    const size_t *n = r->counts;

    printf("Logto: %zu users, %zu roles, %zu organizations\n", r->fetched_users, r->fetched_roles,
           r->fetched_orgs);
    printf("snapshot: %zu users (%zu suspended), %zu groups; before: %zu users, %zu groups\n",
           r->users, r->suspended, r->groups, r->previous_users, r->previous_groups);
    if (r->not_admitted)
        printf("not admitted: %zu users whom no service on this host admits (not served)\n",
               r->not_admitted);
    if (r->previous_problem)
        printf("previous snapshot unreadable: %s\n", r->previous_problem);
    printf("changes: users +%zu -%zu ~%zu, groups +%zu -%zu ~%zu, memberships +%zu -%zu\n",
           n[LOGTO_SYNC_USER_ADDED], n[LOGTO_SYNC_USER_REMOVED], n[LOGTO_SYNC_USER_CHANGED],
           n[LOGTO_SYNC_GROUP_ADDED], n[LOGTO_SYNC_GROUP_REMOVED], n[LOGTO_SYNC_GROUP_CHANGED],
           n[LOGTO_SYNC_MEMBER_ADDED], n[LOGTO_SYNC_MEMBER_REMOVED]);
    if (full)
        for (size_t i = 0; i < r->n_changes; i++)
            print_change(&r->changes[i]);
    if (r->n_skipped) {
        printf("skipped users: %zu\n", r->n_skipped);
        for (size_t i = 0; i < r->n_skipped; i++) {
            const struct logto_sync_skip *s = &r->skipped[i];
            printf("  %s (sub %s%s%s) [%s]: %s\n",
                   s->name       ? s->name
                   : s->username ? s->username
                                 : "-",
                   s->sub, s->username && s->name ? ", username " : "",
                   s->username && s->name ? s->username : "", logto_sync_skip_kind_name(s->kind),
                   s->reason);
        }
    }
    if (r->n_collisions) {
        printf("collisions: %zu\n", r->n_collisions);
        for (size_t i = 0; i < r->n_collisions; i++) {
            const struct logto_sync_collision *c = &r->collisions[i];
            printf("  %s %s: %s (sub %s) and %s (sub %s)\n", logto_collision_kind_name(c->kind),
                   c->value, c->a_name, c->a_sub, c->b_name, c->b_sub);
        }
    }
    if (r->n_groups_skipped) {
        printf("skipped groups: %zu\n", r->n_groups_skipped);
        for (size_t i = 0; i < r->n_groups_skipped; i++) {
            const struct logto_sync_group_skip *g = &r->groups_skipped[i];
            if (g->gid)
                printf("  %s (GID %" PRIu32 ", %s %s, %zu members): %s\n", g->name ? g->name : "-",
                       g->gid, logto_group_kind_name(g->kind), g->source, g->members, g->reason);
            else
                printf("  %s (%s %s, %zu members): %s\n", g->name ? g->name : "-",
                       logto_group_kind_name(g->kind), g->source, g->members, g->reason);
        }
    }
    if (r->written || r->unchanged)
        printf("SSH keys: %zu users with keys, %zu files written, %zu removed, %zu keys "
               "skipped\n",
               r->keys_users, r->keys_written, r->keys_removed, r->keys_skipped);
    for (size_t i = 0; i < r->n_uid_moves; i++) {
        const struct logto_sync_uid_move *mv = &r->uid_moves[i];
        printf("UID collision resolved: %s (sub %s) moved from %" PRIu32 " to %" PRIu32
               " (probe %u); %s (sub %s, the older account) keeps %" PRIu32 "%s\n",
               mv->name, mv->sub, mv->hashed_uid, mv->uid, mv->probe, mv->keeper_name,
               mv->keeper_sub, mv->hashed_uid, mv->persisted ? "; persisted" : "");
    }
    print_blocked(r->blocked);
    if (r->uids_to_persist || r->uids_persisted)
        printf("UIDs persisted to custom_data: %zu of %zu\n", r->uids_persisted,
               r->uids_to_persist);
    if (r->via)
        printf("requests: %u to the relay (the directory: %s) in %.2f s\n", r->requests, r->via,
               (double)r->elapsed_ms / 1000.0);
    else
        printf("requests: %u Management API requests (%u token) in %.2f s (fetch %.2f s)\n",
               r->requests, r->token_requests, (double)r->elapsed_ms / 1000.0,
               (double)r->fetch_ms / 1000.0);
    if (r->written)
        printf("written: %s\n", r->path);
    else if (r->unchanged)
        printf("unchanged: %s already holds this directory (not rewritten)\n", r->path);
    else
        printf("dry run: %s left unchanged\n", r->path);
}

/* ---------------------------------------------------------------- JSON output */

static json_t *blocked_entries_json(const struct logto_blocked_entry *v, size_t n, bool uids)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        json_t *cl = json_array(), *e;
        for (size_t k = 0; cl && k < v[i].n_claimants; k++)
            json_array_append_new(cl, json_pack("{s:s, s:s, s:s}", "sub", v[i].claimants[k].sub,
                                                "name", v[i].claimants[k].name, "claim",
                                                v[i].claimants[k].claim));
        e = json_pack("{s:s, s:s, s:o}", "name", v[i].name, "reason", v[i].reason, "claimants",
                      cl ? cl : json_null());
        if (e && uids)
            json_object_set_new(e, "uid", json_integer(v[i].uid));
        json_array_append_new(a, e);
    }
    return a;
}

static json_t *moves_json(const struct logto_sync_report *r)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < r->n_uid_moves; i++) {
        const struct logto_sync_uid_move *mv = &r->uid_moves[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:I, s:I, s:i, s:s, s:s, s:b}", "sub", mv->sub, "name",
                         mv->name, "hashed_uid", (json_int_t)mv->hashed_uid, "uid",
                         (json_int_t)mv->uid, "probe", (int)mv->probe, "keeper_sub", mv->keeper_sub,
                         "keeper_name", mv->keeper_name, "persisted", mv->persisted));
    }
    return a;
}

static json_t *report_json(const struct logto_sync_report *r)
{
    json_t *doc, *counts = json_object(), *changes = json_array(), *skipped = json_array(),
                 *collisions = json_array(), *groups = json_array();

    if (!counts || !changes || !skipped || !collisions || !groups)
        goto oom;
    for (int k = 0; k < LOGTO_SYNC__CHANGE_KINDS; k++)
        json_object_set_new(counts, logto_sync_change_kind_name((enum logto_sync_change_kind)k),
                            json_integer((json_int_t)r->counts[k]));
    for (size_t i = 0; i < r->n_changes; i++) {
        const struct logto_sync_change *c = &r->changes[i];
        json_array_append_new(changes, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "kind",
                                                 logto_sync_change_kind_name(c->kind), "name",
                                                 cli_json_string_or_null(c->name), "sub",
                                                 cli_json_string_or_null(c->sub), "group",
                                                 cli_json_string_or_null(c->group), "fields",
                                                 c->fields ? cli_json_strv(c->fields) : json_null(),
                                                 "detail", cli_json_string_or_null(c->detail)));
    }
    for (size_t i = 0; i < r->n_skipped; i++) {
        const struct logto_sync_skip *s = &r->skipped[i];
        json_array_append_new(skipped,
                              json_pack("{s:s, s:s, s:o, s:o, s:s}", "kind",
                                        logto_sync_skip_kind_name(s->kind), "sub", s->sub,
                                        "username", cli_json_string_or_null(s->username), "name",
                                        cli_json_string_or_null(s->name), "reason", s->reason));
    }
    for (size_t i = 0; i < r->n_collisions; i++) {
        const struct logto_sync_collision *c = &r->collisions[i];
        json_array_append_new(collisions,
                              json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "kind",
                                        logto_collision_kind_name(c->kind), "value", c->value, "a",
                                        "name", c->a_name, "sub", c->a_sub, "b", "name", c->b_name,
                                        "sub", c->b_sub));
    }
    for (size_t i = 0; i < r->n_groups_skipped; i++) {
        const struct logto_sync_group_skip *g = &r->groups_skipped[i];
        json_array_append_new(groups,
                              json_pack("{s:o, s:o, s:s, s:s, s:I, s:s}", "name",
                                        cli_json_string_or_null(g->name), "gid",
                                        g->gid ? json_integer(g->gid) : json_null(), "kind",
                                        logto_group_kind_name(g->kind), "source", g->source,
                                        "members", (json_int_t)g->members, "reason", g->reason));
    }
    doc = json_pack(
        "{s:b, s:b, s:b, s:s, s:{s:I, s:I, s:I}, s:I, s:I, s:I, s:{s:I, s:I, s:o}, s:I, s:I, s:I, "
        "s:I, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}}",
        "ok", r->late_error == 0, "dry_run", r->dry_run, "written", r->written, "snapshot", r->path,
        "fetched", "users", (json_int_t)r->fetched_users, "roles", (json_int_t)r->fetched_roles,
        "organizations", (json_int_t)r->fetched_orgs, "users", (json_int_t)r->users, "groups",
        (json_int_t)r->groups, "suspended", (json_int_t)r->suspended, "previous", "users",
        (json_int_t)r->previous_users, "groups", (json_int_t)r->previous_groups, "problem",
        cli_json_string_or_null(r->previous_problem), "requests", (json_int_t)r->requests,
        "token_requests", (json_int_t)r->token_requests, "fetch_ms", (json_int_t)r->fetch_ms,
        "elapsed_ms", (json_int_t)r->elapsed_ms, "counts", counts, "changes", changes, "skipped",
        skipped, "collisions", collisions, "groups_skipped", groups, "keys", "users",
        (json_int_t)r->keys_users, "written", (json_int_t)r->keys_written, "removed",
        (json_int_t)r->keys_removed, "skipped", (json_int_t)r->keys_skipped, "uids", "to_persist",
        (json_int_t)r->uids_to_persist, "persisted", (json_int_t)r->uids_persisted);
    if (doc)
        json_object_set_new(doc, "not_admitted", json_integer((json_int_t)r->not_admitted));
    if (doc)
        json_object_set_new(doc, "unchanged", json_boolean(r->unchanged));
    if (doc && r->via)
        json_object_set_new(doc, "relay_via", json_string(r->via));
    if (doc)
        json_object_set_new(doc, "timing_ms",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "fetch",
                                      (json_int_t)r->fetch_ms, "map", (json_int_t)r->map_ms,
                                      "build", (json_int_t)r->build_ms, "diff",
                                      (json_int_t)r->diff_ms, "write", (json_int_t)r->write_ms,
                                      "total", (json_int_t)r->elapsed_ms));
    if (doc) {
        json_object_set_new(doc, "uid_moves", moves_json(r));
        json_object_set_new(
            doc, "blocked",
            json_pack("{s:o, s:o}", "names",
                      blocked_entries_json(r->blocked ? r->blocked->names : NULL,
                                           r->blocked ? r->blocked->n_names : 0, false),
                      "uids",
                      blocked_entries_json(r->blocked ? r->blocked->uids : NULL,
                                           r->blocked ? r->blocked->n_uids : 0, true)));
    }
    if (doc && r->late_error)
        json_object_set_new(doc, "error",
                            json_pack("{s:s, s:s}", "code",
                                      logto_errc_name(logto_errc_from(r->late_error)), "message",
                                      r->late_message));
    return doc;
oom:
    json_decref(counts);
    json_decref(changes);
    json_decref(skipped);
    json_decref(collisions);
    json_decref(groups);
    return NULL;
}

/* ---------------------------------------------------------------- the command */

int cli_load_config(struct cli *cli, struct logto_config **ret)
{
    _cleanup_free_ char *path = NULL;
    struct logto_error err = { 0 };
    int r;

    if (cli_absolute_path(cli->config_path, &path) < 0)
        return cli_fail(cli, -LOGTO_E_IO, NULL);
    r = logto_config_load(path, ret, &err);
    if (r < 0)
        return cli_fail(cli, r, &err);
    cli->ctx.cfg = *ret;
    cli->ctx.log.debug = cli->debug || (*ret)->debug;
    return CLI_OK;
}

static void sync_usage(FILE *out)
{
    fprintf(
        out,
        "usage: logtoctl [--json] [--quiet] sync [--dry-run] [--persist-uids | --no-persist-uids] "
        "[--verbose] [--user NAME]\n");
}

int cli_cmd_sync(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "dry-run", no_argument, NULL, 'n' },
        { "persist-uids", no_argument, NULL, 'p' },
        { "no-persist-uids", no_argument, NULL, 'P' },
        { "verbose", no_argument, NULL, 'v' },
        { "user", required_argument, NULL, 'u' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *report = NULL;
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    struct logto_sync_options opts = { 0 };
    struct sync_ui ui = { .tty = !cli->quiet && isatty(STDERR_FILENO) == 1, .debug = cli->debug };
    struct logto_ctx ctx;
    struct logto_error err = { 0 };
    int c, r;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+nvu:h", options, NULL)) != -1) {
        switch (c) {
        case 'n':
            opts.dry_run = true;
            break;
        case 'p':
            opts.persist_uids = true;
            break;
        case 'P':
            opts.keep_collisions = true;
            break;
        case 'v':
            ui.verbose = true;
            break;
        case 'u':
            opts.user = optarg;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            sync_usage(stdout);
            return CLI_OK;
        default:
            sync_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (opts.persist_uids && opts.keep_collisions) {
        fprintf(stderr,
                "logtoctl: sync: --persist-uids and --no-persist-uids exclude each other\n");
        return CLI_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "logtoctl: sync: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    /* Before the configuration, whose M2M secret file only root can open anyway. */
    if (geteuid() != 0 && !opts.dry_run) {
        fprintf(stderr, "logtoctl: sync must run as root: it replaces the root-owned snapshot "
                        "(--dry-run writes nothing, but still needs the M2M secret, which only "
                        "root can read)\n");
        return CLI_FAIL;
    }
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;

    ctx = cli->ctx;
    ctx.log.fn = sync_log;
    ctx.log.userdata = &ui;
    ctx.log.debug = cli->ctx.log.debug;
    opts.progress = sync_progress;
    opts.progress_data = &ui;
    r = logto_sync(&ctx, &opts, &report, &err);
    /* For logtoctl status, which describes the last full sync. */
    if (!opts.user)
        (void)logto_sync_status_record(&ctx, &opts, r, report, &err);
    clear_line(&ui);
    if (r < 0) {
        if (cli->json)
            (void)cli_print_json(json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code",
                                           logto_errc_name(logto_errc_from(r)), "message",
                                           err.message));
        return cli_fail(cli, r, &err);
    }
    if (cli->json) {
        json_t *doc = report_json(report);
        /* --user: the one name refreshed (null for a full sync). */
        if (doc)
            json_object_set_new(doc, "user", cli_json_string_or_null(opts.user));
        if (cli_print_json(doc) < 0)
            return CLI_FAIL;
    } else if (!cli->quiet) {
        if (opts.user)
            printf("user %s: only this entry %s (the tenant was read in full to judge it; the "
                   "counts below are the whole tenant's)\n",
                   opts.user, opts.dry_run ? "would be refreshed" : "was refreshed");
        print_report(report, opts.dry_run || ui.verbose);
        if (fflush(stdout) != 0)
            return CLI_FAIL;
    }
    if (report->late_error) {
        fprintf(stderr, "logtoctl: the snapshot was written, but %s\n", report->late_message);
        return cli_exit_code(report->late_error);
    }
    return CLI_OK;
}
