/* SPDX-License-Identifier: MIT */
/* Authorization rules: every rule, their combinations, and lookalike attempts. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "memory.h"
#include "util.h"

#include "../lib/check.h"

/* Lists are written as space-separated text; NULL = unset, "" = set but empty. */
struct rules {
    const char *deny, *allow, *roles, *orgs, *org_roles;
    bool any; /* allow_any_user */
};

struct who {
    const char *name, *roles, *orgs, *org_roles;
    bool suspended;
    const char *org_name_id, *org_name; /* one display name from organization_data */
};

struct authz_case {
    const char *what;
    struct rules rules;
    struct who who;
    bool allowed;
    const char *reason; /* substring of the denial reason */
};

static char **list(const char *text)
{
    return text ? logto_strv_split(text, false) : NULL;
}

static const struct authz_case cases[] = {
    /* Deny by default: no rule admits nobody; allow_any_user opens the service to everyone. */
    { "no rules", { 0 }, { .name = "alice" }, false, "service sshd admits nobody" },
    { "no rules, with roles", { 0 }, { .name = "alice", .roles = "admin" }, false, "nobody" },
    { "allow_any_user", { .any = true }, { .name = "alice" }, true, NULL },
    { "only deny_users names nobody", { .deny = "bob" }, { .name = "alice" }, false, "nobody" },
    { "allow_any_user and deny_users",
      { .any = true, .deny = "alice" },
      { .name = "alice" },
      false,
      "deny_users" },
    { "allow_any_user does not lift rules",
      { .any = true, .roles = "admin" },
      { .name = "alice", .roles = "dev" },
      false,
      "requires role admin" },
    { "allow_any_user and a suspended user",
      { .any = true },
      { .name = "alice", .suspended = true },
      false,
      "suspended" },

    /* deny_users */
    { "denied user",
      { .deny = "bob alice" },
      { .name = "alice" },
      false,
      "user alice is in deny_users" },
    { "deny ignores case", { .deny = "ALICE" }, { .name = "alice" }, false, "deny_users" },
    { "deny other user", { .deny = "bob", .any = true }, { .name = "alice" }, true, NULL },
    { "deny wins over allow",
      { .deny = "alice", .allow = "alice" },
      { .name = "alice" },
      false,
      "deny_users" },
    { "deny wins over roles",
      { .deny = "alice", .roles = "admin" },
      { .name = "alice", .roles = "admin" },
      false,
      "deny_users" },

    /* allow_users */
    { "allowed user", { .allow = "bob alice" }, { .name = "alice" }, true, NULL },
    { "not allowed", { .allow = "bob" }, { .name = "alice" }, false, "not in allow_users" },
    { "allow is exact", { .allow = "Alice" }, { .name = "alice" }, false, "not in allow_users" },
    { "allow set but empty", { .allow = "" }, { .name = "alice" }, false, "allow_users" },
    { "allow does not skip roles",
      { .allow = "alice", .roles = "admin" },
      { .name = "alice", .roles = "dev" },
      false,
      "requires role admin" },

    /* suspended */
    { "suspended",
      { .allow = "alice" },
      { .name = "alice", .suspended = true },
      false,
      "suspended" },
    { "suspended despite allow and role",
      { .allow = "alice", .roles = "admin" },
      { .name = "alice", .roles = "admin", .suspended = true },
      false,
      "suspended" },

    /* require_roles: any of */
    { "has the role", { .roles = "admin" }, { .name = "alice", .roles = "admin dev" }, true, NULL },
    { "has one of the roles",
      { .roles = "admin developer" },
      { .name = "alice", .roles = "developer" },
      true,
      NULL },
    { "lacks the role",
      { .roles = "admin" },
      { .name = "alice", .roles = "dev" },
      false,
      "requires role admin" },
    { "no roles at all",
      { .roles = "admin developer" },
      { .name = "alice" },
      false,
      "requires role admin or developer" },
    { "role names are case-sensitive",
      { .roles = "admin" },
      { .name = "alice", .roles = "Admin" },
      false,
      "requires role admin" },
    { "role prefix is not the role",
      { .roles = "admin" },
      { .name = "alice", .roles = "admins administrator" },
      false,
      "requires role" },
    { "sanitised group name is not a role",
      { .roles = "logto-admin" },
      { .name = "alice", .roles = "admin" },
      false,
      "requires role logto-admin" },
    { "require_roles set but empty",
      { .roles = "" },
      { .name = "alice", .roles = "admin" },
      false,
      "list is empty" },

    /* require_orgs: membership by organization ID */
    { "member of the org", { .orgs = "org1" }, { .name = "alice", .orgs = "org1" }, true, NULL },
    { "member of one of the orgs",
      { .orgs = "org1 org2" },
      { .name = "alice", .orgs = "org2 org3" },
      true,
      NULL },
    { "not a member",
      { .orgs = "org1" },
      { .name = "alice", .orgs = "org2" },
      false,
      "requires membership of organization org1" },
    { "org display name equal to the required ID",
      { .orgs = "org1" },
      { .name = "alice", .orgs = "org2", .org_name_id = "org2", .org_name = "org1" },
      false,
      "organization org1" },
    { "org ID case matters",
      { .orgs = "org1" },
      { .name = "alice", .orgs = "ORG1" },
      false,
      "organization" },
    { "org role does not make a member",
      { .orgs = "org1" },
      { .name = "alice", .org_roles = "org1:member" },
      false,
      "organization org1" },
    { "global role named like the org",
      { .orgs = "org1" },
      { .name = "alice", .roles = "org1" },
      false,
      "organization" },

    /* require_org_roles: exact "orgId:role" */
    { "has the org role",
      { .org_roles = "org1:admin" },
      { .name = "alice", .org_roles = "org1:admin" },
      true,
      NULL },
    { "other role in the org",
      { .org_roles = "org1:admin" },
      { .name = "alice", .orgs = "org1", .org_roles = "org1:member" },
      false,
      "requires organization role org1:admin" },
    { "same role in another org",
      { .org_roles = "org1:admin" },
      { .name = "alice", .orgs = "org2", .org_roles = "org2:admin" },
      false,
      "org1:admin" },
    { "global role spelled like the org role",
      { .org_roles = "org1:admin" },
      { .name = "alice", .roles = "org1:admin admin", .orgs = "org1" },
      false,
      "org1:admin" },
    { "sanitised org-role group name",
      { .org_roles = "org1-admin" },
      { .name = "alice", .org_roles = "org1:admin" },
      false,
      "org1-admin" },
    { "extra colon is a different value",
      { .org_roles = "org1:admin" },
      { .name = "alice", .org_roles = "org1:admin:x org1:admi" },
      false,
      "org1:admin" },
    { "org role case matters",
      { .org_roles = "org1:admin" },
      { .name = "alice", .org_roles = "org1:Admin" },
      false,
      "org1:admin" },

    /* Several kinds: all of them, each "any of". */
    { "roles and orgs both met",
      { .roles = "admin dev", .orgs = "org1" },
      { .name = "alice", .roles = "dev", .orgs = "org1" },
      true,
      NULL },
    { "roles met, orgs not",
      { .roles = "admin", .orgs = "org1" },
      { .name = "alice", .roles = "admin", .orgs = "org2" },
      false,
      "organization org1" },
    { "orgs met, roles not",
      { .roles = "admin", .orgs = "org1" },
      { .name = "alice", .roles = "dev", .orgs = "org1" },
      false,
      "requires role admin" },
    { "all three met",
      { .roles = "admin", .orgs = "org1", .org_roles = "org1:ops" },
      { .name = "alice", .roles = "admin", .orgs = "org1", .org_roles = "org1:ops" },
      true,
      NULL },
    { "all three, org role missing",
      { .roles = "admin", .orgs = "org1", .org_roles = "org1:ops" },
      { .name = "alice", .roles = "admin", .orgs = "org1", .org_roles = "org1:member" },
      false,
      "organization role org1:ops" },
    { "allow list and roles both met",
      { .allow = "alice", .roles = "admin" },
      { .name = "alice", .roles = "admin" },
      true,
      NULL },
};

static void run_case(const struct authz_case *c)
{
    struct logto_service svc = { .name = (char *)(uintptr_t) "sshd" };
    struct logto_identity id = { 0 };
    struct logto_org_name on = { 0 };
    char reason[256] = "untouched";

    svc.deny_users = list(c->rules.deny);
    svc.allow_users = list(c->rules.allow);
    svc.require_roles = list(c->rules.roles);
    svc.require_orgs = list(c->rules.orgs);
    svc.require_org_roles = list(c->rules.org_roles);
    svc.allow_any_user = c->rules.any ? LOGTO_YES : LOGTO_NO;
    id.name = (char *)(uintptr_t)c->who.name;
    id.roles = list(c->who.roles ? c->who.roles : "");
    id.orgs = list(c->who.orgs ? c->who.orgs : "");
    id.org_roles = list(c->who.org_roles ? c->who.org_roles : "");
    id.suspended = c->who.suspended;
    if (c->who.org_name_id) {
        on.id = (char *)(uintptr_t)c->who.org_name_id;
        on.name = (char *)(uintptr_t)c->who.org_name;
        id.org_names = &on;
        id.n_org_names = 1;
    }

    int r = logto_authz_check(&svc, &id, reason, sizeof(reason));
    if ((r == 0) != c->allowed)
        fprintf(stderr, "case \"%s\": %s (%s)\n", c->what, r == 0 ? "allowed" : "denied", reason);
    CHECK_INT(r, c->allowed ? 0 : -LOGTO_E_DENIED);
    if (c->allowed)
        CHECK_STR(reason, "");
    else {
        if (!strstr(reason, c->reason))
            fprintf(stderr, "case \"%s\": reason \"%s\"\n", c->what, reason);
        CHECK_CONTAINS(reason, c->reason);
    }

    logto_strv_free(svc.deny_users);
    logto_strv_free(svc.allow_users);
    logto_strv_free(svc.require_roles);
    logto_strv_free(svc.require_orgs);
    logto_strv_free(svc.require_org_roles);
    logto_strv_free(id.roles);
    logto_strv_free(id.orgs);
    logto_strv_free(id.org_roles);
}

static void test_table(void)
{
    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        run_case(&cases[i]);
}

static void test_edges(void)
{
    struct logto_service svc = { .name = (char *)(uintptr_t) "sudo" };
    struct logto_identity id = { .name = (char *)(uintptr_t) "alice" };
    char reason[64];

    /* Missing pieces are denials, never crashes or approvals. */
    CHECK_INT(logto_authz_check(NULL, &id, reason, sizeof(reason)), -LOGTO_E_DENIED);
    CHECK_INT(logto_authz_check(&svc, NULL, reason, sizeof(reason)), -LOGTO_E_DENIED);
    CHECK_INT(logto_authz_check(&svc, &id, NULL, 0), -LOGTO_E_DENIED);
    svc.allow_any_user = LOGTO_UNSET; /* only "yes" opens a service */
    CHECK_INT(logto_authz_check(&svc, &id, NULL, 0), -LOGTO_E_DENIED);
    svc.allow_any_user = LOGTO_YES;
    CHECK_INT(logto_authz_check(&svc, &id, NULL, 0), 0);
    /* Identity lists may be NULL (nothing granted). */
    static char admin[] = "admin", evil_role[] = "adm\nin";
    char *want[] = { admin, NULL };
    svc.require_roles = want;
    CHECK_INT(logto_authz_check(&svc, &id, NULL, 0), -LOGTO_E_DENIED);
    /* A short reason buffer is cut, still terminated. */
    char tiny[8];
    CHECK_INT(logto_authz_check(&svc, &id, tiny, sizeof(tiny)), -LOGTO_E_DENIED);
    CHECK_INT(strlen(tiny), sizeof(tiny) - 1);
    /* Control characters in configured values cannot break the log line. */
    char *evil[] = { evil_role, NULL };
    svc.require_roles = evil;
    CHECK_INT(logto_authz_check(&svc, &id, reason, sizeof(reason)), -LOGTO_E_DENIED);
    CHECK(!strchr(reason, '\n'));
}

/* Before the IdP is asked: only the rules the name alone decides. */
static void test_name_only(void)
{
    static char admin[] = "admin", bob[] = "bob", alice[] = "alice";
    char *roles[] = { admin, NULL }, *bobs[] = { bob, NULL }, *alices[] = { alice, NULL };
    struct logto_service svc = { .name = (char *)(uintptr_t) "sshd" };
    char reason[256];

    CHECK_INT(logto_authz_check_name(&svc, "alice", reason, sizeof(reason)), -LOGTO_E_DENIED);
    CHECK_CONTAINS(reason, "service sshd admits nobody");
    svc.require_roles = roles; /* decided later, from the claims */
    CHECK_INT(logto_authz_check_name(&svc, "alice", reason, sizeof(reason)), 0);
    svc.allow_users = bobs;
    CHECK_INT(logto_authz_check_name(&svc, "alice", reason, sizeof(reason)), -LOGTO_E_DENIED);
    CHECK_CONTAINS(reason, "not in allow_users");
    CHECK_INT(logto_authz_check_name(&svc, "bob", reason, sizeof(reason)), 0);
    svc = (struct logto_service){ .name = svc.name, .allow_any_user = LOGTO_YES };
    CHECK_INT(logto_authz_check_name(&svc, "alice", reason, sizeof(reason)), 0);
    svc.deny_users = alices;
    CHECK_INT(logto_authz_check_name(&svc, "alice", reason, sizeof(reason)), -LOGTO_E_DENIED);
    CHECK_CONTAINS(reason, "deny_users");
    CHECK_INT(logto_authz_check_name(NULL, "alice", reason, sizeof(reason)), -LOGTO_E_DENIED);
}

/* A user of this host: one some [service] section (or [service *]) admits. */
static bool host_admits(const char *conf, const char *name, const char *roles, bool suspended,
                        const char *want_names)
{
    _cleanup_(logto_config_freep) struct logto_config *cfg = NULL;
    _cleanup_(logto_authz_host_freep) struct logto_authz_host *host = NULL;
    _cleanup_strv_ char **names = NULL, **role_list = list(roles);
    _cleanup_free_ char *text =
        logto_asprintf("[logto]\nendpoint = https://auth.example.com\nclient_id = app\n%s", conf);
    struct logto_identity id = { .name = (char *)(uintptr_t)name, .suspended = suspended };
    struct logto_error err = { 0 };
    bool admitted;

    CHECK(text);
    CHECK_INT(logto_config_parse_buffer(text, strlen(text), NULL, &cfg, &err), 0);
    CHECK_INT(logto_authz_host_new(cfg, &host, &err), 0);
    id.roles = role_list;
    admitted = logto_authz_host_admits(host, &id, &names);
    CHECK_INT(logto_authz_host_admits(host, &id, NULL), admitted);
    CHECK_INT(logto_authz_config_admits(cfg, &id), admitted);
    if (want_names) {
        _cleanup_free_ char *joined = logto_strv_join(names, " ");
        CHECK_STR(joined ? joined : "", want_names);
    }
    return admitted;
}

static void test_host(void)
{
    const char *rules = "[service sshd]\nrequire_roles = admin\n"
                        "[service sudo]\nallow_users = bob\n";

    /* No section, or sections without rules: nobody exists on the host. */
    CHECK(!host_admits("", "alice", "admin", false, ""));
    CHECK(!host_admits("[service *]\nflow = device\n", "alice", "admin", false, ""));
    /* The union of the sections' rules. */
    CHECK(host_admits(rules, "alice", "admin", false, "sshd"));
    CHECK(host_admits(rules, "bob", "", false, "sudo"));
    CHECK(!host_admits(rules, "carol", "dev", false, ""));
    /* Suspension does not decide who exists (the account phase refuses them). */
    CHECK(host_admits(rules, "alice", "admin", true, "sshd"));
    /* allow_any_user anywhere: everyone, [service *] standing for sections it opens too. */
    CHECK(host_admits("[service *]\nallow_any_user = yes\n", "carol", "", false, "*"));
    CHECK(host_admits("[service login]\nallow_any_user = yes\n", "carol", "", false, "login"));
    CHECK(host_admits("[service *]\nallow_any_user = yes\n[service sudo]\nrequire_roles = admin\n",
                      "alice", "admin", false, "* sudo"));
    /* deny_users of the only open service keep a user out. */
    CHECK(!host_admits("[service *]\nallow_any_user = yes\ndeny_users = carol\n", "carol", "",
                       false, ""));
}

TEST_MAIN(TEST(test_table), TEST(test_edges), TEST(test_name_only), TEST(test_host))
