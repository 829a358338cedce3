/* SPDX-License-Identifier: MIT */
/*
 * The directory model: deep copies, sign-in upserts and removals, every invariant that
 * validate() enforces, a write/read round trip of every field, drop_local against fixture
 * passwd/group files, the fingerprint of the local files that writers record, and the NSS
 * module's guard in both of its states (the files as the writer checked them; changed since).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory.h"
#include "localset.h"
#include "log.h"
#include "snapshot.h"
#include "util.h"

#include "../lib/check.h"
#include "../lib/nss_fixture.h"

static char *tmp;

static const struct logto_dir_group *group_named(const struct logto_directory *d, const char *name)
{
    for (size_t i = 0; i < d->n_groups; i++)
        if (strcmp(d->groups[i].name, name) == 0)
            return &d->groups[i];
    return NULL;
}

static char *members_of(const struct logto_directory *d, const char *name)
{
    const struct logto_dir_group *g = group_named(d, name);
    return g ? logto_strv_join(g->members, ",") : strdup("(no group)");
}

#define CHECK_MEMBERS(d, group, want)                                                              \
    do {                                                                                           \
        char *m_ = members_of((d), (group));                                                       \
        CHECK_STR(m_, (want));                                                                     \
        free(m_);                                                                                  \
    } while (0)

static struct logto_dir_user user_tmpl(const char *name, uint32_t id, const char *sub)
{
    static char home[8][64];
    static int next;
    char *h = home[next++ % 8];
    snprintf(h, 64, "/home/%s", name);
    return (struct logto_dir_user){
        .name = fx_unconst(name),
        .uid = id,
        .gid = id,
        .gecos = fx_unconst("Someone"),
        .home = h,
        .shell = fx_unconst("/bin/sh"),
        .sub = fx_unconst(sub),
    };
}

static struct logto_dir_group group_tmpl(const char *name, uint32_t gid, uint32_t kind)
{
    return (struct logto_dir_group){
        .name = fx_unconst(name),
        .gid = gid,
        .kind = kind,
        .source = fx_unconst(name),
    };
}

/* ---------------------------------------------------------------- basics */

static void test_deep_copy(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    char name[] = "alice", sub[] = "sub-a", member[] = "alice";
    char *members[] = { member, NULL };
    struct logto_dir_user u = user_tmpl(name, 10001, sub);
    struct logto_dir_group g = group_tmpl("devs", 20001, LOGTO_GROUP_ROLE);

    u.name = name;
    u.sub = sub;
    g.members = members;
    CHECK_INT(logto_directory_add_user(d, &u), 0);
    CHECK_INT(logto_directory_add_group(d, &g), 0);
    /* The caller's buffers may change afterwards. */
    name[0] = 'X';
    sub[0] = 'X';
    member[0] = 'X';
    CHECK_STR(d->users[0].name, "alice");
    CHECK(d->users[0].name != name);
    CHECK_STR(logto_directory_find_user(d, "sub-a")->name, "alice");
    CHECK(logto_directory_find_user(d, "Xub-a") == NULL);
    CHECK(logto_directory_find_user(d, NULL) == NULL);
    CHECK_MEMBERS(d, "devs", "alice");

    /* Many adds (amortised growth) keep every entry intact. */
    for (int i = 0; i < 1000; i++) {
        char n[16], s[16];
        snprintf(n, sizeof(n), "u%d", i);
        snprintf(s, sizeof(s), "s%d", i);
        struct logto_dir_user x = user_tmpl(n, 30000 + (uint32_t)i, s);
        CHECK_INT(logto_directory_add_user(d, &x), 0);
    }
    CHECK_INT(d->n_users, 1001);
    CHECK_STR(d->users[1000].name, "u999");
    CHECK_INT(d->users[500].uid, 30499);
}

/* ---------------------------------------------------------------- upsert and remove */

static void test_upsert_new_user(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    struct logto_dir_user u = user_tmpl("alice", 10001, "sub-a");
    struct logto_dir_group gs[] = {
        group_tmpl("devs", 20001, LOGTO_GROUP_ROLE), group_tmpl("org-acme", 20002, LOGTO_GROUP_ORG),
        group_tmpl("ignored", 20009, LOGTO_GROUP_PRIVATE), /* private groups are implied */
    };
    struct logto_error err = { 0 };

    CHECK_INT(logto_directory_upsert_user(d, &u, gs, 3, &err), 0);
    CHECK_INT(d->n_users, 1);
    CHECK_INT(d->n_groups, 3);
    const struct logto_dir_group *p = group_named(d, "alice");
    CHECK(p && p->kind == LOGTO_GROUP_PRIVATE && p->gid == 10001);
    CHECK(p && logto_streq(p->source, "sub-a"));
    CHECK_MEMBERS(d, "alice", "");
    CHECK_MEMBERS(d, "devs", "alice");
    CHECK_MEMBERS(d, "org-acme", "alice");
    CHECK(group_named(d, "ignored") == NULL);
    CHECK_INT(logto_directory_validate(d, &err), 0);

    /* A second user joins an existing group; members stay sorted. */
    struct logto_dir_user a2 = user_tmpl("aaron", 10002, "sub-aaron");
    CHECK_INT(logto_directory_upsert_user(d, &a2, gs, 1, &err), 0);
    CHECK_MEMBERS(d, "devs", "aaron,alice");
    CHECK_INT(logto_directory_validate(d, &err), 0);
}

static void test_upsert_memberships_exact(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    struct logto_dir_user a = user_tmpl("alice", 10001, "sub-a");
    struct logto_dir_user b = user_tmpl("bob", 10002, "sub-b");
    struct logto_dir_group devs = group_tmpl("devs", 20001, LOGTO_GROUP_ROLE);
    struct logto_dir_group ops = group_tmpl("ops", 20002, LOGTO_GROUP_ROLE);
    struct logto_dir_group qa = group_tmpl("qa", 20003, LOGTO_GROUP_ROLE);
    struct logto_dir_group a_groups[] = { devs, ops };
    struct logto_dir_group b_groups[] = { devs };
    struct logto_error err = { 0 };

    CHECK_INT(logto_directory_upsert_user(d, &a, a_groups, 2, &err), 0);
    CHECK_INT(logto_directory_upsert_user(d, &b, b_groups, 1, &err), 0);
    /* alice loses ops and devs and gains qa: ops is left empty and dropped, devs keeps bob. */
    CHECK_INT(logto_directory_upsert_user(d, &a, &qa, 1, &err), 0);
    CHECK_MEMBERS(d, "devs", "bob");
    CHECK(group_named(d, "ops") == NULL);
    CHECK_MEMBERS(d, "qa", "alice");
    CHECK(group_named(d, "alice") && group_named(d, "bob"));
    /* No groups at all: qa goes, private groups stay. */
    CHECK_INT(logto_directory_upsert_user(d, &a, NULL, 0, &err), 0);
    CHECK(group_named(d, "qa") == NULL);
    CHECK(group_named(d, "alice") != NULL);
    CHECK_INT(d->n_groups, 3);
    CHECK_INT(logto_directory_validate(d, &err), 0);

    /* An empty group that this update did not empty (e.g. from sync) is left alone. */
    CHECK_INT(fx_add_group(d, "auditors", 20010, LOGTO_GROUP_ROLE, "auditors", NULL), 0);
    CHECK_INT(logto_directory_upsert_user(d, &b, NULL, 0, &err), 0);
    CHECK(group_named(d, "auditors") != NULL);
    CHECK(group_named(d, "devs") == NULL);
}

static void test_upsert_update_fields(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    struct logto_dir_user a = user_tmpl("alice", 10001, "sub-a");
    struct logto_dir_group devs = group_tmpl("devs", 20001, LOGTO_GROUP_ROLE);
    struct logto_error err = { 0 };

    CHECK_INT(logto_directory_upsert_user(d, &a, &devs, 1, &err), 0);
    /* Same sub, new name, shell, flags and a new primary GID. */
    struct logto_dir_user a2 = user_tmpl("alicia", 10001, "sub-a");
    a2.gid = 10050;
    a2.shell = fx_unconst("/bin/zsh");
    a2.flags = LOGTO_USER_SUSPENDED;
    a2.updated_at = 42;
    CHECK_INT(logto_directory_upsert_user(d, &a2, &devs, 1, &err), 0);
    CHECK_INT(d->n_users, 1);
    CHECK_STR(d->users[0].name, "alicia");
    CHECK_STR(d->users[0].shell, "/bin/zsh");
    CHECK_INT(d->users[0].flags, LOGTO_USER_SUSPENDED);
    CHECK_INT(d->users[0].updated_at, 42);
    CHECK(group_named(d, "alice") == NULL);
    const struct logto_dir_group *p = group_named(d, "alicia");
    CHECK(p && p->gid == 10050 && p->kind == LOGTO_GROUP_PRIVATE);
    CHECK_MEMBERS(d, "devs", "alicia");
    CHECK_INT(logto_directory_validate(d, &err), 0);
}

/* [organization o1] group = acme added (or changed) since the snapshot was written: a sign-in
 * renames the organization's group for every member instead of being refused for its GID; a
 * group of another kind or source with that GID still refuses the sign-in. */
static void test_upsert_renamed_org_group(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    struct logto_dir_user a = user_tmpl("alice", 10001, "sub-a");
    struct logto_dir_user b = user_tmpl("bob", 10002, "sub-b");
    struct logto_dir_group old = group_tmpl("org-o1", 20001, LOGTO_GROUP_ORG);
    struct logto_dir_group renamed = group_tmpl("acme", 20001, LOGTO_GROUP_ORG);
    struct logto_dir_group role = group_tmpl("acme-x", 20001, LOGTO_GROUP_ROLE);
    struct logto_error err = { 0 };

    old.source = renamed.source = role.source = fx_unconst("o1");
    CHECK_INT(logto_directory_upsert_user(d, &b, &old, 1, &err), 0);
    CHECK_INT(logto_directory_upsert_user(d, &a, &renamed, 1, &err), 0);
    CHECK(group_named(d, "org-o1") == NULL);
    CHECK_MEMBERS(d, "acme", "alice,bob");
    CHECK_INT(logto_directory_validate(d, &err), 0);
    CHECK_INT(logto_directory_upsert_user(d, &a, &role, 1, &err), -LOGTO_E_COLLISION);
    CHECK_CONTAINS(err.message, "GID 20001 already belongs to acme");
}

static void test_upsert_collisions(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = logto_directory_new();
    struct logto_dir_user a = user_tmpl("alice", 10001, "sub-a");
    struct logto_dir_group devs = group_tmpl("devs", 20001, LOGTO_GROUP_ROLE);
    struct logto_error err = { 0 };

    CHECK_INT(logto_directory_upsert_user(d, &a, &devs, 1, &err), 0);
    size_t users = d->n_users, groups = d->n_groups;

    /* Same name, other sub: refused, nothing changed. */
    struct logto_dir_user evil = user_tmpl("alice", 10009, "sub-evil");
    CHECK_INT(logto_directory_upsert_user(d, &evil, NULL, 0, &err), -LOGTO_E_COLLISION);
    CHECK_CONTAINS(err.message, "already belongs to sub sub-a");
    /* Same UID, other sub. */
    struct logto_dir_user clash = user_tmpl("mallory", 10001, "sub-m");
    CHECK_INT(logto_directory_upsert_user(d, &clash, NULL, 0, &err), -LOGTO_E_COLLISION);
    /* Private group would take an existing group's name or GID. */
    struct logto_dir_user devsuser = user_tmpl("devs", 10005, "sub-devs");
    CHECK_INT(logto_directory_upsert_user(d, &devsuser, NULL, 0, &err), -LOGTO_E_COLLISION);
    struct logto_dir_user gidclash = user_tmpl("gina", 10006, "sub-g");
    gidclash.gid = 20001;
    CHECK_INT(logto_directory_upsert_user(d, &gidclash, NULL, 0, &err), -LOGTO_E_COLLISION);
    /* A group that exists with another GID or kind, or a GID taken by another group. */
    struct logto_dir_user b = user_tmpl("bob", 10002, "sub-b");
    struct logto_dir_group other = group_tmpl("devs", 20099, LOGTO_GROUP_ROLE);
    CHECK_INT(logto_directory_upsert_user(d, &b, &other, 1, &err), -LOGTO_E_COLLISION);
    CHECK_CONTAINS(err.message, "exists with GID 20001");
    struct logto_dir_group kind = group_tmpl("devs", 20001, LOGTO_GROUP_ORG);
    CHECK_INT(logto_directory_upsert_user(d, &b, &kind, 1, &err), -LOGTO_E_COLLISION);
    struct logto_dir_group taken = group_tmpl("qa", 20001, LOGTO_GROUP_ROLE);
    CHECK_INT(logto_directory_upsert_user(d, &b, &taken, 1, &err), -LOGTO_E_COLLISION);
    /* Invalid input never gets in. */
    struct logto_dir_user bad = user_tmpl("Bad:Name", 10003, "sub-x");
    CHECK_INT(logto_directory_upsert_user(d, &bad, NULL, 0, &err), -LOGTO_E_IDENTITY);
    struct logto_dir_user root = user_tmpl("rooty", 0, "sub-r");
    CHECK_INT(logto_directory_upsert_user(d, &root, NULL, 0, &err), -LOGTO_E_IDENTITY);
    struct logto_dir_group badg = group_tmpl("sudo", 27, LOGTO_GROUP_ROLE);
    CHECK_INT(logto_directory_upsert_user(d, &b, &badg, 1, &err), -LOGTO_E_IDENTITY);

    CHECK_INT(d->n_users, users);
    CHECK_INT(d->n_groups, groups);
    CHECK(group_named(d, "bob") == NULL);
    CHECK_MEMBERS(d, "devs", "alice");
    CHECK_INT(logto_directory_validate(d, &err), 0);
}

static void test_remove(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = fx_sample();
    struct logto_error err = { 0 };

    CHECK_INT(logto_directory_remove_user(d, "sub-nobody"), -LOGTO_E_NOTFOUND);
    /* carol: her private group and acme_admin (only her) go; org-acme keeps alice. */
    CHECK_INT(logto_directory_remove_user(d, "sub-carol"), 0);
    CHECK(logto_directory_find_user(d, "sub-carol") == NULL);
    CHECK(group_named(d, "carol") == NULL);
    CHECK(group_named(d, "acme_admin") == NULL);
    CHECK_MEMBERS(d, "org-acme", "alice");
    CHECK(group_named(d, "empty") != NULL); /* was empty before: not ours to drop */
    CHECK_INT(d->n_users, 2);
    CHECK_INT(logto_directory_validate(d, &err), 0);
}

/* ---------------------------------------------------------------- validate */

typedef void (*breaker)(struct logto_directory *d);

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = value ? strdup(value) : NULL;
}

static void b_name(struct logto_directory *d)
{
    set_str(&d->users[0].name, "Alice");
}
static void b_name_long(struct logto_directory *d)
{
    set_str(&d->users[0].name, "a23456789012345678901234567890123");
}
static void b_uid_reserved(struct logto_directory *d)
{
    d->users[0].uid = 65534;
}
static void b_uid_nspawn(struct logto_directory *d)
{
    d->users[0].uid = 600000;
}
static void b_gid_reserved(struct logto_directory *d)
{
    d->users[0].gid = 100;
}
static void b_gecos_colon(struct logto_directory *d)
{
    set_str(&d->users[0].gecos, "Alice:0:0");
}
static void b_home_relative(struct logto_directory *d)
{
    set_str(&d->users[0].home, "home/alice");
}
static void b_shell_newline(struct logto_directory *d)
{
    set_str(&d->users[0].shell, "/bin/sh\nroot::0:0::/:/bin/sh");
}
static void b_shell_missing(struct logto_directory *d)
{
    set_str(&d->users[0].shell, NULL);
}
static void b_sub_missing(struct logto_directory *d)
{
    set_str(&d->users[0].sub, "");
}
static void b_sub_control(struct logto_directory *d)
{
    set_str(&d->users[0].sub, "sub\x1b[0m");
}
static void b_dup_name(struct logto_directory *d)
{
    set_str(&d->users[1].name, "alice");
}
static void b_dup_uid(struct logto_directory *d)
{
    d->users[1].uid = 10001;
}
static void b_dup_sub(struct logto_directory *d)
{
    set_str(&d->users[1].sub, "sub-alice");
}
static void b_group_name(struct logto_directory *d)
{
    set_str(&d->groups[3].name, "dev team");
}
static void b_group_gid(struct logto_directory *d)
{
    d->groups[3].gid = 27;
}
static void b_group_kind(struct logto_directory *d)
{
    d->groups[3].kind = 5;
}
static void b_group_source(struct logto_directory *d)
{
    set_str(&d->groups[3].source, NULL);
}
static void b_members_unsorted(struct logto_directory *d)
{
    char *t = d->groups[3].members[0];
    d->groups[3].members[0] = d->groups[3].members[1];
    d->groups[3].members[1] = t;
}
static void b_members_dup(struct logto_directory *d)
{
    set_str(&d->groups[3].members[1], "alice");
}
static void b_member_unknown(struct logto_directory *d)
{
    set_str(&d->groups[3].members[1], "zed");
}
static void b_dup_group_name(struct logto_directory *d)
{
    set_str(&d->groups[4].name, "developers");
}
static void b_dup_gid(struct logto_directory *d)
{
    d->groups[4].gid = 20001;
}
static void b_private_missing(struct logto_directory *d)
{
    d->groups[0].kind = LOGTO_GROUP_ROLE; /* alice's private group becomes a role group */
}
static void b_private_name(struct logto_directory *d)
{
    set_str(&d->groups[0].name, "alice2");
}
static void b_private_gid(struct logto_directory *d)
{
    d->users[0].gid = 20001; /* primary group is developers, private group still 10001 */
}
static void b_private_orphan(struct logto_directory *d)
{
    set_str(&d->groups[3].source, "sub-ghost");
    d->groups[3].kind = LOGTO_GROUP_PRIVATE;
}
static void b_private_members(struct logto_directory *d)
{
    logto_strv_push(&d->groups[0].members, "alice");
}
static void b_private_twice(struct logto_directory *d)
{
    set_str(&d->groups[6].source, "sub-alice");
    d->groups[6].kind = LOGTO_GROUP_PRIVATE;
}

static void test_validate(void)
{
    static const struct {
        const char *name;
        breaker fn;
        const char *message;
    } cases[] = {
        { "invalid name", b_name, "invalid user name" },
        { "long name", b_name_long, "invalid user name" },
        { "reserved uid", b_uid_reserved, "UID 65534 is reserved" },
        { "nspawn uid", b_uid_nspawn, "UID 600000 is reserved" },
        { "reserved gid", b_gid_reserved, "GID 100 is reserved" },
        { "gecos colon", b_gecos_colon, "invalid gecos" },
        { "home relative", b_home_relative, "invalid home" },
        { "shell newline", b_shell_newline, "invalid shell" },
        { "shell missing", b_shell_missing, "invalid shell" },
        { "sub missing", b_sub_missing, "invalid sub" },
        { "sub control", b_sub_control, "invalid sub" },
        { "duplicate name", b_dup_name, "two users are named alice" },
        { "duplicate uid", b_dup_uid, "two users have UID 10001" },
        { "duplicate sub", b_dup_sub, "two users have sub sub-alice" },
        { "group name", b_group_name, "invalid name" },
        { "group gid", b_group_gid, "GID 27 is reserved" },
        { "group kind", b_group_kind, "unknown kind 5" },
        { "group source", b_group_source, "invalid source" },
        { "members unsorted", b_members_unsorted, "not sorted and unique" },
        { "members duplicate", b_members_dup, "not sorted and unique" },
        { "member unknown", b_member_unknown, "member zed is not a user" },
        { "duplicate group name", b_dup_group_name, "two groups are named developers" },
        { "duplicate gid", b_dup_gid, "two groups have GID 20001" },
        { "private group missing", b_private_missing, "user alice has 0 private groups" },
        { "private group name", b_private_name, "does not match user alice" },
        { "private group gid", b_private_gid, "does not match user alice" },
        { "private group orphan", b_private_orphan, "belongs to no user" },
        { "private group members", b_private_members, "private group alice has members" },
        { "two private groups", b_private_twice, "does not match user alice" },
    };
    struct logto_error err = { 0 };
    struct logto_directory *d = fx_sample();

    /* The sample's group order: alice, bob, carol (private), developers, org-acme,
     * acme_admin, empty. */
    CHECK_STR(d->groups[3].name, "developers");
    CHECK_STR(d->groups[6].name, "empty");
    CHECK_INT(logto_directory_validate(d, &err), 0);
    logto_directory_free(d);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        d = fx_sample();
        cases[i].fn(d);
        int r = logto_directory_validate(d, &err);
        if (r == 0 || !strstr(err.message, cases[i].message))
            fprintf(stderr, "case %s: %d \"%s\"\n", cases[i].name, r, err.message);
        CHECK(r < 0);
        CHECK_CONTAINS(err.message, cases[i].message);
        /* An invalid directory is never written. */
        _cleanup_free_ char *p = fx_path(tmp, "invalid.snapshot");
        CHECK(logto_snapshot_write(p, d, &err) < 0);
        CHECK_CONTAINS(err.message, "refusing to write");
        CHECK(access(p, F_OK) < 0 && errno == ENOENT);
        logto_directory_free(d);
    }
}

/* ---------------------------------------------------------------- round trip */

static void test_round_trip(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = fx_sample();
    _cleanup_(logto_directory_freep) struct logto_directory *back = NULL;
    _cleanup_free_ char *p = fx_path(tmp, LOGTO_SNAPSHOT_NAME);
    _cleanup_free_ char *lock = fx_path(tmp, "directory.lock");
    struct logto_error err = { 0 };
    struct stat st;

    /* Fields the sample leaves at their defaults. */
    set_str(&d->users[2].gecos, "Carol \xc3\x9f, Room 4"); /* UTF-8 passes through */
    d->users[2].updated_at = -5;
    d->users[0].flags = 0x80000001u;
    set_str(&d->users[1].gecos, NULL);

    CHECK_INT(logto_snapshot_write(p, d, &err), 0);
    CHECK_INT(stat(p, &st), 0);
    CHECK_INT(st.st_mode & 07777, 0644);
    CHECK_INT(st.st_uid, geteuid());
    CHECK_INT(stat(lock, &st), 0); /* writers serialise on it */
    CHECK_INT(logto_snapshot_read(p, &back, &err), 0);
    if (!back)
        return;
    CHECK_INT(back->generated_at, 1700000000);
    CHECK_INT(back->n_users, d->n_users);
    CHECK_INT(back->n_groups, d->n_groups);
    for (size_t i = 0; i < d->n_users; i++) {
        const struct logto_dir_user *a = &d->users[i], *b = &back->users[i];
        CHECK_STR(b->name, a->name);
        CHECK_INT(b->uid, a->uid);
        CHECK_INT(b->gid, a->gid);
        CHECK_STR(b->gecos, a->gecos ? a->gecos : ""); /* no gecos reads back as "" */
        CHECK_STR(b->home, a->home);
        CHECK_STR(b->shell, a->shell);
        CHECK_STR(b->sub, a->sub);
        CHECK_INT(b->flags, a->flags);
        CHECK_INT(b->updated_at, a->updated_at);
    }
    /* Groups come back in GID order. */
    for (size_t i = 0; i < d->n_groups; i++) {
        const struct logto_dir_group *a = &d->groups[i], *b = group_named(back, a->name);
        CHECK(b != NULL);
        if (!b)
            continue;
        CHECK_INT(b->gid, a->gid);
        CHECK_INT(b->kind, a->kind);
        CHECK_STR(b->source, a->source);
        char *x = logto_strv_join(a->members, ","), *y = logto_strv_join(b->members, ",");
        CHECK_STR(y, x);
        free(x);
        free(y);
        if (i > 0)
            CHECK(back->groups[i - 1].gid < back->groups[i].gid);
    }
    CHECK_INT(logto_directory_validate(back, &err), 0);

    /* Generations count up across writes; an empty directory is a valid snapshot too. */
    CHECK_INT(logto_snapshot_write(p, back, &err), 0);
    _cleanup_(logto_directory_freep) struct logto_directory *empty = logto_directory_new();
    CHECK_INT(logto_snapshot_write(p, empty, &err), 0);
    struct logto_snapshot *s = NULL;
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (s) {
        CHECK_INT(logto_snapshot_generation(s), 3);
        CHECK_INT(logto_snapshot_n_users(s), 0);
        struct logto_snap_user u;
        CHECK_INT(logto_snapshot_user_by_name(s, "alice", &u), -LOGTO_E_NOTFOUND);
        logto_snapshot_unref(s);
    }
    _cleanup_(logto_directory_freep) struct logto_directory *none = NULL;
    CHECK_INT(logto_snapshot_read(p, &none, &err), 0);
    CHECK(none && none->n_users == 0 && none->n_groups == 0);

    /* Missing and damaged files. */
    _cleanup_free_ char *missing = fx_path(tmp, "missing.snapshot");
    _cleanup_(logto_directory_freep) struct logto_directory *m = NULL;
    CHECK_INT(logto_snapshot_read(missing, &m, &err), -LOGTO_E_NOTFOUND);
}

/* A snapshot whose records are well-formed but whose indexes lie is refused by the full read. */
static void test_read_inconsistent(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = fx_sample();
    _cleanup_(logto_directory_freep) struct logto_directory *back = NULL;
    _cleanup_free_ char *p = fx_path(tmp, "lying.snapshot");
    struct logto_error err = { 0 };
    unsigned char *buf;
    size_t len;

    CHECK_INT(logto_snapshot_write(p, d, &err), 0);
    CHECK_INT(fx_read(p, &buf, &len), 0);
    struct logto_snapshot_header *h = (void *)buf;
    /* Swap alice's and bob's supplementary GID runs: every offset still in range. */
    struct logto_snapshot_user *u = (void *)(buf + h->tables[LOGTO_SNAP_USERS].offset);
    uint32_t f = u[0].gids_first, c = u[0].gids_count;
    u[0].gids_first = u[1].gids_first;
    u[0].gids_count = u[1].gids_count;
    u[1].gids_first = f;
    u[1].gids_count = c;
    fx_reseal(buf, len);
    CHECK_INT(fx_write(p, buf, len), 0);
    CHECK_INT(logto_snapshot_read(p, &back, &err), -LOGTO_E_CORRUPT);
    CHECK_CONTAINS(err.message, "indexes disagree");
    free(buf);
}

/* ---------------------------------------------------------------- drop_local */

static char log_text[4096];
static void capture(void *ud, int prio, const char *line)
{
    (void)ud;
    (void)prio;
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof(log_text) - n, "%s\n", line);
}

static void write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "we");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_drop_local(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = fx_sample();
    _cleanup_free_ char *pw = fx_path(tmp, "passwd"), *gr = fx_path(tmp, "group");
    const struct logto_log log = { .fn = capture };
    struct logto_error err = { 0 };
    char *devs[] = { fx_unconst("dave"), fx_unconst("erin"), NULL };

    write_text(pw, "root:x:0:0:root:/root:/bin/bash\n"
                   "# a comment\n\n"
                   "bob:x:1001:1001::/home/bob:/bin/sh\n"     /* bob is local: Logto's bob goes */
                   "svc:x:10005:10005::/:/usr/sbin/nologin\n" /* UID of Logto's erin */
                   "+nisuser::::::\n");                       /* compat entries count by name */
    write_text(gr, "root:x:0:\n"
                   "org-acme:x:2000:\n"    /* a local group named like a Logto group */
                   "legacy:x:20003:\n"     /* GID of Logto's acme_admin */
                   "frankgrp:x:10006:\n"); /* GID of frank's private group */
    CHECK_INT(fx_add_user(d, "dave", 10004, 10004, "", "sub-dave"), 0);
    CHECK_INT(fx_add_user(d, "erin", 10005, 10005, "", "sub-erin"), 0);
    CHECK_INT(fx_add_user(d, "frank", 10006, 10006, "", "sub-frank"), 0);
    CHECK_INT(fx_add_user(d, "nisuser", 10007, 10007, "", "sub-nis"), 0);
    CHECK_INT(fx_add_group(d, "team", 20005, LOGTO_GROUP_ROLE, "team", devs), 0);

    log_text[0] = '\0';
    CHECK_INT(logto_directory_drop_local(d, pw, gr, &log), 10);
    CHECK_INT(logto_directory_validate(d, &err), 0);
    if (err.message[0])
        fprintf(stderr, "%s\n", err.message);

    /* Left: alice, carol, dave. */
    CHECK_INT(d->n_users, 3);
    CHECK(logto_directory_find_user(d, "sub-alice") && logto_directory_find_user(d, "sub-carol") &&
          logto_directory_find_user(d, "sub-dave"));
    CHECK(group_named(d, "bob") == NULL && group_named(d, "erin") == NULL &&
          group_named(d, "frank") == NULL && group_named(d, "nisuser") == NULL);
    CHECK(group_named(d, "org-acme") == NULL);
    CHECK(group_named(d, "acme_admin") == NULL);
    CHECK_MEMBERS(d, "developers", "alice"); /* bob's membership went with him */
    CHECK_MEMBERS(d, "team", "dave");
    CHECK(group_named(d, "empty") != NULL);

    CHECK_CONTAINS(log_text, "directory-skip-local name=bob reason=local-user-name");
    CHECK_CONTAINS(log_text, "directory-skip-local name=erin reason=local-uid");
    CHECK_CONTAINS(log_text, "directory-skip-local name=nisuser reason=local-user-name");
    CHECK_CONTAINS(log_text, "directory-skip-local name=org-acme reason=local-group-name");
    CHECK_CONTAINS(log_text, "directory-skip-local name=acme_admin reason=local-gid");
    CHECK_CONTAINS(log_text, "directory-skip-local name=frank reason=local-gid");
    CHECK_CONTAINS(log_text, "directory-skip-local name=frank reason=private-group-local");
    CHECK_CONTAINS(log_text, "directory-skip-local name=bob reason=owner-local");
    CHECK_CONTAINS(log_text, "directory-skip-local name=erin reason=owner-local");

    /* Nothing left to drop the second time. */
    CHECK_INT(logto_directory_drop_local(d, pw, gr, &log), 0);

    /* Unreadable local files: fail closed, nothing dropped, the directory unchanged. */
    _cleanup_free_ char *missing = fx_path(tmp, "no-passwd");
    CHECK_INT(logto_directory_drop_local(d, missing, gr, &log), -LOGTO_E_IO);
    CHECK_INT(d->n_users, 3);
}

/* ---------------------------------------------------------------- the local files' fingerprint */

static void identity_of(const char *p, struct logto_file_identity *id)
{
    struct stat st;

    CHECK_INT(stat(p, &st), 0);
    logto_file_identity_from_stat(id, &st);
}

static void append_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "ae");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static struct timespec plus_ns(struct timespec t, int64_t ns)
{
    int64_t v = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec + ns;
    return (struct timespec){ .tv_sec = (time_t)(v / 1000000000),
                              .tv_nsec = (long)(v % 1000000000) };
}

/* Every part of both identities counts; a file that changed less than 2 s ago has none. */
static void test_fingerprint(void)
{
    _cleanup_free_ char *pw = fx_path(tmp, "fp-passwd"), *gr = fx_path(tmp, "fp-group");
    struct logto_file_identity a, b, c;
    uint64_t fp;

    write_text(pw, "root:x:0:0:root:/root:/bin/bash\n");
    write_text(gr, "root:x:0:\n");
    identity_of(pw, &a);
    identity_of(gr, &b);
    fp = logto_local_fingerprint(&a, &b);
    CHECK(fp != 0);
    CHECK(logto_local_fingerprint(&a, &b) == fp);
    CHECK(logto_local_fingerprint(&b, &a) != fp);
    CHECK(logto_local_fingerprint_at(pw, gr) == fp);
    CHECK(logto_local_fingerprint_at(pw, "/nonexistent/group") == 0);
    for (int field = 0; field < 7; field++) {
        c = b;
        switch (field) {
        case 0:
            c.dev++;
            break;
        case 1:
            c.ino++;
            break;
        case 2:
            c.size++;
            break;
        case 3:
            c.mtime.tv_sec++;
            break;
        case 4:
            c.mtime.tv_nsec ^= 1;
            break;
        case 5:
            c.ctime.tv_sec--;
            break;
        default:
            c.ctime.tv_nsec ^= 1;
            break;
        }
        CHECK(logto_local_fingerprint(&a, &c) != fp);
    }

    /* The later of the two ctimes decides. */
    struct timespec last = a.ctime.tv_sec > b.ctime.tv_sec || (a.ctime.tv_sec == b.ctime.tv_sec &&
                                                               a.ctime.tv_nsec > b.ctime.tv_nsec)
                               ? a.ctime
                               : b.ctime;
    struct timespec t = plus_ns(last, LOGTO_LOCAL_SETTLE_NS);
    CHECK(logto_local_fingerprint_settled(&a, &b, &t) == fp);
    t = plus_ns(last, LOGTO_LOCAL_SETTLE_NS - 1);
    CHECK(logto_local_fingerprint_settled(&a, &b, &t) == 0);
    t = plus_ns(last, -1000000000);
    CHECK(logto_local_fingerprint_settled(&a, &b, &t) == 0); /* dated after now */
    unlink(pw);
    unlink(gr);
}

/*
 * drop_local records the fingerprint only of the files the NSS module looks at: never of other
 * paths (tests), not even when they lead to the same files. It travels through the snapshot;
 * removals keep it, additions and sign-in updates clear it.
 */
static void test_drop_local_fingerprint(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *d = fx_sample();
    _cleanup_(logto_directory_freep) struct logto_directory *back = NULL;
    _cleanup_free_ char *pw = fx_path(tmp, "passwd"), *gr = fx_path(tmp, "group");
    _cleanup_free_ char *pw_link = fx_path(tmp, "etc-passwd"), *gr_link = fx_path(tmp, "etc-group");
    _cleanup_free_ char *p = fx_path(tmp, "fp.snapshot"), *missing = fx_path(tmp, "no-passwd");
    struct logto_file_identity sys_pw, sys_gr;
    struct logto_snapshot *s = NULL;
    struct logto_error err = { 0 };
    struct timespec now;
    uint64_t want;

    write_text(pw, "root:x:0:0:root:/root:/bin/bash\n");
    write_text(gr, "root:x:0:\n");
    CHECK_INT(logto_directory_drop_local(d, pw, gr, NULL), 0);
    CHECK(d->local_files == 0);
    CHECK_INT(symlink(LOGTO_PASSWD_PATH, pw_link), 0);
    CHECK_INT(symlink(LOGTO_GROUP_PATH, gr_link), 0);
    d->local_files = 42;
    CHECK(logto_directory_drop_local(d, pw_link, gr_link, NULL) >= 0);
    CHECK(d->local_files == 0);

    /* The real files, by default or by their own names: their fingerprint, as the guard makes
     * it from stat (0 only if the system changed them in the last two seconds). */
    identity_of(LOGTO_PASSWD_PATH, &sys_pw);
    identity_of(LOGTO_GROUP_PATH, &sys_gr);
    CHECK_INT(clock_gettime(CLOCK_REALTIME, &now), 0);
    want = logto_local_fingerprint_settled(&sys_pw, &sys_gr, &now);
    CHECK(logto_directory_drop_local(d, NULL, NULL, NULL) >= 0);
    CHECK(d->local_files == want);
    if (want == 0)
        fprintf(stderr, "# %s or %s changed in the last 2 s: fingerprint 0\n", LOGTO_PASSWD_PATH,
                LOGTO_GROUP_PATH);
    else
        CHECK(want == logto_local_fingerprint(&sys_pw, &sys_gr));
    d->local_files = 0;
    CHECK(logto_directory_drop_local(d, LOGTO_PASSWD_PATH, LOGTO_GROUP_PATH, NULL) >= 0);
    CHECK(d->local_files == want);
    /* Unreadable: none. */
    CHECK_INT(logto_directory_drop_local(d, missing, gr, NULL), -LOGTO_E_IO);
    CHECK(d->local_files == 0);

    /* Into the header and back. */
    d->local_files = UINT64_C(0x8badf00d12345678);
    CHECK_INT(logto_snapshot_write(p, d, &err), 0);
    CHECK_INT(logto_snapshot_open(p, &s, &err), 0);
    if (s) {
        CHECK(logto_snapshot_local_files(s) == UINT64_C(0x8badf00d12345678));
        logto_snapshot_unref(s);
    }
    CHECK_INT(logto_snapshot_read(p, &back, &err), 0);
    if (!back)
        return;
    CHECK(back->local_files == UINT64_C(0x8badf00d12345678));
    /* A removal makes nothing local: kept. An addition was never checked: cleared. */
    CHECK_INT(logto_directory_remove_user(back, "sub-bob"), 0);
    CHECK(back->local_files == UINT64_C(0x8badf00d12345678));
    CHECK_INT(fx_add_user(back, "dave", 10004, 10004, "", "sub-dave"), 0);
    CHECK(back->local_files == 0);
    back->local_files = 7;
    struct logto_dir_user erin = user_tmpl("erin", 10005, "sub-erin");
    CHECK_INT(logto_directory_upsert_user(back, &erin, NULL, 0, &err), 0);
    CHECK(back->local_files == 0);
    back->local_files = 7;
    struct logto_dir_group team = group_tmpl("team", 20005, LOGTO_GROUP_ROLE);
    CHECK_INT(logto_directory_add_group(back, &team), 0);
    CHECK(back->local_files == 0);
    unlink(p);
    unlink(pw_link);
    unlink(gr_link);
}

/* ---------------------------------------------------------------- the NSS module's guard */

#define GUARD_PASSWD "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n"
#define GUARD_GROUP  "root:x:0:\nstaff:x:50:\n"

static void guard_on(struct logto_local_guard *g, const char *pw, const char *gr)
{
    *g = (struct logto_local_guard)LOGTO_LOCAL_GUARD_INIT;
    g->passwd_path = pw;
    g->group_path = gr;
    g->interval_ns = 0; /* stat at every call: the tests change the files between calls */
}

/*
 * The files are those the snapshot's writer checked: the guard hides nothing and reads nothing,
 * whatever the entry (it asks about none: the writer already dropped what was local). Any other
 * fingerprint, 0 above all (a writer that read other files, or an old file), makes it read the
 * files and check each entry.
 */
static void test_guard_unchanged(void)
{
    _cleanup_free_ char *pw = fx_path(tmp, "g-passwd"), *gr = fx_path(tmp, "g-group");
    struct logto_local_guard g;
    uint64_t fp;

    write_text(pw, GUARD_PASSWD);
    write_text(gr, GUARD_GROUP);
    guard_on(&g, pw, gr);
    fp = logto_local_fingerprint_at(pw, gr);
    CHECK(logto_local_guard_clear(&g, fp));
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "alice", 10001, 10001), 0);
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "bob", 1001, 1001), 0);
    CHECK_INT(logto_local_guard_hides_group(&g, fp, "staff", 50, false), 0);
    CHECK_INT(logto_local_guard_hides_group(&g, fp, "bob", 1001, true), 0);
    CHECK_INT(g.reads, 0);
    CHECK(!g.loaded);

    /* Unknown: read once, every entry checked. */
    CHECK(!logto_local_guard_clear(&g, 0));
    CHECK_INT(logto_local_guard_hides_user(&g, 0, "bob", 50001, 50001), 1);
    CHECK_INT(logto_local_guard_hides_user(&g, 0, "alice", 10001, 10001), 0);
    CHECK_INT(logto_local_guard_hides_group(&g, 0, NULL, 50, false), 1);
    CHECK_INT(g.reads, 1);
    /* Another writer's files. */
    CHECK(!logto_local_guard_clear(&g, fp ^ 1));
    CHECK_INT(logto_local_guard_hides_user(&g, fp ^ 1, "x", 1001, 60001), 1);
    CHECK_INT(g.reads, 1);
    /* The matching fingerprint again: clear, with the files still loaded. */
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "bob", 1001, 1001), 0);
    logto_local_guard_reset(&g);
    unlink(pw);
    unlink(gr);
}

/*
 * A local account and group appended after the snapshot was written (as `echo >>` or a
 * hand edit would): the fingerprint no longer matches, and the entry that is now local is
 * hidden by name, by ID, as a private group, and by GID alone (initgroups); the files are read
 * once, not per entry. A guard whose last stat is younger than its interval still answers
 * from it (at most one stat per interval); a fresh one sees the change at its first call.
 */
static void test_guard_changed(void)
{
    _cleanup_free_ char *pw = fx_path(tmp, "c-passwd"), *gr = fx_path(tmp, "c-group");
    _cleanup_free_ char *gone = fx_path(tmp, "c-none");
    struct logto_local_guard g, slow;
    uint64_t fp;

    write_text(pw, GUARD_PASSWD);
    write_text(gr, GUARD_GROUP);
    guard_on(&g, pw, gr);
    guard_on(&slow, pw, gr);
    slow.interval_ns = INT64_C(3600) * 1000000000;
    fp = logto_local_fingerprint_at(pw, gr);
    CHECK(logto_local_guard_clear(&g, fp));
    CHECK(logto_local_guard_clear(&slow, fp));

    append_text(pw, "mysql:x:120:120:MySQL:/nonexistent:/usr/sbin/nologin\n");
    append_text(gr, "mysql:x:120:\ndbadmin:x:30001:\n");
    CHECK(!logto_local_guard_clear(&g, fp));
    /* The Logto user mysql (UID and GID 1900000001) and its private group: by name. */
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "mysql", 1900000001, 1900000001), 1);
    CHECK_INT(logto_local_guard_hides_group(&g, fp, "mysql", 1900000001, true), 1);
    /* Logto entries whose ID is now local: by UID, by GID, by GID alone (initgroups). */
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "svc", 120, 1900000002), 1);
    CHECK_INT(logto_local_guard_hides_group(&g, fp, "db-admins", 30001, false), 1);
    CHECK_INT(logto_local_guard_hides_group(&g, fp, NULL, 30001, false), 1);
    /* Everything else is served, as in an enumeration. */
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "alice", 10001, 10001), 0);
    CHECK_INT(logto_local_guard_hides_group(&g, fp, "developers", 20001, false), 0);
    CHECK_INT(logto_local_guard_hides_group(&g, fp, NULL, 20001, false), 0);
    CHECK_INT(g.reads, 1);

    /* Within its interval a guard keeps its last stat; reset, it stats again. */
    CHECK(logto_local_guard_clear(&slow, fp));
    CHECK_INT(slow.reads, 0);
    logto_local_guard_reset(&slow);
    CHECK(!logto_local_guard_clear(&slow, fp));
    CHECK_INT(logto_local_guard_hides_user(&slow, fp, "mysql", 1900000001, 1900000001), 1);
    CHECK_INT(slow.reads, 1);

    /* The next writer's fingerprint: clear again, nothing more read. */
    fp = logto_local_fingerprint_at(pw, gr);
    CHECK(logto_local_guard_clear(&g, fp));
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "mysql", 1900000001, 1900000001), 0);
    CHECK_INT(g.reads, 1);

    /* Files that cannot be stat'ed or read: nothing served, with any fingerprint. */
    g.group_path = gone;
    CHECK(!logto_local_guard_clear(&g, fp));
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "alice", 10001, 10001), 1);
    CHECK_INT(logto_local_guard_hides_group(&g, 0, NULL, 20001, false), 1);
    g.group_path = gr;
    CHECK_INT(logto_local_guard_hides_user(&g, fp, "alice", 10001, 10001), 0);
    logto_local_guard_reset(&g);
    logto_local_guard_reset(&slow);
    unlink(pw);
    unlink(gr);
}

int main(int argc, char **argv)
{
    static const struct check_case cases[] = {
        TEST(test_deep_copy),
        TEST(test_upsert_new_user),
        TEST(test_upsert_memberships_exact),
        TEST(test_upsert_update_fields),
        TEST(test_upsert_renamed_org_group),
        TEST(test_upsert_collisions),
        TEST(test_remove),
        TEST(test_validate),
        TEST(test_round_trip),
        TEST(test_read_inconsistent),
        TEST(test_drop_local),
        TEST(test_fingerprint),
        TEST(test_drop_local_fingerprint),
        TEST(test_guard_unchanged),
        TEST(test_guard_changed),
    };
    int r;

    tmp = fx_tmpdir("dir");
    if (!tmp)
        return 99;
    r = check_run_(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
    fx_rmtree(tmp);
    free(tmp);
    return r;
}
