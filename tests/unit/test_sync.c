/* SPDX-License-Identifier: MIT */
/* Sync without a network: merging groups, collisions, local accounts, change lists, SSH keys. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "directory.h"
#include "identity.h"
#include "memory.h"
#include "owners.h"
#include "relayclaims.h"
#include "sync.h"
#include "util.h"

#include "../fuzz/fuzz.h"
#include "../lib/check.h"

#define S(lit) ((char *)(uintptr_t)(lit))

/* ------------------------------------------------------------------------------------------ */
/* Environment: the identity fixtures (local passwd/group/shells) in a private directory. */

static char tmpdir[] = "/tmp/test-sync-XXXXXX";
static char passwd_path[256], group_path[256], shells_path[256], master_path[256];
static char logbuf[1 << 16];
static struct logto_config cfg;
static struct logto_ctx ctx;
static char **name_claims, **email_domains;

static void capture_log(void *userdata, int priority, const char *line)
{
    size_t used = strlen(logbuf);
    (void)userdata;
    (void)priority;
    snprintf(logbuf + used, sizeof(logbuf) - used, "%s\n", line);
}

static void copy_fixture(const char *name, char *dst, size_t dstlen)
{
    const char *srcdir = getenv("top_srcdir");
    char src[512], buf[8192];
    FILE *in, *out;
    size_t n;

    if (!srcdir)
        SKIP("top_srcdir is not set (run through make check)");
    snprintf(src, sizeof(src), "%s/tests/data/identity/%s", srcdir, name);
    snprintf(dst, dstlen, "%s/%s", tmpdir, name);
    in = fopen(src, "r");
    if (!in)
        SKIP("fixture %s is missing", src);
    out = fopen(dst, "w");
    if (!out)
        SKIP("cannot write %s", dst);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    chmod(dst, 0644);
}

static void cleanup(void)
{
    char cmd[512];
    logto_strv_free(name_claims);
    logto_strv_free(email_domains);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void setup(void)
{
    static bool done;
    if (!done) {
        if (!mkdtemp(tmpdir))
            SKIP("mkdtemp failed");
        chmod(tmpdir, 0755);
        atexit(cleanup);
        copy_fixture("passwd", passwd_path, sizeof(passwd_path));
        copy_fixture("group", group_path, sizeof(group_path));
        copy_fixture("shells", shells_path, sizeof(shells_path));
        copy_fixture("passwd.master", master_path, sizeof(master_path));
        copy_fixture("group.master", master_path, sizeof(master_path));
        name_claims = logto_strv_split("username email", false);
        email_domains = logto_strv_split("example.com example.org", false);
        done = true;
    }
    cfg = (struct logto_config){ 0 };
    cfg.profile = LOGTO_PROFILE_LOGTO;
    cfg.name_claims = name_claims;
    cfg.email_domains = email_domains;
    cfg.uid_key = S("uidNumber");
    cfg.gid_key = S("gidNumber");
    cfg.shell_key = S("loginShell");
    cfg.ssh_keys_key = S("sshPublicKeys");
    cfg.home_pattern = S("/home/%u");
    cfg.default_shell = S("/bin/bash");
    cfg.role_group_prefix = S("");
    cfg.org_group_prefix = S("org-");
    cfg.org_role_group_prefix = S("orgrole-");
    cfg.groups_from_roles = cfg.groups_from_orgs = cfg.groups_from_org_roles = true;
    cfg.state_dir = tmpdir;
    ctx = (struct logto_ctx){ .cfg = &cfg,
                              .log = { .fn = capture_log },
                              .passwd_path = passwd_path,
                              .group_path = group_path,
                              .shells_path = shells_path,
                              .base_passwd_dir = tmpdir };
    logbuf[0] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* Hand-made Logto users */

struct spec {
    const char *id;       /* Logto user ID (sub) */
    const char *username; /* NULL: JSON null */
    const char *email;
    const char *custom; /* customData as JSON text, or NULL */
    const char *roles;  /* space-separated role names */
    const char *org;    /* one organization ID, or NULL */
    const char *org_roles;
    bool suspended;
};

struct users {
    struct logto_sync_user *v;
    size_t n;
};

static struct logto_identity *map(const struct spec *s)
{
    _cleanup_strv_ char **roles = logto_strv_split(s->roles ? s->roles : "", false);
    _cleanup_strv_ char **oroles = logto_strv_split(s->org_roles ? s->org_roles : "", false);
    struct logto_org_membership org = { .id = s->org,
                                        .name = "Some Org",
                                        .roles = (const char *const *)oroles };
    struct logto_identity *id = NULL;
    struct logto_error e = { 0 };
    json_t *user = json_pack("{s:s, s:o, s:o, s:o, s:b, s:o}", "id", s->id, "username",
                             s->username ? json_string(s->username) : json_null(), "primaryEmail",
                             s->email ? json_string(s->email) : json_null(), "name",
                             json_string(s->id), "isSuspended", s->suspended, "customData",
                             s->custom ? json_loads(s->custom, 0, NULL) : json_object());
    int r;

    CHECK(user != NULL);
    r = logto_identity_from_mgmt(&ctx, user, (const char *const *)roles, s->org ? &org : NULL,
                                 s->org ? 1 : 0, &id, &e);
    json_decref(user);
    if (r < 0) {
        fprintf(stderr, "  (%s does not map: %s)\n", s->id, e.message);
        return NULL;
    }
    return id;
}

static struct users make(const struct spec *specs, size_t n)
{
    struct users u = { calloc(n + 1, sizeof(struct logto_sync_user)), n };
    for (size_t i = 0; i < n; i++) {
        u.v[i].sub = specs[i].id;
        u.v[i].username = specs[i].username;
        u.v[i].id = map(&specs[i]);
        if (!u.v[i].id)
            u.v[i].reason = "does not map";
    }
    return u;
}

static void users_free(struct users *u)
{
    for (size_t i = 0; i < u->n; i++)
        logto_identity_free(u->v[i].id);
    free(u->v);
}

static struct logto_sync_report *new_report(void)
{
    struct logto_sync_report *r = calloc(1, sizeof(*r));
    CHECK(r != NULL);
    return r;
}

static const struct logto_dir_user *user_named(const struct logto_directory *dir, const char *name)
{
    for (size_t i = 0; dir && i < dir->n_users; i++)
        if (strcmp(dir->users[i].name, name) == 0)
            return &dir->users[i];
    return NULL;
}

static const struct logto_dir_group *group_named(const struct logto_directory *dir,
                                                 const char *name)
{
    for (size_t i = 0; dir && i < dir->n_groups; i++)
        if (strcmp(dir->groups[i].name, name) == 0)
            return &dir->groups[i];
    return NULL;
}

/* The members of a group, space-separated ("" for none, "(none)" if there is no group). */
static const char *members(const struct logto_directory *dir, const char *name)
{
    static char buf[512];
    const struct logto_dir_group *g = group_named(dir, name);
    if (!g)
        return "(none)";
    buf[0] = '\0';
    for (size_t i = 0; g->members && g->members[i]; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "", g->members[i]);
    return buf;
}

static const struct logto_sync_skip *skip_of(const struct logto_sync_report *r, const char *sub)
{
    for (size_t i = 0; i < r->n_skipped; i++)
        if (strcmp(r->skipped[i].sub, sub) == 0)
            return &r->skipped[i];
    return NULL;
}

static const struct logto_sync_group_skip *group_skip_of(const struct logto_sync_report *r,
                                                         uint32_t kind, const char *source)
{
    for (size_t i = 0; i < r->n_groups_skipped; i++)
        if (r->groups_skipped[i].kind == kind && strcmp(r->groups_skipped[i].source, source) == 0)
            return &r->groups_skipped[i];
    return NULL;
}

static int build(const struct users *u, struct logto_directory **dir, bool *keep,
                 struct logto_sync_report *report)
{
    struct logto_error e = { 0 };
    int r = logto_sync_build(&ctx, u->v, u->n, dir, keep, report, &e);
    if (r < 0)
        fprintf(stderr, "  build failed: %s\n", e.message);
    return r;
}

/* ------------------------------------------------------------------------------------------ */

static void test_merge_groups(void)
{
    static const struct spec specs[] = {
        { "aaaaaaaaaaa1", "alice", NULL, NULL, "admin", "o1", "member", false },
        { "aaaaaaaaaaa2", "bob", NULL, NULL, "admin dev", NULL, NULL, false },
        { "aaaaaaaaaaa3", "carol", NULL, NULL, "dev", "o1", "member admin", true },
    };
    struct users u;
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
    bool keep[3] = { 0 };

    setup();
    u = make(specs, ELEMENTSOF(specs));
    CHECK_INT(build(&u, &dir, keep, rep), 0);
    CHECK_INT(dir->n_users, 3);
    CHECK_INT(rep->n_skipped, 0);
    CHECK_INT(rep->n_collisions, 0);
    CHECK_INT(rep->n_groups_skipped, 0);
    CHECK(keep[0] && keep[1] && keep[2]);
    /* one group per role / org / org role, with every holder */
    CHECK_STR(members(dir, "admin"), "alice bob");
    CHECK_STR(members(dir, "dev"), "bob carol");
    CHECK_STR(members(dir, "org-o1"), "alice carol");
    CHECK_STR(members(dir, "orgrole-o1-member"), "alice carol");
    CHECK_STR(members(dir, "orgrole-o1-admin"), "carol");
    /* private groups: no members, GID = UID */
    CHECK_STR(members(dir, "alice"), "");
    CHECK(group_named(dir, "alice") && user_named(dir, "alice") &&
          group_named(dir, "alice")->gid == user_named(dir, "alice")->gid);
    CHECK_INT(dir->n_groups, 3 + 5);
    /* suspended users stay, flagged */
    CHECK(user_named(dir, "carol") && (user_named(dir, "carol")->flags & LOGTO_USER_SUSPENDED));
    CHECK(user_named(dir, "bob") && !(user_named(dir, "bob")->flags & LOGTO_USER_SUSPENDED));
    CHECK(logto_directory_validate(dir, NULL) == 0);
    users_free(&u);
}

static void test_collisions(void)
{
    static const struct spec specs[] = {
        { "bbbbbbbbbbb1", "uida", NULL, "{\"uidNumber\":70001}", "admin", NULL, NULL, false },
        { "bbbbbbbbbbb2", "keeper", NULL, NULL, "admin", NULL, NULL, false },
        { "bbbbbbbbbbb3", "uidb", NULL, "{\"uidNumber\":70001}", NULL, NULL, NULL, false },
        /* same name: an e-mail local part and a username: the username owns it (owners.h) */
        { "bbbbbbbbbbb4", NULL, "twin@example.com", NULL, NULL, NULL, NULL, false },
        { "bbbbbbbbbbb5", "twin", NULL, NULL, NULL, NULL, NULL, false },
        /* same primary GID, different UIDs */
        { "bbbbbbbbbbb6", "gida", NULL, "{\"uidNumber\":71001,\"gidNumber\":80000}", NULL, NULL,
          NULL, false },
        { "bbbbbbbbbbb7", "gidb", NULL, "{\"uidNumber\":71002,\"gidNumber\":80000}", NULL, NULL,
          NULL, false },
        /* an explicit UID nobody else has */
        { "bbbbbbbbbbb8", "other", NULL, "{\"uidNumber\":72001}", NULL, NULL, NULL, false },
    };
    struct spec reversed[ELEMENTSOF(specs)];
    const char *refused[] = { "bbbbbbbbbbb1", "bbbbbbbbbbb3", "bbbbbbbbbbb6", "bbbbbbbbbbb7" };

    for (int pass = 0; pass < 2; pass++) {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        struct users u;

        setup();
        /* the input order must not matter: nobody keeps a name by arriving first */
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
            reversed[i] = specs[ELEMENTSOF(specs) - 1 - i];
        u = make(pass ? reversed : specs, ELEMENTSOF(specs));
        CHECK_INT(build(&u, &dir, NULL, rep), 0);
        CHECK_INT(dir->n_users, 3);
        CHECK(user_named(dir, "keeper") != NULL);
        CHECK(user_named(dir, "other") != NULL);
        CHECK(user_named(dir, "twin") && strcmp(user_named(dir, "twin")->sub, "bbbbbbbbbbb5") == 0);
        CHECK(skip_of(rep, "bbbbbbbbbbb4") &&
              skip_of(rep, "bbbbbbbbbbb4")->kind == LOGTO_SYNC_SKIP_NAME);
        CHECK(skip_of(rep, "bbbbbbbbbbb4") &&
              strstr(skip_of(rep, "bbbbbbbbbbb4")->reason,
                     "the name twin belongs to twin (sub bbbbbbbbbbb5), whose user name is "
                     "identical to it"));
        /* uida/uidb share UID and (private) GID: two pairs */
        CHECK_INT(rep->n_collisions, 3);
        CHECK_INT(rep->n_skipped, 5);
        /* the UID in collision is in the blocked list, with both users */
        CHECK(rep->blocked && rep->blocked->n_uids == 1 && rep->blocked->n_names == 0);
        if (rep->blocked && rep->blocked->n_uids == 1) {
            CHECK_INT(rep->blocked->uids[0].uid, 70001);
            CHECK_INT(rep->blocked->uids[0].n_claimants, 2);
        }
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
            const struct logto_sync_skip *s = skip_of(rep, refused[i]);
            CHECK(s != NULL);
            if (s)
                CHECK_INT(s->kind, LOGTO_SYNC_SKIP_COLLISION);
        }
        CHECK(skip_of(rep, "bbbbbbbbbbb1") &&
              strstr(skip_of(rep, "bbbbbbbbbbb1")->reason, "uid 70001 with uidb"));
        CHECK(skip_of(rep, "bbbbbbbbbbb3") &&
              strstr(skip_of(rep, "bbbbbbbbbbb3")->reason, "uid 70001 with uida"));
        CHECK(skip_of(rep, "bbbbbbbbbbb6") &&
              strstr(skip_of(rep, "bbbbbbbbbbb6")->reason, "gid 80000"));
        for (size_t i = 0; i < rep->n_collisions; i++) {
            const struct logto_sync_collision *c = &rep->collisions[i];
            if (c->kind == LOGTO_COLLISION_UID)
                CHECK_STR(c->value, "70001");
            else
                CHECK(c->kind == LOGTO_COLLISION_GID &&
                      (strcmp(c->value, "80000") == 0 || strcmp(c->value, "70001") == 0));
        }
        /* the refused user's role membership is gone too */
        CHECK_STR(members(dir, "admin"), "keeper");
        CHECK(strstr(logbuf, "sync-collision kind=uid value=70001") != NULL);
        users_free(&u);
    }
}

/* Names: the identical username keeps the name; otherwise nobody has it, and it is blocked. */
static void test_name_owners(void)
{
    static const struct spec specs[] = {
        { "nnnnnnnnnnn1", "alice", NULL, NULL, "admin", NULL, NULL, false },
        { "nnnnnnnnnnn2", "Alice", NULL, NULL, "admin", NULL, NULL, false },
        { "nnnnnnnnnnn3", NULL, "alice@example.com", NULL, NULL, NULL, NULL, false },
        { "nnnnnnnnnnn4", "Bob", NULL, NULL, NULL, NULL, NULL, false },
        { "nnnnnnnnnnn5", "BOB", NULL, NULL, NULL, NULL, NULL, false },
        { "nnnnnnnnnnn6", NULL, "carl@example.com", NULL, NULL, NULL, NULL, false },
        { "nnnnnnnnnnn7", NULL, "Carl@Example.ORG", NULL, NULL, NULL, NULL, false },
        { "nnnnnnnnnnn8", "Dora", NULL, NULL, NULL, NULL, NULL, false }, /* sole: owns dora */
        { "nnnnnnnnnnn9", NULL, "eve@elsewhere.example", NULL, NULL, NULL, NULL, false },
    };
    struct spec reversed[ELEMENTSOF(specs)];

    for (int pass = 0; pass < 2; pass++) {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        _cleanup_(logto_blocked_freep) struct logto_blocked *read = NULL;
        struct logto_error e = { 0 };
        struct users u;

        setup();
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
            reversed[i] = specs[ELEMENTSOF(specs) - 1 - i];
        u = make(pass ? reversed : specs, ELEMENTSOF(specs));
        CHECK_INT(build(&u, &dir, NULL, rep), 0);
        CHECK_INT(dir->n_users, 2);
        CHECK(user_named(dir, "alice") &&
              strcmp(user_named(dir, "alice")->sub, "nnnnnnnnnnn1") == 0);
        CHECK(user_named(dir, "dora") != NULL);
        CHECK(!user_named(dir, "bob") && !user_named(dir, "carl"));
        CHECK_STR(members(dir, "admin"), "alice");
        for (int k = 2; k <= 7; k++) {
            char sub[16];
            snprintf(sub, sizeof(sub), "nnnnnnnnnnn%d", k);
            CHECK(skip_of(rep, sub) && skip_of(rep, sub)->kind == LOGTO_SYNC_SKIP_NAME);
        }
        CHECK(skip_of(rep, "nnnnnnnnnnn9") &&
              skip_of(rep, "nnnnnnnnnnn9")->kind == LOGTO_SYNC_SKIP_IDENTITY);
        CHECK(skip_of(rep, "nnnnnnnnnnn4") &&
              strstr(skip_of(rep, "nnnnnnnnnnn4")->reason, "the name bob is blocked: also "
                                                           "claimed by BOB (sub nnnnnnnnnnn5)"));
        CHECK_INT(rep->n_collisions, 0);
        /* blocked: bob and carl, with both claimants each; alice is owned, not blocked */
        CHECK(rep->blocked && rep->blocked->n_names == 2 && rep->blocked->n_uids == 0);
        CHECK(strstr(logbuf, "sync-name-blocked name=bob claimants=2") != NULL);
        CHECK(strstr(logbuf, "sync-name-yield name=alice sub=nnnnnnnnnnn2 owner_sub=nnnnnnnnnnn1"));

        /* The blocked file round trip (sorted by name; no e-mail address in it). */
        CHECK_INT(logto_blocked_write(&ctx, rep->blocked, &e), 0);
        CHECK_INT(logto_blocked_read(&ctx, &read, &e), 0);
        if (read && read->n_names == 2) {
            CHECK_STR(read->names[0].name, "bob");
            CHECK_STR(read->names[1].name, "carl");
            CHECK_INT(read->names[1].n_claimants, 2);
            CHECK_STR(read->names[1].claimants[0].claim, "field primaryEmail (local part)");
            CHECK(logto_blocked_find_name(read, "carl") != NULL);
            CHECK(logto_blocked_find_name(read, "alice") == NULL);
            _cleanup_free_ char *who = logto_blocked_claimants_text(&read->names[0]);
            CHECK(who && strstr(who, "bob (sub nnnnnnnnnnn4, field username 'Bob')"));
        } else
            CHECK(!"blocked file read back");
        users_free(&u);
    }
}

/* A tampered blocked file is refused, never half-used; a missing one blocks nothing. */
static void test_blocked_file(void)
{
    _cleanup_(logto_blocked_freep) struct logto_blocked *b = NULL;
    struct logto_error e = { 0 };
    char path[300];
    FILE *f;

    setup();
    snprintf(path, sizeof(path), "%s/%s", tmpdir, LOGTO_BLOCKED_FILE);
    unlink(path);
    CHECK_INT(logto_blocked_read(&ctx, &b, &e), 0);
    CHECK(b && b->n_names == 0 && b->n_uids == 0);
    logto_blocked_free(TAKE_PTR(b));
    f = fopen(path, "w");
    if (f) {
        fputs("{\"version\":1,\"written_at\":1,\"names\":[{\"name\":\"x\"}],\"uids\":[]}", f);
        fclose(f);
    }
    chmod(path, 0644);
    CHECK_INT(logto_blocked_read(&ctx, &b, &e), -LOGTO_E_CORRUPT);
    CHECK_CONTAINS(e.message, "blocked.json");
    chmod(path, 0666);
    CHECK(logto_blocked_read(&ctx, &b, &e) == -LOGTO_E_UNSAFE);
    unlink(path);
}

/* Logto's createdAt (ms) of the user named name. */
static void set_created(struct users *u, const char *name, int64_t created_at)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->v[i].id && strcmp(u->v[i].id->name, name) == 0)
            u->v[i].created_at = created_at;
}

/* Hashed UID collisions: the older account keeps the hash, the other takes the first free probe
 * value; the same whatever the input order; an explicit UID keeps its value. */
static void test_resolve_uids(void)
{
    char subs[64][16];
    int a = -1, b = -1, c = -1;
    uint32_t h[64];

    setup();
    cfg.id_min = 1879050000u;      /* above the fixture's local UID 1879048200 */
    cfg.id_max = 1879050000u + 15; /* 16 IDs: collisions are easy to find */
    for (int i = 0; i < 64; i++) {
        snprintf(subs[i], sizeof(subs[i]), "uuuuuuuu%04d", i);
        CHECK_INT(
            logto_identity_hash_id("logto-uid:", subs[i], cfg.id_min, cfg.id_max, &h[i], NULL), 0);
    }
    for (int i = 0; i < 64 && c < 0; i++)
        for (int j = i + 1; j < 64 && c < 0; j++)
            for (int k = j + 1; k < 64 && c < 0; k++)
                if (h[i] == h[j] && h[j] == h[k]) {
                    a = i;
                    b = j;
                    c = k;
                }
    CHECK(c >= 0);
    if (c < 0)
        return;
    /* a is the newest account, b the oldest; c has the same hash as an explicit UID */
    char custom_c[64];
    snprintf(custom_c, sizeof(custom_c), "{\"uidNumber\":%u}", h[a] + 0);
    const struct spec specs[] = {
        { subs[a], "newer", NULL, NULL, NULL, NULL, NULL, false },
        { subs[b], "older", NULL, NULL, NULL, NULL, NULL, false },
        { subs[c], "unknown", NULL, NULL, NULL, NULL, NULL, false },
    };
    struct spec reversed[ELEMENTSOF(specs)];
    uint32_t got[2][3];

    for (int pass = 0; pass < 2; pass++) {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        struct logto_error e = { 0 };
        struct users u;

        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
            reversed[i] = specs[ELEMENTSOF(specs) - 1 - i];
        u = make(pass ? reversed : specs, ELEMENTSOF(specs));
        set_created(&u, "newer", 1700000002000);
        set_created(&u, "older", 1700000001000); /* "unknown": createdAt missing */
        CHECK_INT(logto_sync_resolve_uids(&ctx, u.v, u.n, rep, &e), 2);
        CHECK_INT(rep->n_uid_moves, 2);
        CHECK_INT(build(&u, &dir, NULL, rep), 0);
        CHECK_INT(dir->n_users, 3);
        CHECK_INT(rep->n_collisions, 0);
        const struct logto_dir_user *o = user_named(dir, "older"), *n = user_named(dir, "newer"),
                                    *x = user_named(dir, "unknown");
        CHECK(o && n && x);
        if (!o || !n || !x)
            return;
        CHECK_INT(o->uid, h[b]); /* the oldest keeps the hash */
        CHECK(n->uid != h[a] && x->uid != h[a] && n->uid != x->uid);
        CHECK_INT(n->gid, n->uid); /* the private group follows */
        got[pass][0] = o->uid;
        got[pass][1] = n->uid;
        got[pass][2] = x->uid;
        for (size_t i = 0; i < rep->n_uid_moves; i++) {
            CHECK_STR(rep->uid_moves[i].keeper_name, "older");
            CHECK_INT(rep->uid_moves[i].hashed_uid, h[a]);
            CHECK(rep->uid_moves[i].probe >= 1);
        }
        /* "newer" (known createdAt) probes before "unknown" (counts as newest) */
        CHECK_STR(rep->uid_moves[0].name, "newer");
        CHECK(strstr(logbuf, "sync-uid-moved user=newer") != NULL);
        users_free(&u);
        logbuf[0] = '\0';
    }
    CHECK(memcmp(got[0], got[1], sizeof(got[0])) == 0);

    /* A UID sync persisted (in custom_data: the plain hash) keeps it against another user's
     * equal hash, however old that user: it is what every host already uses. */
    {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        struct logto_error e = { 0 };
        char persisted[64];
        snprintf(persisted, sizeof(persisted), "{\"uidNumber\":%u}", h[a]);
        const struct spec mixed[] = {
            { subs[b], "older", NULL, NULL, NULL, NULL, NULL, false },
            { subs[a], "persisted", NULL, persisted, NULL, NULL, NULL, false },
        };
        struct users u = make(mixed, ELEMENTSOF(mixed));
        set_created(&u, "older", 1);
        set_created(&u, "persisted", 9);
        CHECK_INT(logto_sync_resolve_uids(&ctx, u.v, u.n, rep, &e), 1);
        CHECK_INT(build(&u, &dir, NULL, rep), 0);
        CHECK(user_named(dir, "persisted") && user_named(dir, "persisted")->uid == h[a]);
        CHECK(user_named(dir, "older") && user_named(dir, "older")->uid != h[a]);
        users_free(&u);
    }

    /* A probe value never takes a plain hash: x's hash is y's first probe value, persisted by
     * an earlier move (or written there by y to take x's UID): x keeps it, y moves on. */
    {
        int x = -1, y = -1;
        uint32_t p1 = 0;
        for (int i = 0; i < 64 && x < 0; i++)
            for (int j = 0; j < 64 && x < 0; j++) {
                CHECK_INT(logto_identity_uid_of_sub(&cfg, subs[j], 1, &p1, NULL), 0);
                if (i != j && h[i] != h[j] && p1 == h[i]) {
                    x = i;
                    y = j;
                }
            }
        CHECK(x >= 0);
        if (x >= 0) {
            _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
            _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
            struct logto_error e = { 0 };
            char moved[64];
            snprintf(moved, sizeof(moved), "{\"uidNumber\":%u}", p1);
            const struct spec two[] = {
                { subs[x], "hashed", NULL, NULL, NULL, NULL, NULL, false },
                { subs[y], "probed", NULL, moved, NULL, NULL, NULL, false },
            };
            struct users u = make(two, ELEMENTSOF(two));
            set_created(&u, "hashed", 9); /* the newer account: age does not decide here */
            set_created(&u, "probed", 1);
            CHECK_INT(logto_sync_resolve_uids(&ctx, u.v, u.n, rep, &e), 1);
            CHECK_INT(build(&u, &dir, NULL, rep), 0);
            CHECK(user_named(dir, "hashed") && user_named(dir, "hashed")->uid == h[x]);
            CHECK(user_named(dir, "probed") && user_named(dir, "probed")->uid != h[x]);
            users_free(&u);
        }
    }

    /* A UID someone chose (not of their sub's sequence; the default range) that another user's
     * hash gives: the chooser is refused, the hashed user keeps it (issue 12, point 4). */
    {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        struct logto_error e = { 0 };
        uint32_t owner_uid = 0;
        char chosen[64];
        cfg.id_min = cfg.id_max = 0;
        CHECK_INT(logto_identity_uid_of_sub(&cfg, "ownerhash001", 0, &owner_uid, NULL), 0);
        CHECK(!logto_identity_uid_derived(&cfg, "chooser00001", owner_uid, NULL));
        snprintf(chosen, sizeof(chosen), "{\"uidNumber\":%u}", owner_uid);
        const struct spec two[] = {
            { "ownerhash001", "owner", NULL, NULL, NULL, NULL, NULL, false },
            { "chooser00001", "chooser", NULL, chosen, NULL, NULL, NULL, false },
        };
        struct users u = make(two, ELEMENTSOF(two));
        set_created(&u, "owner", 9);
        set_created(&u, "chooser", 1);
        CHECK_INT(logto_sync_resolve_uids(&ctx, u.v, u.n, rep, &e), 0);
        CHECK_INT(build(&u, &dir, NULL, rep), 0);
        CHECK(user_named(dir, "owner") && user_named(dir, "owner")->uid == owner_uid);
        CHECK(!user_named(dir, "chooser"));
        const struct logto_sync_skip *sk = skip_of(rep, "chooser00001");
        CHECK(sk && strstr(sk->reason, "owner"));
        users_free(&u);
        cfg.id_min = 1879050000u;
        cfg.id_max = 1879050000u + 15;
    }

    /* Not resolved (--no-persist-uids): both refused, the UID blocked. */
    {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        struct users u = make(specs, 2);
        CHECK_INT(build(&u, &dir, NULL, rep), 0);
        CHECK_INT(dir->n_users, 0);
        CHECK(rep->blocked && rep->blocked->n_uids == 1);
        if (rep->blocked && rep->blocked->n_uids == 1) {
            CHECK_INT(rep->blocked->uids[0].uid, h[a]);
            CHECK_CONTAINS(rep->blocked->uids[0].reason, "by the hash of their sub");
        }
        users_free(&u);
    }
}

static void test_local(void)
{
    static const struct spec specs[] = {
        { "ccccccccccc1", "localuser", NULL, NULL, NULL, NULL, NULL, false }, /* passwd name */
        { "ccccccccccc2", "uidclash", NULL, "{\"uidNumber\":1000}", NULL, NULL, NULL, false },
        { "ccccccccccc3", "devs", NULL, NULL, NULL, NULL, NULL, false }, /* group name */
        { "ccccccccccc4", "gidclash", NULL, "{\"uidNumber\":73001,\"gidNumber\":5000}", NULL, NULL,
          NULL, false },                                                         /* local GID */
        { "ccccccccccc5", "fine", NULL, NULL, "devs admin", NULL, NULL, false }, /* local group */
        { "ccccccccccc6", "alien", NULL, NULL, NULL, NULL, NULL, false },
    };
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
    const struct logto_sync_group_skip *gs;
    bool keep[ELEMENTSOF(specs)] = { 0 };
    struct users u;

    setup();
    u = make(specs, ELEMENTSOF(specs));
    CHECK_INT(build(&u, &dir, keep, rep), 0);
    CHECK_INT(dir->n_users, 1);
    CHECK(user_named(dir, "fine") != NULL);
    CHECK(keep[4] && !keep[0] && !keep[1] && !keep[2] && !keep[3] && !keep[5]);
    CHECK_INT(rep->n_skipped, 5);
    for (size_t i = 0; i < rep->n_skipped; i++)
        CHECK_INT(rep->skipped[i].kind, LOGTO_SYNC_SKIP_LOCAL);
    CHECK(skip_of(rep, "ccccccccccc1") &&
          strstr(skip_of(rep, "ccccccccccc1")->reason, "local passwd"));
    /* the local group "devs" wins: no Logto group of that name, reported once */
    CHECK(group_named(dir, "devs") == NULL);
    CHECK_STR(members(dir, "admin"), "fine");
    gs = group_skip_of(rep, LOGTO_GROUP_ROLE, "devs");
    CHECK(gs != NULL);
    if (gs) {
        CHECK_STR(gs->name, "devs");
        CHECK_INT(gs->members, 1);
        CHECK(strstr(gs->reason, "local group") != NULL);
    }
    /* summarised in the report, not logged once per user */
    CHECK(strstr(logbuf, "identity-skip-group") == NULL);
    users_free(&u);
}

static void test_group_clashes(void)
{
    static const struct spec specs[] = {
        /* role "org-o2" vs organization o2 (prefix org-): the organization keeps org-o2 */
        { "ddddddddddd1", "uone", NULL, NULL, "org-o2", NULL, NULL, false },
        { "ddddddddddd2", "utwo", NULL, NULL, NULL, "o2", NULL, false },
        /* a user named like a role (empty prefix): the role group keeps its name */
        { "ddddddddddd3", "uthree", NULL, NULL, "uthree admin", NULL, NULL, false },
        { "ddddddddddd4", "ufour", NULL, NULL, "uthree", NULL, NULL, false },
        /* a clash among one user's own groups: the role group goes for every holder */
        { "ddddddddddd5", "ufive", NULL, NULL, "org-o3", "o3", NULL, false },
        { "ddddddddddd6", "usix", NULL, NULL, "org-o3", NULL, NULL, false },
    };
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
    const struct logto_sync_group_skip *gs;
    struct users u;

    setup();
    u = make(specs, ELEMENTSOF(specs));
    CHECK_INT(build(&u, &dir, NULL, rep), 0);
    CHECK_INT(dir->n_users, 5);
    CHECK_INT(rep->n_skipped, 1);
    CHECK(group_named(dir, "org-o2") && group_named(dir, "org-o2")->kind == LOGTO_GROUP_ORG);
    CHECK_STR(members(dir, "org-o2"), "utwo");
    CHECK(group_skip_of(rep, LOGTO_GROUP_ROLE, "org-o2") != NULL);
    CHECK(group_skip_of(rep, LOGTO_GROUP_ORG, "o2") == NULL);
    /* uthree is refused (the user would have become the role's group); the role group stays
     * for its other holder */
    CHECK(user_named(dir, "uthree") == NULL);
    CHECK(skip_of(rep, "ddddddddddd3") &&
          strstr(skip_of(rep, "ddddddddddd3")->reason, "keeps its name and GID"));
    CHECK(group_named(dir, "uthree") && group_named(dir, "uthree")->kind == LOGTO_GROUP_ROLE);
    CHECK_STR(members(dir, "uthree"), "ufour");
    CHECK(group_skip_of(rep, LOGTO_GROUP_ROLE, "uthree") == NULL);
    CHECK_STR(members(dir, "admin"), "(none)");
    /* org-o3: ufive's own role and organization clash: the organization's group stays (ufive),
     * the role's goes, for usix too */
    CHECK(group_named(dir, "org-o3") && group_named(dir, "org-o3")->kind == LOGTO_GROUP_ORG);
    CHECK_STR(members(dir, "org-o3"), "ufive");
    gs = group_skip_of(rep, LOGTO_GROUP_ROLE, "org-o3");
    CHECK(gs != NULL);
    if (gs)
        CHECK(strstr(gs->reason, "clashes with another group") != NULL);
    CHECK(logto_directory_validate(dir, NULL) == 0);
    users_free(&u);
}

/* IDs from custom_data never displace anything (issue 12.4): the chooser is refused, the role
 * group, the local group and the other user stay; in either input order. */
static void test_chosen_ids(void)
{
    char admin_gid[64], org_gid[64], victim_uid[64];
    uint32_t gid, ogid, vuid;
    struct logto_error e = { 0 };

    setup();
    CHECK_INT(logto_identity_hash_id("logto-gid:role:", "admin", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &gid, &e),
              0);
    CHECK_INT(logto_identity_hash_id("logto-gid:org:", "o9", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &ogid, &e),
              0);
    CHECK_INT(logto_identity_hash_id("logto-uid:", "fffffffffff4", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &vuid, &e),
              0);
    snprintf(admin_gid, sizeof(admin_gid), "{\"gidNumber\":%u}", gid);
    snprintf(org_gid, sizeof(org_gid), "{\"uidNumber\":%u}", ogid);
    snprintf(victim_uid, sizeof(victim_uid), "{\"uidNumber\":%u}", vuid);
    const struct spec specs[] = {
        { "fffffffffff1", "keeper", NULL, NULL, "admin", "o9", NULL, false },
        /* gidNumber = the admin role group's GID: the group would vanish for keeper */
        { "fffffffffff2", "mallory", NULL, admin_gid, NULL, NULL, NULL, false },
        /* uidNumber = the organization group's GID (the other ID space) */
        { "fffffffffff3", "oscar", NULL, org_gid, NULL, NULL, NULL, false },
        /* uidNumber = another user's hashed UID: only the chooser goes */
        { "fffffffffff4", "victim", NULL, NULL, NULL, NULL, NULL, false },
        { "fffffffffff5", "thief", NULL, victim_uid, NULL, NULL, NULL, false },
        /* uidNumber = the GID of the local group devs (not a local UID) */
        { "fffffffffff6", "trudy", NULL, "{\"uidNumber\":5000,\"gidNumber\":73005}", NULL, NULL,
          NULL, false },
    };
    struct spec reversed[ELEMENTSOF(specs)];
    for (size_t i = 0; i < ELEMENTSOF(specs); i++)
        reversed[i] = specs[ELEMENTSOF(specs) - 1 - i];

    for (int pass = 0; pass < 2; pass++) {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        const struct logto_sync_skip *sk;
        struct users u;

        setup();
        u = make(pass ? reversed : specs, ELEMENTSOF(specs));
        CHECK_INT(build(&u, &dir, NULL, rep), 0);
        CHECK_INT(dir->n_users, 2);
        CHECK(user_named(dir, "keeper") && user_named(dir, "victim"));
        CHECK(user_named(dir, "victim") && user_named(dir, "victim")->uid == vuid);
        CHECK_STR(members(dir, "admin"), "keeper");
        CHECK(group_named(dir, "admin") && group_named(dir, "admin")->gid == gid);
        CHECK_STR(members(dir, "org-o9"), "keeper");
        CHECK_INT(rep->n_collisions, 0);
        CHECK_INT(rep->n_skipped, 4);
        sk = skip_of(rep, "fffffffffff2");
        CHECK(sk && sk->kind == LOGTO_SYNC_SKIP_COLLISION);
        CHECK(sk && strstr(sk->reason, "from custom_data is the GID of role group admin"));
        sk = skip_of(rep, "fffffffffff3");
        CHECK(sk && strstr(sk->reason, "from custom_data is the GID of org group org-o9"));
        sk = skip_of(rep, "fffffffffff5");
        CHECK(sk && strstr(sk->reason, "from custom_data is in use by victim"));
        sk = skip_of(rep, "fffffffffff6");
        CHECK(sk && sk->kind == LOGTO_SYNC_SKIP_LOCAL);
        CHECK(sk && strstr(sk->reason, "is the GID of a local group"));
        CHECK(strstr(logbuf, "sync-skip-chosen-id user=mallory sub=fffffffffff2") != NULL);
        CHECK(logto_directory_validate(dir, NULL) == 0);
        users_free(&u);
    }
}

/* Every allocation of a build may fail (tests/fuzz/failmalloc.c fails the n-th one, for every n):
 * the build then says out of memory, or copes, and never crashes (nor leaks, under valgrind). */
static void test_allocation_failures(void)
{
    const struct spec specs[] = {
        { "fffffffffff1", "keeper", NULL, NULL, "admin", "o9", "member", false },
        { "fffffffffff2", "chooser", NULL, "{\"uidNumber\":70001,\"gidNumber\":70002}", "admin",
          NULL, NULL, false },
    };
    unsigned long n;

    setup();
    for (n = 1;; n++) {
        _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
        _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
        struct logto_error e = { 0 };
        struct users u = make(specs, ELEMENTSOF(specs));
        int r;

        fuzz_failmalloc_fail_nth(n);
        r = logto_sync_build(&ctx, u.v, u.n, &dir, NULL, rep, &e);
        fuzz_failmalloc_stop();
        users_free(&u);
        if (!fuzz_failmalloc_fired()) {
            CHECK_INT(r, 0); /* every allocation of the build has failed once */
            break;
        }
        CHECK(r == 0 || r == -LOGTO_E_NOMEM);
    }
    CHECK(n > 20);
}

static void test_unmapped(void)
{
    static const struct spec specs[] = {
        { "eeeeeeeeeee1", "bad:name", NULL, NULL, NULL, NULL, NULL, false },
        { "eeeeeeeeeee2", "good", NULL, "{\"uidNumber\":\"12x\"}", NULL, NULL, NULL, false },
        { "eeeeeeeeeee3", "fine2", NULL, NULL, NULL, NULL, NULL, false },
    };
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *rep = new_report();
    struct users u;

    setup();
    u = make(specs, ELEMENTSOF(specs));
    CHECK(u.v[0].id == NULL && u.v[1].id == NULL && u.v[2].id != NULL);
    CHECK_INT(build(&u, &dir, NULL, rep), 0);
    CHECK_INT(dir->n_users, 1);
    CHECK_INT(rep->n_skipped, 2);
    CHECK(skip_of(rep, "eeeeeeeeeee1") &&
          skip_of(rep, "eeeeeeeeeee1")->kind == LOGTO_SYNC_SKIP_IDENTITY);
    CHECK(skip_of(rep, "eeeeeeeeeee1") && skip_of(rep, "eeeeeeeeeee1")->name == NULL);
    users_free(&u);
}

static const struct logto_sync_change *change_of(const struct logto_sync_report *r,
                                                 enum logto_sync_change_kind kind, const char *name,
                                                 const char *group)
{
    for (size_t i = 0; i < r->n_changes; i++)
        if (r->changes[i].kind == kind && logto_streq(r->changes[i].name, name) &&
            logto_streq(r->changes[i].group, group))
            return &r->changes[i];
    return NULL;
}

static void test_diff(void)
{
    static const struct spec before[] = {
        { "fffffffffff1", "stay", NULL, NULL, "admin dev", NULL, NULL, false },
        { "fffffffffff2", "leave", NULL, NULL, "dev", NULL, NULL, false },
        { "fffffffffff3", "change", NULL, "{\"loginShell\":\"/bin/sh\"}", "old", NULL, NULL,
          false },
    };
    static const struct spec after[] = {
        { "fffffffffff1", "stay", NULL, NULL, "admin", NULL, NULL, false },
        { "fffffffffff3", "change", NULL, "{\"loginShell\":\"/usr/bin/zsh\"}", "dev", NULL, NULL,
          true },
        { "fffffffffff4", "arrive", NULL, NULL, "admin", NULL, NULL, false },
    };
    _cleanup_(logto_directory_freep) struct logto_directory *a = NULL, *b = NULL;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *ra = new_report();
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *rb = new_report();
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *d = new_report();
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *same = new_report();
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *fresh = new_report();
    const struct logto_sync_change *c;
    struct users ua, ub;

    setup();
    ua = make(before, ELEMENTSOF(before));
    ub = make(after, ELEMENTSOF(after));
    CHECK_INT(build(&ua, &a, NULL, ra), 0);
    CHECK_INT(build(&ub, &b, NULL, rb), 0);
    CHECK_INT(logto_sync_diff(a, b, d, NULL), 0);

    CHECK_INT(d->counts[LOGTO_SYNC_USER_ADDED], 1);
    CHECK_INT(d->counts[LOGTO_SYNC_USER_REMOVED], 1);
    CHECK_INT(d->counts[LOGTO_SYNC_USER_CHANGED], 1);
    CHECK(change_of(d, LOGTO_SYNC_USER_ADDED, "arrive", NULL) != NULL);
    CHECK(change_of(d, LOGTO_SYNC_USER_REMOVED, "leave", NULL) != NULL);
    c = change_of(d, LOGTO_SYNC_USER_CHANGED, "change", NULL);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->sub, "fffffffffff3");
        CHECK_INT(logto_strv_length(c->fields), 2);
        CHECK(logto_strv_contains(c->fields, "shell"));
        CHECK(logto_strv_contains(c->fields, "suspended"));
        CHECK_STR(c->detail, "shell /bin/sh->/usr/bin/zsh, suspended no->yes");
    }
    /* groups: leave's and arrive's private groups, role "old" gone */
    CHECK_INT(d->counts[LOGTO_SYNC_GROUP_ADDED], 1);
    CHECK_INT(d->counts[LOGTO_SYNC_GROUP_REMOVED], 2);
    CHECK(change_of(d, LOGTO_SYNC_GROUP_ADDED, "arrive", NULL) != NULL);
    CHECK(change_of(d, LOGTO_SYNC_GROUP_REMOVED, "leave", NULL) != NULL);
    CHECK(change_of(d, LOGTO_SYNC_GROUP_REMOVED, "old", NULL) != NULL);
    CHECK_INT(d->counts[LOGTO_SYNC_GROUP_CHANGED], 0);
    /* memberships: admin +arrive; dev -stay -leave +change; old -change */
    CHECK_INT(d->counts[LOGTO_SYNC_MEMBER_ADDED], 2);
    CHECK_INT(d->counts[LOGTO_SYNC_MEMBER_REMOVED], 3);
    CHECK(change_of(d, LOGTO_SYNC_MEMBER_ADDED, "arrive", "admin") != NULL);
    CHECK(change_of(d, LOGTO_SYNC_MEMBER_ADDED, "change", "dev") != NULL);
    CHECK(change_of(d, LOGTO_SYNC_MEMBER_REMOVED, "stay", "dev") != NULL);
    CHECK(change_of(d, LOGTO_SYNC_MEMBER_REMOVED, "leave", "dev") != NULL);
    CHECK(change_of(d, LOGTO_SYNC_MEMBER_REMOVED, "change", "old") != NULL);
    CHECK_INT(d->n_changes, 3 + 3 + 5);
    /* ordered: users, groups, memberships */
    CHECK(d->n_changes == 11 && d->changes[0].kind <= LOGTO_SYNC_USER_CHANGED &&
          d->changes[3].kind >= LOGTO_SYNC_GROUP_ADDED &&
          d->changes[10].kind >= LOGTO_SYNC_MEMBER_ADDED);

    /* nothing changed: no change; from nothing: everything added */
    CHECK_INT(logto_sync_diff(b, b, same, NULL), 0);
    CHECK_INT(same->n_changes, 0);
    CHECK_INT(logto_sync_diff(NULL, b, fresh, NULL), 0);
    CHECK_INT(fresh->counts[LOGTO_SYNC_USER_ADDED], 3);
    CHECK_INT(fresh->counts[LOGTO_SYNC_GROUP_ADDED], b->n_groups);
    CHECK_INT(fresh->counts[LOGTO_SYNC_MEMBER_ADDED], 3);
    users_free(&ua);
    users_free(&ub);
}

/* ------------------------------------------------------------------------------------------ */
/* SSH keys */

static void b64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* A key body: the SSH string `type`, then `extra` bytes of key material. */
static void key_body(const char *type, size_t extra, char *out)
{
    uint8_t blob[600];
    size_t tl = strlen(type), n = 0;
    blob[n++] = 0;
    blob[n++] = 0;
    blob[n++] = (uint8_t)(tl >> 8);
    blob[n++] = (uint8_t)tl;
    memcpy(blob + n, type, tl);
    n += tl;
    for (size_t i = 0; i < extra; i++)
        blob[n++] = (uint8_t)(i * 7 + 1);
    b64(blob, n, out);
}

static void test_ssh_key_check(void)
{
    char ed[1024], rsa[1024], ecdsa[1024], sk[1024], line[2048];
    char *norm = NULL;
    const char *why = NULL;

    key_body("ssh-ed25519", 36, ed);
    key_body("ssh-rsa", 300, rsa);
    key_body("ecdsa-sha2-nistp256", 80, ecdsa);
    key_body("sk-ssh-ed25519@openssh.com", 60, sk);

    snprintf(line, sizeof(line), "ssh-ed25519 %s alice@laptop", ed);
    CHECK_INT(logto_sync_ssh_key_check(line, &norm, &why), 0);
    CHECK_STR(norm, line);
    free(norm);
    /* surrounding and repeated spaces are normalised; no comment is fine */
    snprintf(line, sizeof(line), "  ssh-rsa   %s   my key  ", rsa);
    CHECK_INT(logto_sync_ssh_key_check(line, &norm, &why), 0);
    CHECK(norm && strncmp(norm, "ssh-rsa ", 8) == 0 && strstr(norm, " my key") &&
          norm[strlen(norm) - 1] == 'y');
    free(norm);
    snprintf(line, sizeof(line), "ecdsa-sha2-nistp256 %s", ecdsa);
    CHECK_INT(logto_sync_ssh_key_check(line, &norm, &why), 0);
    CHECK_STR(norm, line);
    free(norm);
    snprintf(line, sizeof(line), "sk-ssh-ed25519@openssh.com %s yubikey", sk);
    CHECK_INT(logto_sync_ssh_key_check(line, &norm, &why), 0);
    free(norm);
    /* erin's key from the IdP fixtures */
    CHECK_INT(
        logto_sync_ssh_key_check("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJ1W8tZf0Q4xZ2m1kq8m6J0"
                                 "a4yZrJ0b6Hq9v2nK3pLd erin@laptop",
                                 &norm, &why),
        0);
    free(norm);

    struct {
        const char *fmt, *body, *why;
    } bad[] = {
        { "command=\"/bin/sh\" ssh-ed25519 %s", ed, "options" },
        { "no-pty ssh-ed25519 %s", ed, "options" },
        { "ssh-dss %s", ed, "unknown key type" },
        { "ssh-ed25519-cert-v01@openssh.com %s", ed, "unknown key type" },
        { "ssh-ed25519", "", "no key data" },
        { "ssh-ed25519 %s", rsa, "does not match" },
        { "ssh-rsa %s", ed, "does not match" },
        { "ssh-ed25519 %s!", ed, "base64" },
        { "ssh-ed25519 AAAA%s", ed, "does not match" },
        { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5%s", "", "does not match" }, /* the type, no key */
        { "ssh-ed25519 QQ=%s", "", "base64" },
        { "ssh-ed25519 QR==%s", "", "base64" }, /* non-canonical padding bits */
        { "ssh-ed25519 %s\nssh-ed25519 x", ed, "control" },
        { "ssh-ed25519 %s\tcomment", ed, "control" },
        { "ssh-ed25519 %s com\033[2Jment", ed, "control" },
        { "%s", "", "empty" },
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        snprintf(line, sizeof(line), bad[i].fmt, bad[i].body);
        norm = NULL;
        why = NULL;
        CHECK_INT(logto_sync_ssh_key_check(line, &norm, &why), -LOGTO_E_INVAL);
        CHECK(norm == NULL);
        CHECK_CONTAINS(why, bad[i].why);
    }
    /* too long */
    {
        char *big = malloc(LOGTO_IDENTITY_MAX_SSH_KEY + 64);
        snprintf(big, LOGTO_IDENTITY_MAX_SSH_KEY + 64, "ssh-ed25519 %s ", ed);
        memset(big + strlen(big), 'c', LOGTO_IDENTITY_MAX_SSH_KEY + 63 - strlen(big));
        big[LOGTO_IDENTITY_MAX_SSH_KEY + 10] = '\0';
        CHECK_INT(logto_sync_ssh_key_check(big, &norm, &why), -LOGTO_E_INVAL);
        CHECK_CONTAINS(why, "too long");
        free(big);
    }
}

static void test_ssh_keys_cache(void)
{
    char ed[1024], rsa[1024], good1[1200], good2[1200], custom[8192];
    _cleanup_strv_ char **keys = NULL, **loaded = NULL, **none = NULL;
    struct logto_error e = { 0 };
    struct logto_identity *id;
    size_t skipped = 0;
    struct stat st;
    char path[512];

    setup();
    key_body("ssh-ed25519", 36, ed);
    key_body("ssh-rsa", 200, rsa);
    snprintf(good1, sizeof(good1), "ssh-ed25519 %s one", ed);
    snprintf(good2, sizeof(good2), "ssh-rsa %s two", rsa);
    snprintf(
        custom, sizeof(custom),
        "{\"sshPublicKeys\":[\"%s\",\"from=\\\"*\\\" %s\",\"ssh-ed25519 AAAA\",\"%s\",\"%s\"]}",
        good1, good2, good2, good1);
    {
        struct spec s = { "ggggggggggg1", "keyuser", NULL, custom, NULL, NULL, NULL, false };
        id = map(&s);
    }
    CHECK(id != NULL);
    if (!id)
        return;
    CHECK_INT(logto_sync_ssh_keys(&ctx, id, &keys, &skipped, &e), 0);
    CHECK_INT(logto_strv_length(keys), 2); /* two valid, one duplicate dropped */
    CHECK_INT(skipped, 2);
    CHECK(strstr(logbuf, "keys-skip user=keyuser") != NULL);

    CHECK_INT(logto_sync_keys_store(&ctx, "keyuser", id->sub, keys, &e), 1);
    CHECK_INT(logto_sync_keys_store(&ctx, "keyuser", id->sub, keys, &e), 0); /* unchanged */
    snprintf(path, sizeof(path), "%s/%s", tmpdir, LOGTO_KEYS_SUBDIR);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0700);
    snprintf(path, sizeof(path), "%s/%s/keyuser", tmpdir, LOGTO_KEYS_SUBDIR);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK_INT(logto_sync_keys_load(&ctx, "keyuser", id->sub, &loaded, &e), 0);
    CHECK_INT(logto_strv_length(loaded), 2);
    CHECK(loaded && logto_strv_contains(loaded, good1) && logto_strv_contains(loaded, good2));
    /* bound to the sub: another Logto user with that name gets nothing */
    CHECK_INT(logto_sync_keys_load(&ctx, "keyuser", "someoneelse1", &none, &e), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_sync_keys_load(&ctx, "nobodyhere", id->sub, &none, &e), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_sync_keys_load(&ctx, "../keys", id->sub, &none, &e), -LOGTO_E_NOTFOUND);
    /* no keys: the file goes */
    CHECK_INT(logto_sync_keys_store(&ctx, "keyuser", id->sub, NULL, &e), 1);
    CHECK_INT(logto_sync_keys_load(&ctx, "keyuser", id->sub, &none, &e), -LOGTO_E_NOTFOUND);
    CHECK_INT(logto_sync_keys_store(&ctx, "keyuser", id->sub, NULL, &e), 0);
    logto_identity_free(id);
}

/* relay.claims (relayclaims.h): written sorted by name whatever the order of the users, every
 * kept user found by the binary search and nobody else (names before the first, after the last,
 * between two, a prefix, a user not kept); the identifier: the username, else the e-mail. */
static void test_relay_claims(void)
{
    static const char *names[] = { "mallory", "alice", "zed", "bob", "carol_x", "carol", "dave" };
    enum { N = sizeof(names) / sizeof(names[0]) };
    struct logto_sync_user users[N] = { 0 };
    bool keep[N];
    char subs[N][16];
    struct logto_relay_stamp stamp = { .serial = 7, .not_after = 0 }, got;
    struct logto_error e = { 0 };
    char path[512], head[256];
    FILE *f;

    setup();
    stamp.generated_at = (int64_t)time(NULL);
    stamp.not_after = stamp.generated_at + 3600;
    memset(stamp.sha256, 'a', 64);
    for (size_t i = 0; i < N; i++) {
        struct logto_identity *id = calloc(1, sizeof(*id));
        CHECK(id != NULL);
        if (!id)
            return;
        snprintf(subs[i], sizeof(subs[i]), "sub%zu", i);
        id->name = strdup(names[i]);
        id->sub = strdup(subs[i]);
        id->uid = id->gid = (uint32_t)(50000 + i);
        users[i] = (struct logto_sync_user){ .id = id, .sub = subs[i] };
        keep[i] = strcmp(names[i], "mallory") != 0;
    }
    users[1].username = "Alice";              /* alice: the stored username */
    users[3].login_email = "bob@example.com"; /* bob: no username */
    CHECK_INT(logto_relay_claims_write(&ctx, &stamp, users, N, keep, &e), 0);

    for (size_t i = 0; i < N; i++) {
        struct logto_identity *id = NULL;
        struct logto_relay_login login = { 0 };
        int r = logto_relay_claims_find(&ctx, names[i], &id, &got, &login, &e);
        CHECK_INT(r, keep[i] ? 0 : -LOGTO_E_NOTFOUND);
        if (r == 0) {
            CHECK_STR(id->sub, subs[i]);
            CHECK_INT(id->uid, 50000 + i);
            CHECK_INT(got.serial, 7);
        }
        if (i == 1)
            CHECK(login.value && strcmp(login.type, "username") == 0 &&
                  strcmp(login.value, "Alice") == 0);
        else if (i == 3)
            CHECK(login.value && strcmp(login.type, "email") == 0 &&
                  strcmp(login.value, "bob@example.com") == 0);
        else
            CHECK(login.value == NULL);
        free(login.value);
        logto_identity_free(id);
    }
    {
        static const char *absent[] = { "aaron", "zzz", "caro", "carol_", "carolx", "d", "e" };
        for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
            struct logto_identity *id = NULL;
            CHECK_INT(logto_relay_claims_find(&ctx, absent[i], &id, &got, NULL, &e),
                      -LOGTO_E_NOTFOUND);
            CHECK(id == NULL);
        }
    }
    /* A restamp keeps the users; a damaged file is refused, never read past its end. */
    stamp.serial = 8;
    CHECK_INT(logto_relay_claims_restamp(&ctx, &stamp, &e), 0);
    {
        struct logto_identity *id = NULL;
        CHECK_INT(logto_relay_claims_find(&ctx, "zed", &id, &got, NULL, &e), 0);
        CHECK_INT(got.serial, 8);
        logto_identity_free(id);
    }
    snprintf(path, sizeof(path), "%s/%s", tmpdir, LOGTO_RELAY_CLAIMS);
    snprintf(head, sizeof(head),
             "# logto-relay-claims v1 {\"generated_at\":%lld,\"not_after\":%lld,\"serial\":9,"
             "\"sha256\":\"%s\"}\n",
             (long long)stamp.generated_at, (long long)stamp.not_after, stamp.sha256);
    {
        /* Damaged stamps; then a valid stamp over damaged user lines: a line without a name,
         * an entry that is not JSON, an entry without its fields. */
        const char *damaged[][2] = { { "", "" },
                                     { "# logto-relay-claims v1 ", "" },
                                     { "# logto-relay-claims v1 {", "" },
                                     { "# logto-relay-claims v1 {}\n", "alice\t{}\n" },
                                     { head, "alice{}\n" },
                                     { head, "alice\tnot json\n" },
                                     { head, "alice\t{\"sub\":1}" } };
        for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
            struct logto_identity *id = NULL;
            unlink(path);
            f = fopen(path, "w");
            CHECK(f != NULL);
            if (!f)
                return;
            fprintf(f, "%s%s", damaged[i][0], damaged[i][1]);
            fclose(f);
            chmod(path, 0600);
            CHECK_INT(logto_relay_claims_find(&ctx, "alice", &id, &got, NULL, &e),
                      -LOGTO_E_CORRUPT);
            CHECK(id == NULL);
        }
    }
    for (size_t i = 0; i < N; i++)
        logto_identity_free(users[i].id);
    unlink(path);
}

TEST_MAIN(TEST(test_merge_groups), TEST(test_collisions), TEST(test_name_owners),
          TEST(test_blocked_file), TEST(test_resolve_uids), TEST(test_local),
          TEST(test_group_clashes), TEST(test_chosen_ids), TEST(test_allocation_failures),
          TEST(test_unmapped), TEST(test_diff), TEST(test_ssh_key_check), TEST(test_ssh_keys_cache),
          TEST(test_relay_claims))
