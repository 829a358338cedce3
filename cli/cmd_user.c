/* SPDX-License-Identifier: MIT */
/*
 * logtoctl user NAME: how a user maps and where each value came from (snapshot, and live from the
 * Management API). logtoctl keys NAME: the user's SSH public keys for sshd's
 * AuthorizedKeysCommand.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "authz.h"
#include "cli.h"
#include "directory.h"
#include "identity.h"
#include "json.h"
#include "localdb.h"
#include "lookup.h"
#include "mgmt.h"
#include "names.h"
#include "net.h"
#include "owners.h"
#include "snapshot.h"
#include "sync.h"
#include "util.h"

static char *snapshot_path(const struct logto_config *cfg)
{
    return logto_asprintf("%s/%s", cfg->state_dir ? cfg->state_dir : LOGTO_STATE_DIR,
                          LOGTO_SNAPSHOT_NAME);
}

static const struct logto_dir_user *find_by_name(const struct logto_directory *dir,
                                                 const char *name)
{
    for (size_t i = 0; dir && i < dir->n_users; i++)
        if (strcmp(dir->users[i].name, name) == 0)
            return &dir->users[i];
    return NULL;
}

static bool is_member(const struct logto_dir_group *g, const char *name)
{
    return logto_strv_contains(g->members, name);
}

static bool can_go_live(const struct logto_config *cfg, const char **why)
{
    if (cfg->profile != LOGTO_PROFILE_LOGTO) {
        *why = "profile generic has no Management API";
        return false;
    }
    if (!cfg->m2m_client_id || !cfg->m2m_client_secret_file) {
        *why = "no [sync] m2m_client_id / m2m_client_secret_file";
        return false;
    }
    if (geteuid() != 0) {
        *why = "reading the M2M secret needs root";
        return false;
    }
    return true;
}

static void time_text(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, n, "-");
}

/* ---------------------------------------------------------------- live lookup */

struct live {
    json_t *user;  /* Management API user object */
    json_t *roles; /* role objects */
    json_t *orgs;  /* organization objects with organizationRoles */
    struct logto_identity *id;
    struct logto_error refused; /* the user does not map: why */
    struct logto_error local;   /* collides with a local account: why */
    struct logto_dir_group *groups;
    size_t n_groups;
    char **keys; /* valid SSH keys, normalised */
    size_t keys_skipped;
    char **admitted_by; /* services of this host that admit the user ("*": the default) */
};

static void live_done(struct live *l)
{
    json_decref(l->user);
    json_decref(l->roles);
    json_decref(l->orgs);
    logto_identity_free(l->id);
    logto_identity_groups_free(l->groups, l->n_groups);
    logto_strv_free(l->keys);
    logto_strv_free(l->admitted_by);
}

/* The identity of a Management API user object, with its roles and organizations. */
static int map_live(const struct logto_ctx *ctx, struct live *l, struct logto_error *err)
{
    _cleanup_(logto_authz_host_freep) struct logto_authz_host *host = NULL;
    _cleanup_strv_ char **roles = calloc(1, sizeof(char *));
    size_t n_orgs = json_array_size(l->orgs), i;
    _cleanup_free_ struct logto_org_membership *orgs = calloc(n_orgs + 1, sizeof(*orgs));
    char ***org_roles = calloc(n_orgs + 1, sizeof(char **));
    json_t *item;
    int r = 0;

    if (!roles || !orgs || !org_roles) {
        free(org_roles);
        return LOGTO_OOM(err);
    }
    json_array_foreach(l->roles, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        if (name && logto_strv_push(&roles, name) < 0)
            r = LOGTO_OOM(err);
    }
    json_array_foreach(l->orgs, i, item)
    {
        json_t *role;
        size_t j;
        org_roles[i] = calloc(1, sizeof(char *));
        if (!org_roles[i]) {
            r = LOGTO_OOM(err);
            break;
        }
        json_array_foreach(json_object_get(item, "organizationRoles"), j, role)
        {
            const char *name = json_string_value(json_object_get(role, "name"));
            if (name && logto_strv_push(&org_roles[i], name) < 0)
                r = LOGTO_OOM(err);
        }
        orgs[i] = (struct logto_org_membership){
            .id = json_string_value(json_object_get(item, "id")),
            .name = json_string_value(json_object_get(item, "name")),
            .roles = (const char *const *)org_roles[i],
        };
    }
    if (r >= 0) {
        r = logto_identity_from_mgmt(ctx, l->user, (const char *const *)roles, orgs, n_orgs, &l->id,
                                     &l->refused);
        if (r == -LOGTO_E_IDENTITY)
            r = 0; /* shown, not an error of the command */
        else if (r < 0)
            *err = l->refused;
    }
    for (i = 0; i < n_orgs; i++)
        logto_strv_free(org_roles[i]);
    free(org_roles);
    if (r < 0 || !l->id)
        return r;

    /* Who may use what here: the snapshot holds only users some service admits. */
    r = logto_authz_host_new(ctx->cfg, &host, err);
    if (r < 0)
        return r;
    l->admitted_by = calloc(1, sizeof(char *));
    if (!l->admitted_by)
        return LOGTO_OOM(err);
    (void)logto_authz_host_admits(host, l->id, &l->admitted_by);

    r = logto_identity_check_local(ctx, l->id, &l->local);
    if (r == -LOGTO_E_COLLISION)
        return 0;
    if (r < 0) {
        *err = l->local;
        return r;
    }
    l->local = (struct logto_error){ 0 };
    r = logto_identity_groups(ctx, l->id, &l->groups, &l->n_groups, err);
    if (r == -LOGTO_E_COLLISION) {
        l->local = *err;
        return 0;
    }
    if (r < 0)
        return r;
    return logto_sync_ssh_keys(ctx, l->id, &l->keys, &l->keys_skipped, err);
}

/* Find the user: by the sub the snapshot has, else by user name. */
static int fetch_live(const struct logto_ctx *ctx, const char *name, const char *sub,
                      struct live *l, struct logto_error *err)
{
    _cleanup_(logto_mgmt_freep) struct logto_mgmt *m = NULL;
    const char *id;
    int r;

    r = logto_mgmt_new(ctx, &m, err);
    if (r < 0)
        return r;
    r = sub ? logto_mgmt_get_user(m, sub, &l->user, err) : -LOGTO_E_NOTFOUND;
    if (r == -LOGTO_E_NOTFOUND)
        r = logto_mgmt_find_user(m, name, &l->user, err);
    if (r < 0)
        return r;
    id = json_string_value(json_object_get(l->user, "id"));
    r = logto_mgmt_user_roles(m, id, &l->roles, err);
    if (r >= 0)
        r = logto_mgmt_user_organizations(m, id, &l->orgs, err);
    if (r < 0)
        return r;
    return map_live(ctx, l, err);
}

/* ---------------------------------------------------------------- logtoctl user */

static json_t *groups_json(const struct logto_directory *dir, const struct logto_dir_user *u)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        bool own = g->kind == LOGTO_GROUP_PRIVATE && logto_streq(g->source, u->sub);
        if (!own && !is_member(g, u->name))
            continue;
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:s, s:o, s:b}", "name", g->name, "gid", (json_int_t)g->gid,
                         "kind", logto_group_kind_name(g->kind), "source",
                         cli_json_string_or_null(g->source), "primary", g->gid == u->gid));
    }
    return a;
}

/* The [user NAME] section's values as JSON (null: no section; a key not set: null). */
static json_t *override_json(const struct logto_user_override *o)
{
    if (!o)
        return json_null();
    _cleanup_free_ char *where = logto_asprintf("%s:%d", o->file, o->line);
    return json_pack("{s:o, s:o, s:o, s:o}", "home", cli_json_string_or_null(o->home), "shell",
                     cli_json_string_or_null(o->shell), "gecos", cli_json_string_or_null(o->gecos),
                     "section", cli_json_string_or_null(where));
}

static json_t *snapshot_json(const struct logto_directory *dir, const struct logto_dir_user *u)
{
    return json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:o}", "name", u->name,
                     "uid", (json_int_t)u->uid, "gid", (json_int_t)u->gid, "home", u->home, "shell",
                     u->shell, "gecos", u->gecos ? u->gecos : "", "sub", u->sub, "suspended",
                     (u->flags & LOGTO_USER_SUSPENDED) != 0, "updated_at",
                     (json_int_t)u->updated_at, "generated_at", (json_int_t)dir->generated_at,
                     "groups", groups_json(dir, u));
}

/* A snapshot field and the override the configuration has for it now: the snapshot holds no
 * origins, so this says whether it already carries the override (sync or sign-in put it there). */
static void print_snapshot_field(const char *label, const char *value, const char *override,
                                 const struct logto_user_override *o)
{
    const char *shown = value && value[0] ? value : "-";

    if (!override)
        printf("  %-9s %s\n", label, shown);
    else if (logto_streq(value, override))
        printf("  %-9s %-24s override from [user %s] at %s:%d\n", label, shown, o->name, o->file,
               o->line);
    else
        printf("  %-9s %-24s not yet the override \"%s\" of [user %s] (run logtoctl sync)\n", label,
               shown, override, o->name);
}

/* Fields where the live mapping differs from the snapshot ("not synced yet"). */
static char **differences(const struct logto_dir_user *u, const struct logto_identity *id)
{
    char **d = calloc(1, sizeof(char *));
    if (!d || !u || !id)
        return d;
    if (strcmp(u->name, id->name) != 0)
        logto_strv_push(&d, "name");
    if (u->uid != id->uid)
        logto_strv_push(&d, "uid");
    if (u->gid != id->gid)
        logto_strv_push(&d, "gid");
    if (!logto_streq(u->home, id->home))
        logto_strv_push(&d, "home");
    if (!logto_streq(u->shell, id->shell))
        logto_strv_push(&d, "shell");
    if (!logto_streq(u->gecos, id->gecos ? id->gecos : ""))
        logto_strv_push(&d, "gecos");
    if (((u->flags & LOGTO_USER_SUSPENDED) != 0) != id->suspended)
        logto_strv_push(&d, "suspended");
    return d;
}

static json_t *live_json(const struct live *l, const struct logto_dir_user *snap)
{
    const json_t *uname = json_object_get(l->user, "username");
    json_t *orgs = json_array(), *groups = json_array(), *doc;
    const struct logto_identity *id = l->id;
    _cleanup_strv_ char **diff = differences(snap, id);

    if (!orgs || !groups) {
        json_decref(orgs);
        json_decref(groups);
        return NULL;
    }
    for (size_t i = 0; id && id->orgs && id->orgs[i]; i++) {
        const char *oname = NULL;
        for (size_t k = 0; k < id->n_org_names; k++)
            if (strcmp(id->org_names[k].id, id->orgs[i]) == 0)
                oname = id->org_names[k].name;
        json_array_append_new(orgs, json_pack("{s:s, s:o}", "id", id->orgs[i], "name",
                                              cli_json_string_or_null(oname)));
    }
    for (size_t i = 0; i < l->n_groups; i++)
        json_array_append_new(groups, json_pack("{s:s, s:I, s:s, s:o}", "name", l->groups[i].name,
                                                "gid", (json_int_t)l->groups[i].gid, "kind",
                                                logto_group_kind_name(l->groups[i].kind), "source",
                                                cli_json_string_or_null(l->groups[i].source)));
    doc = json_pack(
        "{s:s, s:o, s:b, s:o}", "sub", json_string_value(json_object_get(l->user, "id")),
        "username", json_is_string(uname) ? json_string(json_string_value(uname)) : json_null(),
        "mapped", id != NULL, "refused", id ? json_null() : json_string(l->refused.message));
    if (!doc || !id) {
        json_decref(orgs);
        json_decref(groups);
        return doc;
    }
    json_object_update_new(
        doc,
        json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o, "
                  "s:{s:I, s:I}, s:o, s:o, s:o}",
                  "name", id->name, "name_from", id->name_from, "uid", (json_int_t)id->uid,
                  "uid_from", id->uid_from, "gid", (json_int_t)id->gid, "gid_from", id->gid_from,
                  "home", id->home, "shell", id->shell, "shell_from", id->shell_from, "gecos",
                  id->gecos ? id->gecos : "", "gecos_from", id->gecos_from ? id->gecos_from : "",
                  "suspended", id->suspended, "roles", cli_json_strv(id->roles), "organizations",
                  orgs, "organization_roles", cli_json_strv(id->org_roles), "ssh_keys", "valid",
                  (json_int_t)logto_strv_length(l->keys), "skipped", (json_int_t)l->keys_skipped,
                  "local_collision",
                  l->local.message[0] ? json_string(l->local.message) : json_null(), "groups",
                  groups, "differs_from_snapshot", snap ? cli_json_strv(diff) : json_null()));
    json_object_set_new(doc, "admitted_by", cli_json_strv(l->admitted_by));
    json_object_set_new(doc, "home_from", cli_json_string_or_null(id->home_from));
    json_object_set_new(doc, "origin", cli_origins_json(id));
    return doc;
}

static void print_snapshot(const char *path, const struct logto_directory *dir,
                           const struct logto_dir_user *u, const struct logto_user_override *o)
{
    char when[64], updated[64];

    time_text(dir->generated_at, when, sizeof(when));
    time_text(u->updated_at, updated, sizeof(updated));
    printf("snapshot (%s, written %s):\n", path, when);
    printf("  name      %s\n", u->name);
    printf("  uid       %" PRIu32 "\n", u->uid);
    printf("  gid       %" PRIu32 "\n", u->gid);
    print_snapshot_field("home", u->home, o ? o->home : NULL, o);
    print_snapshot_field("shell", u->shell, o ? o->shell : NULL, o);
    print_snapshot_field("gecos", u->gecos, o ? o->gecos : NULL, o);
    printf("  sub       %s\n", u->sub);
    printf("  flags     %s\n", u->flags & LOGTO_USER_SUSPENDED ? "suspended" : "-");
    printf("  confirmed %s\n", updated);
    printf("  groups:\n");
    for (size_t i = 0; i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        bool own = g->kind == LOGTO_GROUP_PRIVATE && logto_streq(g->source, u->sub);
        if (!own && !is_member(g, u->name))
            continue;
        printf("    %-32s %10" PRIu32 "  %-8s %s%s\n", g->name, g->gid,
               logto_group_kind_name(g->kind), g->source ? g->source : "",
               g->gid == u->gid ? "  (primary)" : "");
    }
}

static void print_live(const struct live *l, const struct logto_dir_user *snap)
{
    const struct logto_identity *id = l->id;
    const char *uname = json_string_value(json_object_get(l->user, "username"));
    _cleanup_strv_ char **diff = NULL;
    char safe[160];

    printf("Logto (live, Management API):\n");
    printf("  sub       %s\n", json_string_value(json_object_get(l->user, "id")));
    printf("  username  %s\n", uname ? logto_log_sanitize(safe, sizeof(safe), uname) : "(none)");
    if (!id) {
        printf("  refused   %s\n", l->refused.message);
        return;
    }
    printf("  name      %-24s from %s\n", id->name, id->name_from);
    printf("  uid       %-24" PRIu32 " from %s\n", id->uid, id->uid_from);
    printf("  gid       %-24" PRIu32 " from %s\n", id->gid, id->gid_from);
    cli_print_passwd_fields(id);
    printf("  suspended %s\n", id->suspended ? "yes" : "no");
    printf("  roles    ");
    for (size_t i = 0; id->roles && id->roles[i]; i++)
        printf(" %s", id->roles[i]);
    printf("%s\n", id->roles && id->roles[0] ? "" : " -");
    printf("  organizations:%s\n", id->orgs && id->orgs[0] ? "" : " -");
    for (size_t i = 0; id->orgs && id->orgs[i]; i++) {
        const char *oname = NULL;
        for (size_t k = 0; k < id->n_org_names; k++)
            if (strcmp(id->org_names[k].id, id->orgs[i]) == 0)
                oname = id->org_names[k].name;
        printf("    %s%s%s%s\n", id->orgs[i], oname ? " (" : "", oname ? oname : "",
               oname ? ")" : "");
    }
    printf("  org roles");
    for (size_t i = 0; id->org_roles && id->org_roles[i]; i++)
        printf(" %s", id->org_roles[i]);
    printf("%s\n", id->org_roles && id->org_roles[0] ? "" : " -");
    printf("  ssh keys  %zu valid, %zu skipped\n", logto_strv_length(l->keys), l->keys_skipped);
    printf("  local     %s\n", l->local.message[0] ? l->local.message : "no collision");
    if (l->admitted_by && l->admitted_by[0]) {
        _cleanup_free_ char *joined = logto_strv_join(l->admitted_by, " ");
        printf("  services  admitted by %s (\"*\": services without a section)\n",
               joined ? joined : "?");
    } else {
        printf("  services  none: no service on this host admits them, so they are not served "
               "here\n");
    }
    if (l->n_groups) {
        printf("  groups:\n");
        for (size_t i = 0; i < l->n_groups; i++)
            printf("    %-32s %10" PRIu32 "  %-8s %s\n", l->groups[i].name, l->groups[i].gid,
                   logto_group_kind_name(l->groups[i].kind),
                   l->groups[i].source ? l->groups[i].source : "");
    }
    if (snap) {
        diff = differences(snap, id);
        if (diff && diff[0]) {
            _cleanup_free_ char *joined = logto_strv_join(diff, ", ");
            printf("  snapshot  differs: %s (run logtoctl sync)\n", joined ? joined : "?");
        } else {
            printf("  snapshot  matches\n");
        }
    }
}

/* ---------------------------------------------------------------- who claims the name */

struct claims {
    struct logto_blocked *blocked;           /* from the last sync */
    const struct logto_blocked_entry *entry; /* name's entry, if blocked */
    struct logto_identity **live;            /* claimants the Management API names */
    size_t n_live;
    ssize_t owner; /* of live, by the rule of owners.h; -1: nobody */
    bool live_ok;
};

static void claims_done(struct claims *c)
{
    logto_blocked_free(c->blocked);
    for (size_t i = 0; i < c->n_live; i++)
        logto_identity_free(c->live[i]);
    free(c->live);
}

static void find_claims(const struct logto_ctx *ctx, const char *name, bool live, struct claims *c)
{
    const struct logto_net_ops *net;
    struct logto_error e = { 0 };

    c->owner = -1;
    if (logto_blocked_read(ctx, &c->blocked, &e) >= 0)
        c->entry = logto_blocked_find_name(c->blocked, name);
    if (!live || logto_net_get(ctx, &net, &e) < 0 ||
        net->name_claimants(ctx, name, NULL, &c->live, &c->n_live, &e) < 0)
        return;
    c->live_ok = true;
    if (c->n_live)
        c->owner = logto_owner_pick((const struct logto_identity *const *)c->live, c->n_live);
}

static json_t *claims_json(const struct claims *c)
{
    json_t *live = c->live_ok ? json_array() : json_null(), *blocked = json_null();

    for (size_t i = 0; c->live_ok && live && i < c->n_live; i++) {
        _cleanup_free_ char *claim = logto_owner_claim_text(c->live[i]);
        json_array_append_new(live,
                              json_pack("{s:s, s:s, s:b}", "sub", c->live[i]->sub, "claim",
                                        claim ? claim : "?", "owner", (ssize_t)i == c->owner));
    }
    if (c->entry) {
        json_t *cl = json_array();
        for (size_t k = 0; cl && k < c->entry->n_claimants; k++)
            json_array_append_new(cl, json_pack("{s:s, s:s}", "sub", c->entry->claimants[k].sub,
                                                "claim", c->entry->claimants[k].claim));
        blocked =
            json_pack("{s:s, s:o}", "reason", c->entry->reason, "claimants", cl ? cl : json_null());
    }
    return json_pack("{s:o, s:o}", "blocked", blocked ? blocked : json_null(), "claimants",
                     live ? live : json_null());
}

static void print_claims(const char *name, const struct claims *c)
{
    if (c->entry) {
        _cleanup_free_ char *who = logto_blocked_claimants_text(c->entry);
        printf("BLOCKED: the name %s belongs to nobody: %s\n  claimed by: %s\n", name,
               c->entry->reason, who ? who : "?");
    }
    if (!c->live_ok || c->n_live < 2)
        return;
    printf("claimed in Logto by %zu users:\n", c->n_live);
    for (size_t i = 0; i < c->n_live; i++) {
        _cleanup_free_ char *claim = logto_owner_claim_text(c->live[i]);
        printf("  sub %-16s %s%s\n", c->live[i]->sub, claim ? claim : "?",
               (ssize_t)i == c->owner ? "  (owner: identical to the name)" : "");
    }
    if (c->owner < 0)
        printf("  nobody owns it (no claim, or several, identical to the name)\n");
}

static void user_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] user [--offline] NAME\n");
}

int cli_cmd_user(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "offline", no_argument, NULL, 'o' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const struct logto_config *cfg = cli->ctx.cfg;
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    _cleanup_(logto_localdb_freep) struct logto_localdb *db = NULL;
    _cleanup_free_ char *path = NULL;
    struct logto_error snap_err = { 0 }, live_err = { 0 }, e = { 0 };
    const struct logto_dir_user *u = NULL;
    struct live live = { 0 };
    struct claims claims = { 0 };
    const char *name, *skip_live = NULL;
    bool offline = false, local = false, live_ok = false;
    int c, r, live_r = 0, status;
    const struct logto_user_override *override;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+oh", options, NULL)) != -1) {
        switch (c) {
        case 'o':
            offline = true;
            break;
        case 'j':
            cli->json = true;
            break;
        case 'h':
            user_usage(stdout);
            return CLI_OK;
        default:
            user_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        user_usage(stderr);
        return CLI_USAGE;
    }
    name = argv[optind];
    if (!logto_name_valid(name)) {
        fprintf(stderr, "logtoctl: user: '%s' is not a valid user name\n", name);
        return CLI_USAGE;
    }

    /* Never applied to a local account of the same name (identity.c), so not shown for one. */
    override = logto_config_user_override(cfg, name);
    if (logto_localdb_load(&cli->ctx, &db, &e) >= 0)
        local = logto_localdb_has_user(db, name);
    path = snapshot_path(cfg);
    if (!path)
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
    r = logto_snapshot_read(path, &dir, &snap_err);
    if (r >= 0)
        u = find_by_name(dir, name);
    else if (r == -LOGTO_E_NOTFOUND)
        snap_err = (struct logto_error){ 0 };

    if (offline)
        skip_live = "--offline";
    else if (!can_go_live(cfg, &skip_live))
        ;
    else {
        live_r = fetch_live(&cli->ctx, name, u ? u->sub : NULL, &live, &live_err);
        live_ok = live_r >= 0;
        if (live_r == -LOGTO_E_NOTFOUND)
            live_err = (struct logto_error){ 0 }; /* not in Logto: shown as such */
    }

    find_claims(&cli->ctx, name, !skip_live, &claims);

    /* Exit status: found somewhere and no error; else the live error; else not found. */
    if (live_r < 0 && live_r != -LOGTO_E_NOTFOUND &&
        !(live_r == -LOGTO_E_COLLISION && claims.n_live > 1))
        status = cli_exit_code(live_r);
    else if (u || live_ok || claims.entry)
        status = CLI_OK;
    else
        status = CLI_NOTFOUND;

    if (cli->json) {
        json_t *doc = json_pack(
            "{s:s, s:b, s:s, s:o, s:o, s:o, s:o, s:o}", "name", name, "local_account", local,
            "snapshot_path", path, "snapshot", u ? snapshot_json(dir, u) : json_null(),
            "snapshot_problem", snap_err.message[0] ? json_string(snap_err.message) : json_null(),
            "live", live_ok ? live_json(&live, u) : json_null(), "live_skipped",
            cli_json_string_or_null(skip_live), "live_error",
            live_r < 0 && live_r != -LOGTO_E_NOTFOUND
                ? json_pack("{s:s, s:s}", "code", logto_errc_name(logto_errc_from(live_r)),
                            "message", live_err.message)
                : json_null());
        if (doc) {
            json_object_set_new(doc, "override", override_json(local ? NULL : override));
            if (!live_ok && live_r == -LOGTO_E_NOTFOUND)
                json_object_set_new(doc, "live_not_found", json_true());
            json_object_update_new(doc, claims_json(&claims));
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
            putchar('\n');
            json_decref(doc);
        } else {
            status = CLI_FAIL;
        }
        live_done(&live);
        claims_done(&claims);
        return fflush(stdout) == 0 ? status : CLI_FAIL;
    }

    printf("user %s\n", name);
    print_claims(name, &claims);
    if (local)
        printf("  %s is a local account (passwd file): logto never serves it\n", name);
    if (override)
        printf("  [user %s] at %s:%d %s%s%s%s\n", name, override->file, override->line,
               local ? "is never applied to a local account" : "overrides:",
               !local && override->home ? " home" : "", !local && override->shell ? " shell" : "",
               !local && override->gecos ? " gecos" : "");
    if (u)
        print_snapshot(path, dir, u, local ? NULL : override);
    else if (snap_err.message[0])
        printf("snapshot: unreadable: %s\n", snap_err.message);
    else if (live_ok && live.id && !(live.admitted_by && live.admitted_by[0]))
        printf("snapshot: no user %s in %s: no service on this host admits them\n", name, path);
    else
        printf("snapshot: no user %s in %s\n", name, path);
    if (live_ok)
        print_live(&live, u);
    else if (skip_live)
        printf("%s: not asked (%s)\n", logto_idp_text(cfg, LOGTO_IDP_LABEL), skip_live);
    else if (live_r == -LOGTO_E_NOTFOUND)
        printf("Logto: no such user%s\n", u ? " (deleted? run logtoctl sync)" : "");
    else
        printf("Logto: %s\n", live_err.message[0] ? live_err.message : "failed");
    live_done(&live);
    claims_done(&claims);
    if (fflush(stdout) != 0)
        return CLI_FAIL;
    if (status == CLI_NOTFOUND)
        fprintf(stderr, "logtoctl: no user %s in the snapshot%s%s\n", name, skip_live ? "" : " or ",
                skip_live ? "" : logto_idp_text(cfg, LOGTO_IDP_IN));
    else if (status != CLI_OK)
        fprintf(stderr, "logtoctl: %s\n", live_err.message);
    return status;
}

/* ---------------------------------------------------------------- logtoctl keys */

/*
 * The contract with sshd (AuthorizedKeysCommand /usr/sbin/logtoctl keys %u,
 * AuthorizedKeysCommandUser root): keys on stdout, one per line; exit 0 with no output for
 * names we do not serve (unknown, local, suspended, invalid); non-zero (no output) when we could
 * not decide. sshd runs us for every key an unauthenticated client offers, so the work is
 * bounded (lookup.h): names not in the snapshot cost nothing; for the others the Management API
 * is asked at most once per lookup_cache_ttl (the answer, keys or none, is remembered, like
 * sss_ssh_authorizedkeys answering from SSSD's cache) and only within the host's lookup budget.
 * When Logto cannot be reached or the budget is spent, the key cache of the last sync or lookup
 * answers; nothing ever waits for a token.
 */

/* The answer was printed (with --json, the document: the lookup prints one even for no keys). */
static bool keys_printed;

static int print_keys(const struct cli *cli, const char *name, char *const *keys)
{
    keys_printed = true;
    if (cli->json) {
        json_t *a = json_array();

        for (size_t i = 0; a && keys && keys[i]; i++)
            json_array_append_new(a, json_string(keys[i]));
        return cli_print_json(json_pack("{s:s, s:o}", "user", name, "keys", a ? a : json_null())) <
                       0
                   ? CLI_FAIL
                   : CLI_OK;
    }
    for (size_t i = 0; keys && keys[i]; i++)
        printf("%s\n", keys[i]);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}

static void keys_log(const struct cli *cli, int priority, const char *fmt, const char *name,
                     const char *detail)
{
    logto_log(&cli->ctx.log, priority, fmt, name, detail ? detail : "");
}

/*
 * sshd copies whatever an AuthorizedKeysCommand writes on stderr into its own log, on every
 * login: a normal lookup prints nothing there. What the library and the lookup have to say goes
 * to syslog (LOG_AUTHPRIV, ident logtoctl, LOG_INFO and above, like pam_logto's lines); stderr
 * shows it only with --debug. Failures (exit non-zero) still say why on stderr (cli_fail).
 */
static void keys_sink(void *data, int priority, const char *line)
{
    const struct cli *cli = data;

    if (priority <= LOG_INFO)
        syslog(LOG_AUTHPRIV | priority, "%s", line);
    if (cli->debug)
        fprintf(stderr, "logtoctl: %s%s\n", priority <= LOG_ERR ? "error: " : "", line);
}

static int keys_from_cache(struct cli *cli, const char *name, const char *sub)
{
    _cleanup_strv_ char **keys = NULL;
    struct logto_error e = { 0 };
    int r = logto_sync_keys_load(&cli->ctx, name, sub, &keys, &e);

    if (r == -LOGTO_E_NOTFOUND)
        return CLI_OK; /* nothing cached for this user */
    if (r < 0)
        return cli_fail(cli, r, &e);
    return print_keys(cli, name, keys);
}

/* Remember what Logto said about name (bound to sub) for lookup_cache_ttl. */
static void keys_remember(struct cli *cli, const char *name, const char *sub, bool found)
{
    struct logto_error e = { 0 };

    if (logto_lookup_remember(&cli->ctx, LOGTO_LOOKUP_KEYS, name, found, sub, &e) < 0)
        keys_log(cli, LOG_WARNING, "lookups-write-failed user=%s reason=\"%s\"", name, e.message);
}

static int keys_live(struct cli *cli, const char *name, const char *sub)
{
    const struct logto_ctx *kctx = &cli->ctx;
    _cleanup_(logto_mgmt_freep) struct logto_mgmt *m = NULL;
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    _cleanup_json_ json_t *user = NULL;
    _cleanup_strv_ char **keys = NULL;
    struct logto_error e = { 0 }, se = { 0 };
    int r;

    /* sshd waits for us: every request is bounded by logto.conf's connect_timeout and timeout
     * (at most a token request, and the user; a stale cached token adds one retry). */
    r = logto_mgmt_new(kctx, &m, &e);
    if (r >= 0)
        r = logto_mgmt_get_user(m, sub, &user, &e);
    if (r == -LOGTO_E_UNREACHABLE) {
        keys_log(cli, LOG_WARNING, "keys-offline user=%s reason=\"%s\" source=cache", name,
                 e.message);
        return keys_from_cache(cli, name, sub);
    }
    if (r == -LOGTO_E_NOTFOUND) {
        /* Deleted in Logto: no keys, and none cached any more. */
        keys_log(cli, LOG_NOTICE, "keys-none user=%s reason=\"%s\"", name, "not in Logto");
        (void)logto_sync_keys_store(&cli->ctx, name, sub, NULL, &se);
        keys_remember(cli, name, sub, false);
        return CLI_OK;
    }
    if (r < 0)
        return cli_fail(cli, r, &e);

    r = logto_identity_from_mgmt(kctx, user, NULL, NULL, 0, &id, &e);
    if (r == -LOGTO_E_IDENTITY || (r >= 0 && strcmp(id->name, name) != 0)) {
        /* The sub no longer maps to this name (renamed or refused): not this user's keys. */
        keys_log(cli, LOG_NOTICE, "keys-none user=%s reason=\"%s\"", name,
                 r < 0 ? e.message : "the Logto user now maps to another name");
        (void)logto_sync_keys_store(&cli->ctx, name, sub, NULL, &se);
        keys_remember(cli, name, sub, false);
        return CLI_OK;
    }
    if (r < 0)
        return cli_fail(cli, r, &e);
    if (id->suspended) {
        keys_log(cli, LOG_NOTICE, "keys-none user=%s reason=\"%s\"", name, "suspended");
        keys_remember(cli, name, sub, false);
        return CLI_OK;
    }
    r = logto_sync_ssh_keys(kctx, id, &keys, NULL, &e);
    if (r < 0)
        return cli_fail(cli, r, &e);
    r = logto_sync_keys_store(&cli->ctx, name, sub, keys, &se);
    if (r < 0)
        keys_log(cli, LOG_WARNING, "keys-cache-write-failed user=%s reason=\"%s\"", name,
                 se.message);
    else
        keys_remember(cli, name, sub, true);
    return print_keys(cli, name, keys);
}

/* A remembered answer for this sub, else the Management API within the lookup budget, else the
 * key cache. */
static int keys_bounded(struct cli *cli, const char *name, const char *sub)
{
    struct logto_lookup_answer a;
    struct logto_error e = { 0 };

    if (logto_lookup_cached(&cli->ctx, LOGTO_LOOKUP_KEYS, name, &a, NULL) == 0 &&
        strcmp(a.sub, sub) == 0) {
        logto_log_debug(&cli->ctx.log, "keys-remembered user=%s found=%s", name,
                        a.found ? "yes" : "no");
        return a.found ? keys_from_cache(cli, name, sub) : CLI_OK;
    }
    if (logto_lookup_take(&cli->ctx, &e) < 0) {
        keys_log(cli, LOG_NOTICE, "keys-limited user=%s reason=\"%s\" source=cache", name,
                 e.message);
        return keys_from_cache(cli, name, sub);
    }
    return keys_live(cli, name, sub);
}

static void keys_usage(FILE *out)
{
    fprintf(out, "usage: logtoctl [--json] keys [--cached] NAME\n"
                 "sshd_config:\n"
                 "  AuthorizedKeysCommand /usr/sbin/logtoctl keys %%u\n"
                 "  AuthorizedKeysCommandUser root\n");
}

static int keys_lookup(struct cli *cli, const char *name, bool cached);

int cli_cmd_keys(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        { "cached", no_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *name;
    bool cached = false;
    int c, r;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+ch", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            cached = true;
            break;
        case 'h':
            keys_usage(stdout);
            return CLI_OK;
        default:
            keys_usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        keys_usage(stderr);
        return CLI_USAGE;
    }
    name = argv[optind];
    keys_printed = false;
    r = keys_lookup(cli, name, cached);
    if (r == CLI_OK && cli->json && !keys_printed)
        r = print_keys(cli, name, NULL); /* none: an empty list */
    return r;
}

static int keys_lookup(struct cli *cli, const char *name, bool cached)
{
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_(logto_localdb_freep) struct logto_localdb *db = NULL;
    _cleanup_(logto_snapshot_unrefp) struct logto_snapshot *snap = NULL;
    _cleanup_free_ char *path = NULL, *sub = NULL;
    struct logto_snap_user su;
    const char *sub_text;
    struct logto_error e = { 0 };
    const char *why = NULL;
    int r;

    if (geteuid() != 0) {
        fprintf(stderr, "logtoctl: keys must run as root (sshd_config: "
                        "AuthorizedKeysCommandUser root): the key cache and the M2M secret are "
                        "root's\n");
        return CLI_FAIL;
    }
    openlog("logtoctl", LOG_PID, LOG_AUTHPRIV);
    cli->ctx.log.fn = keys_sink;
    cli->ctx.log.userdata = cli;
    r = cli_load_config(cli, &cfg);
    if (r != CLI_OK)
        return r;
    /* Names sshd passes as %u are whatever the client typed: only valid names go further. */
    if (!logto_name_valid(name)) {
        keys_log(cli, LOG_NOTICE, "keys-none user=%s%s", "(invalid)", "");
        return CLI_OK;
    }
    /* Local accounts keep their own ~/.ssh/authorized_keys; we never answer for them. */
    r = logto_localdb_load(&cli->ctx, &db, &e);
    if (r < 0)
        return cli_fail(cli, r, &e);
    if (logto_localdb_has_user(db, name))
        return CLI_OK;

    path = snapshot_path(cfg);
    if (!path)
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);
    r = logto_snapshot_open(path, &snap, &e);
    if (r == -LOGTO_E_NOTFOUND)
        return CLI_OK;
    if (r < 0)
        return cli_fail(cli, r, &e);
    r = logto_snapshot_user_by_name(snap, name, &su);
    if (r == -LOGTO_E_NOTFOUND)
        return CLI_OK;
    if (r < 0)
        return cli_fail(cli, r, &e);
    if (su.flags & LOGTO_USER_SUSPENDED) {
        keys_log(cli, LOG_NOTICE, "keys-none user=%s reason=\"%s\"", name, "suspended");
        return CLI_OK;
    }
    if (logto_snapshot_user_sub(snap, &su, &sub_text) < 0)
        return cli_fail(cli, -LOGTO_E_CORRUPT, NULL);
    sub = strdup(sub_text);
    if (!sub)
        return cli_fail(cli, -LOGTO_E_NOMEM, NULL);

    if (cached || !can_go_live(cfg, &why))
        return keys_from_cache(cli, name, sub);
    return keys_bounded(cli, name, sub);
}
