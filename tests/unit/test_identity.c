/* SPDX-License-Identifier: MIT */
/* Identity mapping: hostile claims, IDs, local collisions, derived groups, sync collisions. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "directory.h"
#include "identity.h"
#include "localdb.h"
#include "owners.h"
#include "memory.h"
#include "names.h"
#include "util.h"

#include "../lib/check.h"

/* Configuration and model structs hold char *; tests fill them from literals. */
#define S(lit) ((char *)(uintptr_t)(lit))

/* A strv that lives until exit (configuration lists point at it). */
static struct {
    const char *text;
    char **v;
} kept[16];
static size_t n_kept;
static char **keep(const char *text)
{
    for (size_t i = 0; i < n_kept; i++)
        if (strcmp(kept[i].text, text) == 0)
            return kept[i].v;
    if (n_kept == ELEMENTSOF(kept))
        abort();
    kept[n_kept].text = text;
    return kept[n_kept++].v = logto_strv_split(text, false);
}

/* ------------------------------------------------------------------------------------------ */
/* Environment: fixture account files copied into a private temporary directory (the checked
 * file layer refuses files in a directory that root does not own, like a user's checkout). */

static char tmpdir[] = "/tmp/test-identity-XXXXXX";
static char passwd_path[256], group_path[256], shells_path[256], master_path[256];
static char logbuf[65536];
static struct logto_config cfg;
static struct logto_ctx ctx;

static void capture_log(void *userdata, int priority, const char *line)
{
    size_t used = strlen(logbuf);
    (void)userdata;
    (void)priority;
    snprintf(logbuf + used, sizeof(logbuf) - used, "%s\n", line);
}

static size_t log_count(const char *needle)
{
    size_t n = 0;
    for (const char *p = logbuf; (p = strstr(p, needle)); p++)
        n++;
    return n;
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
    for (size_t i = 0; i < n_kept; i++)
        logto_strv_free(kept[i].v);
    unlink(passwd_path);
    unlink(group_path);
    unlink(shells_path);
    for (size_t i = 0; i < 2; i++) {
        snprintf(master_path, sizeof(master_path), "%s/%s", tmpdir,
                 i ? "group.master" : "passwd.master");
        unlink(master_path);
    }
    rmdir(tmpdir);
}

static void reset_config(void)
{
    cfg = (struct logto_config){ 0 };
    cfg.profile = LOGTO_PROFILE_LOGTO;
    cfg.name_claims = keep("username email");
    cfg.uid_key = S("uidNumber");
    cfg.gid_key = S("gidNumber");
    cfg.shell_key = S("loginShell");
    cfg.ssh_keys_key = S("sshKeys");
    cfg.home_pattern = S("/home/%u");
    cfg.default_shell = S("/bin/bash");
    cfg.role_group_prefix = S("logto-");
    cfg.org_group_prefix = S("org-");
    cfg.org_role_group_prefix = S("orgrole-");
    cfg.groups_from_roles = cfg.groups_from_orgs = cfg.groups_from_org_roles = true;
    ctx = (struct logto_ctx){ .cfg = &cfg,
                              .log = { .fn = capture_log },
                              .passwd_path = passwd_path,
                              .group_path = group_path,
                              .shells_path = shells_path,
                              .base_passwd_dir = tmpdir };
    logbuf[0] = '\0';
}

static void setup(void)
{
    static bool done;
    if (!done) {
        if (!mkdtemp(tmpdir))
            SKIP("mkdtemp failed");
        atexit(cleanup);
        copy_fixture("passwd", passwd_path, sizeof(passwd_path));
        copy_fixture("group", group_path, sizeof(group_path));
        copy_fixture("shells", shells_path, sizeof(shells_path));
        copy_fixture("passwd.master", master_path, sizeof(master_path));
        copy_fixture("group.master", master_path, sizeof(master_path));
        done = true;
    }
    reset_config();
}

static int map_text(const char *text, struct logto_identity **ret, struct logto_error *err)
{
    json_error_t jerr;
    json_t *claims = json_loads(text, JSON_ALLOW_NUL, &jerr);
    int r;

    if (!claims) {
        fprintf(stderr, "bad test JSON: %s: %s\n", text, jerr.text);
        check_failures_++;
        return -1000;
    }
    r = logto_identity_from_claims(&ctx, claims, ret, err);
    json_decref(claims);
    return r;
}

/* ------------------------------------------------------------------------------------------ */

struct name_case {
    const char *claims;
    const char *name;   /* expected name, or NULL when refused */
    const char *detail; /* expected substring of the message (refusals) or of name_from */
};

static void test_names(void)
{
    static const struct name_case cases[] = {
        { "{\"sub\":\"abc123\",\"username\":\"alice\"}", "alice", "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"Grace_Hopper\"}", "grace_hopper", "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"abcdefghijklmnopqrstuvwxyz012345\"}",
          "abcdefghijklmnopqrstuvwxyz012345", "username" },
        { "{\"sub\":\"abc123\",\"username\":\"abcdefghijklmnopqrstuvwxyz0123456\"}", NULL,
          "longer than 32" },
        { "{\"sub\":\"abc123\",\"username\":\"a:b\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"a\\nb\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"a/b\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"../etc\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"..\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\".\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"\"}", NULL, "empty" },
        { "{\"sub\":\"abc123\",\"username\":\"9lives\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"-rf\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"a b\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"\xc3\xa9lodie\"}", NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":\"alice\\u0000:0:0\"}", NULL, "NUL" },
        { "{\"sub\":\"abc123\",\"username\":42}", NULL, "claim username is not a string" },
        { "{\"sub\":\"abc123\",\"username\":[\"alice\"]}", NULL, "claim username is not a string" },
        { "{\"sub\":\"abc123\",\"username\":{\"a\":1}}", NULL, "claim username is not a string" },
        { "{\"sub\":\"abc123\",\"username\":true}", NULL, "claim username is not a string" },
        { "{\"sub\":\"abc123\",\"username\":\"root\"}", NULL, "root" },
        { "{\"sub\":\"abc123\",\"username\":\"ROOT\"}", NULL, "root" },
        /* null username: next claim (Logto email-only users); e-mail names only when verified
         * and in a listed domain (test_names lists example.com, evil.example and x.io) */
        { "{\"sub\":\"abc123\",\"username\":null,\"email\":\"Bob.Smith@example.com\","
          "\"email_verified\":true}",
          "bob.smith", "claim email (local part)" },
        { "{\"sub\":\"abc123\",\"email\":\"bob@EXAMPLE.Com\",\"email_verified\":true}", "bob",
          "claim email" },
        { "{\"sub\":\"abc123\",\"email\":\"bob@example.com\"}", NULL,
          "claim email 'bob@example.com' is not used: it is not verified" },
        { "{\"sub\":\"abc123\",\"email\":\"bob@example.com\",\"email_verified\":null}", NULL,
          "not verified" },
        { "{\"sub\":\"abc123\",\"email\":\"alice@evil.example.net\",\"email_verified\":true}", NULL,
          "its domain is not listed in [identity] email_domains" },
        { "{\"sub\":\"abc123\",\"email\":\"alice@sub.example.com\",\"email_verified\":true}", NULL,
          "not listed" },
        { "{\"sub\":\"abc123\",\"email\":\"alice@example.com@evil.example.net\","
          "\"email_verified\":true}",
          NULL, "not listed" },
        /* a present but invalid claim never falls through */
        { "{\"sub\":\"abc123\",\"username\":\"bad:name\",\"email\":\"good@example.com\","
          "\"email_verified\":true}",
          NULL, "claim username" },
        { "{\"sub\":\"abc123\",\"username\":null,\"email\":\"bob@example.com\","
          "\"email_verified\":false}",
          NULL, "not verified" },
        { "{\"sub\":\"abc123\",\"email\":\"bob@example.com\",\"email_verified\":\"yes\"}", NULL,
          "email_verified is not a boolean" },
        { "{\"sub\":\"abc123\",\"email\":\"no-at-sign\",\"email_verified\":true}", NULL,
          "claim email" },
        { "{\"sub\":\"abc123\",\"email\":\"@example.com\",\"email_verified\":true}", NULL,
          "claim email" },
        { "{\"sub\":\"abc123\",\"email\":\"a+b@example.com\",\"email_verified\":true}", NULL,
          "claim email" },
        { "{\"sub\":\"abc123\",\"email\":\"root@evil.example\",\"email_verified\":true}", NULL,
          "root" },
        { "{\"sub\":\"abc123\",\"email\":\"abcdefghijklmnopqrstuvwxyz0123456@x.io\","
          "\"email_verified\":true}",
          NULL, "longer than 32" },
        { "{\"sub\":\"abc123\",\"email\":7}", NULL, "claim email is not a string" },
        { "{\"sub\":\"abc123\",\"username\":null}", NULL,
          "no acceptable user name: claim username is absent; claim email is absent" },
        { "{\"sub\":\"abc123\"}", NULL, "claim username is absent; claim email is absent" },
        /* sub */
        { "{\"username\":\"alice\"}", NULL, "claim sub is missing" },
        { "{\"sub\":123,\"username\":\"alice\"}", NULL, "claim sub is not a string" },
        { "{\"sub\":\"\",\"username\":\"alice\"}", NULL, "claim sub" },
        { "{\"sub\":\"a:b\",\"username\":\"alice\"}", NULL, "claim sub" },
        { "{\"sub\":\"a b\",\"username\":\"alice\"}", NULL, "claim sub" },
        { "{\"sub\":\"a\\nb\",\"username\":\"alice\"}", NULL, "claim sub" },
        { "[\"sub\",\"alice\"]", NULL, "not a JSON object" },
    };

    setup();
    cfg.email_domains = keep("example.com evil.example x.io");
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_error err = { 0 };
        int r = map_text(cases[i].claims, &id, &err);
        if (cases[i].name) {
            if (r != 0)
                fprintf(stderr, "case %zu: %s\n", i, err.message);
            CHECK_INT(r, 0);
            if (id) {
                CHECK_STR(id->name, cases[i].name);
                CHECK_CONTAINS(id->name_from, cases[i].detail);
            }
        } else {
            if (r != -LOGTO_E_IDENTITY)
                fprintf(stderr, "case %zu (%s) was not refused\n", i, cases[i].claims);
            CHECK_INT(r, -LOGTO_E_IDENTITY);
            CHECK(id == NULL);
            CHECK_CONTAINS(err.message, cases[i].detail);
            CHECK(!strchr(err.message, '\n'));
        }
    }
}

static void test_name_chain_config(void)
{
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };

    setup();
    cfg.name_claims = keep("preferred_username email");
    CHECK_INT(map_text("{\"sub\":\"s1\",\"username\":\"ignored\",\"preferred_username\":\"Carol\"}",
                       &id, &err),
              0);
    CHECK_STR(id ? id->name : NULL, "carol");
    CHECK_STR(id ? id->name_from : NULL, "claim preferred_username");

    /* The generic profile defaults to preferred_username and needs email_verified for email. */
    logto_identity_free(TAKE_PTR(id));
    cfg.name_claims = NULL;
    cfg.profile = LOGTO_PROFILE_GENERIC;
    CHECK_INT(map_text("{\"sub\":\"S-1\",\"preferred_username\":\"dave\"}", &id, &err), 0);
    CHECK_STR(id ? id->name : NULL, "dave");
    logto_identity_free(TAKE_PTR(id));
    cfg.name_claims = keep("email");
    CHECK_INT(map_text("{\"sub\":\"S-1\",\"email\":\"dave@example.com\",\"email_verified\":true}",
                       &id, &err),
              -LOGTO_E_IDENTITY);
    CHECK_CONTAINS(err.message, "[identity] email_domains is empty");
    cfg.email_domains = keep("example.com");
    CHECK_INT(map_text("{\"sub\":\"S-1\",\"email\":\"dave@example.com\"}", &id, &err),
              -LOGTO_E_IDENTITY);
    CHECK_CONTAINS(err.message, "not verified");
    CHECK_INT(map_text("{\"sub\":\"S-1\",\"email\":\"dave@example.com\",\"email_verified\":true}",
                       &id, &err),
              0);
    CHECK_STR(id ? id->name : NULL, "dave");
}

/* How each name was obtained, and the ownership rule of owners.h over those ranks. */
static void test_name_owner(void)
{
    static const struct {
        const char *claims;
        enum logto_name_rank rank;
    } ranks[] = {
        { "{\"sub\":\"s1\",\"username\":\"alice\"}", LOGTO_NAME_EXACT },
        { "{\"sub\":\"s2\",\"username\":\"Alice\"}", LOGTO_NAME_FOLDED },
        { "{\"sub\":\"s3\",\"username\":\"ALICE\"}", LOGTO_NAME_FOLDED },
        { "{\"sub\":\"s4\",\"email\":\"alice@example.com\",\"email_verified\":true}",
          LOGTO_NAME_EMAIL },
        { "{\"sub\":\"s5\",\"email\":\"Alice@Example.com\",\"email_verified\":true}",
          LOGTO_NAME_EMAIL },
    };
    struct logto_identity *ids[ELEMENTSOF(ranks)] = { NULL };
    struct logto_error err = { 0 };

    setup();
    cfg.email_domains = keep("example.com");
    for (size_t i = 0; i < ELEMENTSOF(ranks); i++) {
        CHECK_INT(map_text(ranks[i].claims, &ids[i], &err), 0);
        if (!ids[i])
            return;
        CHECK_STR(ids[i]->name, "alice");
        CHECK_INT(ids[i]->name_rank, ranks[i].rank);
    }
    CHECK_STR(ids[1]->name_claim, "Alice");
    _cleanup_free_ char *t1 = logto_owner_claim_text(ids[1]);
    _cleanup_free_ char *t4 = logto_owner_claim_text(ids[3]);
    CHECK_STR(t1, "claim username 'Alice'");
    CHECK_STR(t4, "claim email (local part)"); /* never the address */

    /* {members}, expected owner (index into members) or -1 */
    static const struct {
        int members[4];
        int owner;
    } rules[] = {
        { { 1, -1 }, 0 },      /* a sole claimant owns it, whatever the rank */
        { { 3, -1 }, 0 },      /* also an e-mail */
        { { 1, 0, -1 }, 1 },   /* the identical username beats Alice */
        { { 0, 1, 2, 3 }, 0 }, /* ... and everybody else */
        { { 1, 2, -1 }, -1 },  /* Alice and ALICE: blocked */
        { { 3, 4, -1 }, -1 },  /* two e-mails: blocked */
        { { 1, 3, -1 }, -1 },  /* folded and e-mail, nobody exact: blocked */
        { { 0, 0, -1 }, -1 },  /* two identical claims (generic providers): blocked */
    };
    for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
        const struct logto_identity *run[4];
        size_t n = 0;
        for (size_t k = 0; k < 4 && rules[i].members[k] >= 0; k++)
            run[n++] = ids[rules[i].members[k]];
        if (logto_owner_pick(run, n) != rules[i].owner)
            fprintf(stderr, "rule case %zu\n", i);
        CHECK_INT(logto_owner_pick(run, n), rules[i].owner);
        /* The order of the claimants does not matter. */
        const struct logto_identity *rev[4];
        for (size_t k = 0; k < n; k++)
            rev[k] = run[n - 1 - k];
        ssize_t o = logto_owner_pick(rev, n);
        CHECK_INT(o < 0 ? -1 : (int)(n - 1 - (size_t)o), rules[i].owner);
    }
    for (size_t i = 0; i < ELEMENTSOF(ranks); i++)
        logto_identity_free(ids[i]);
}

/* ------------------------------------------------------------------------------------------ */

struct uid_case {
    const char *custom; /* custom_data object text */
    int rc;
    uint32_t uid, gid; /* expected when rc == 0 (0: the hash of the sub) */
    const char *detail;
};

static void test_uids(void)
{
    static const struct uid_case cases[] = {
        { "{}", 0, 0, 0, "hash of sub" },
        { "{\"uidNumber\":null}", 0, 0, 0, "hash of sub" },
        { "{\"uidNumber\":10001}", 0, 10001, 10001, "custom_data.uidNumber" },
        { "{\"uidNumber\":\"10001\"}", 0, 10001, 10001, "custom_data.uidNumber" },
        { "{\"uidNumber\":10001,\"gidNumber\":20002}", 0, 10001, 20002, "custom_data.uidNumber" },
        { "{\"uidNumber\":2147352575}", 0, 2147352575u, 2147352575u, "uidNumber" },
        { "{\"uidNumber\":0}", -LOGTO_E_IDENTITY, 0, 0, "outside" },
        { "{\"uidNumber\":\"0\"}", -LOGTO_E_IDENTITY, 0, 0, "uidNumber" },
        { "{\"uidNumber\":999}", -LOGTO_E_IDENTITY, 0, 0, "reserved" },
        { "{\"uidNumber\":1}", -LOGTO_E_IDENTITY, 0, 0, "reserved" },
        { "{\"uidNumber\":65534}", -LOGTO_E_IDENTITY, 0, 0, "reserved" },
        { "{\"uidNumber\":60000}", -LOGTO_E_IDENTITY, 0, 0, "reserved" },
        { "{\"uidNumber\":61184}", -LOGTO_E_IDENTITY, 0, 0, "reserved" }, /* systemd dynamic */
        { "{\"uidNumber\":65519}", -LOGTO_E_IDENTITY, 0, 0, "reserved" },
        { "{\"uidNumber\":524288}", -LOGTO_E_IDENTITY, 0, 0, "reserved" }, /* nspawn */
        { "{\"uidNumber\":1879048191}", -LOGTO_E_IDENTITY, 0, 0, "reserved" },
        { "{\"uidNumber\":2147352576}", -LOGTO_E_IDENTITY, 0, 0, "reserved" }, /* foreign */
        { "{\"uidNumber\":2147483647}", 0, 2147483647u, 2147483647u, "uidNumber" },
        { "{\"uidNumber\":2147483648}", -LOGTO_E_IDENTITY, 0, 0, "outside" },
        { "{\"uidNumber\":4294967295}", -LOGTO_E_IDENTITY, 0, 0, "outside" },
        { "{\"uidNumber\":4294967296}", -LOGTO_E_IDENTITY, 0, 0, "outside" },
        { "{\"uidNumber\":5000000000}", -LOGTO_E_IDENTITY, 0, 0, "outside" },
        { "{\"uidNumber\":-1}", -LOGTO_E_IDENTITY, 0, 0, "outside" },
        { "{\"uidNumber\":\"-1\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\"4294967296\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\"99999999999999999999\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\"abc\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\"\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\"010001\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\"+10001\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\" 10001\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":\"0x2711\"}", -LOGTO_E_IDENTITY, 0, 0, "decimal" },
        { "{\"uidNumber\":10001.0}", -LOGTO_E_IDENTITY, 0, 0, "neither an integer" },
        { "{\"uidNumber\":1e4}", -LOGTO_E_IDENTITY, 0, 0, "neither an integer" },
        { "{\"uidNumber\":true}", -LOGTO_E_IDENTITY, 0, 0, "neither an integer" },
        { "{\"uidNumber\":[10001]}", -LOGTO_E_IDENTITY, 0, 0, "neither an integer" },
        { "{\"gidNumber\":0}", -LOGTO_E_IDENTITY, 0, 0, "custom_data.gidNumber" },
        { "{\"gidNumber\":100}", -LOGTO_E_IDENTITY, 0, 0, "reserved" },
        { "{\"gidNumber\":\"x\"}", -LOGTO_E_IDENTITY, 0, 0, "custom_data.gidNumber" },
    };
    char text[512];

    setup();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_error err = { 0 };
        snprintf(text, sizeof(text),
                 "{\"sub\":\"abc123def456\",\"username\":\"alice\",\"custom_data\":%s}",
                 cases[i].custom);
        int r = map_text(text, &id, &err);
        if (r != cases[i].rc)
            fprintf(stderr, "uid case %zu (%s): %s\n", i, cases[i].custom, err.message);
        CHECK_INT(r, cases[i].rc);
        if (r == 0 && id) {
            /* Known answer: see the formula in identity.h (computed independently). */
            uint32_t uid = cases[i].uid ? cases[i].uid : 1989921815u;
            CHECK_INT(id->uid, uid);
            CHECK_INT(id->gid, cases[i].gid ? cases[i].gid : uid);
            CHECK_CONTAINS(id->uid_from, cases[i].detail);
            CHECK(id->uid != 0 && id->gid != 0);
        } else if (r < 0)
            CHECK_CONTAINS(err.message, cases[i].detail);
    }
}

static void test_uid_hash(void)
{
    struct logto_error err = { 0 };
    uint32_t v = 0;

    /* Known answers of SHA-256 first-8-bytes big-endian mod range (computed with Python). */
    CHECK_INT(logto_identity_hash_id("logto-uid:", "abc123def456", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &v, &err),
              0);
    CHECK_INT(v, 1989921815u);
    CHECK_INT(logto_identity_hash_id("logto-uid:", "ghmyn2r614pl", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &v, &err),
              0);
    CHECK_INT(v, 2011810758u);
    CHECK_INT(logto_identity_hash_id("logto-uid:", "abc123def456", 100000, 100999, &v, &err), 0);
    CHECK_INT(v, 100719);
    CHECK_INT(logto_identity_hash_id("logto-gid:role:", "admin", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &v, &err),
              0);
    CHECK_INT(v, 1941253329u);
    /* A one-value range and bad ranges. */
    CHECK_INT(logto_identity_hash_id("logto-uid:", "x", 5000, 5000, &v, &err), 0);
    CHECK_INT(v, 5000);
    CHECK_INT(logto_identity_hash_id("logto-uid:", "x", 0, 10, &v, &err), -LOGTO_E_CONFIG);
    CHECK_INT(logto_identity_hash_id("logto-uid:", "x", 10, 9, &v, &err), -LOGTO_E_CONFIG);
    CHECK_INT(logto_identity_hash_id("logto-uid:", "x", 10, 2147483648u, &v, &err),
              -LOGTO_E_CONFIG);

    /* Every hashed UID over many subs stays inside the default range and is never reserved. */
    for (int i = 0; i < 2000; i++) {
        char sub[16];
        snprintf(sub, sizeof(sub), "u%07d", i);
        CHECK_INT(logto_identity_hash_id("logto-uid:", sub, LOGTO_ID_MIN_DEFAULT,
                                         LOGTO_ID_MAX_DEFAULT, &v, &err),
                  0);
        CHECK(v >= LOGTO_ID_MIN_DEFAULT && v <= LOGTO_ID_MAX_DEFAULT && !logto_id_reserved(v));
    }

    /* A configured range that lands on reserved IDs is refused, not served. */
    setup();
    cfg.id_min = 60000;
    cfg.id_max = 60010;
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    CHECK_INT(map_text("{\"sub\":\"abc\",\"username\":\"alice\"}", &id, &err), -LOGTO_E_IDENTITY);
    CHECK_CONTAINS(err.message, "reserved");
}

/* ------------------------------------------------------------------------------------------ */

static void test_gecos(void)
{
    static const struct {
        const char *name_json, *gecos;
    } cases[] = {
        { "\"Alice Example\"", "Alice Example" },
        { "\"Alice: Admin,\\nRoot\"", "Alice  Admin  Root" },
        { "\"x:0:0:root:/root:/bin/bash\"", "x 0 0 root /root /bin/bash" },
        { "\"  padded\\t\"", "padded" },
        { "\"Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac\"", "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac" },
        { "\"a\\u0085b\\u007fc\"", "a b c" }, /* C1 NEL and DEL */
        /* Bidi override, zero-width space, soft hyphen, Hangul filler: visibly replaced. */
        { "\"Mal\\u202elory\\u200b\\u00ad\\u3164x\"", "Mal?lory???x" },
        { "null", "" },
    };
    char text[512];

    setup();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_error err = { 0 };
        snprintf(text, sizeof(text), "{\"sub\":\"s\",\"username\":\"alice\",\"name\":%s}",
                 cases[i].name_json);
        CHECK_INT(map_text(text, &id, &err), 0);
        CHECK_STR(id ? id->gecos : NULL, cases[i].gecos);
    }

    /* Wrong type: refused with the claim named. */
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(map_text("{\"sub\":\"s\",\"username\":\"alice\",\"name\":42}", &id, &err),
              -LOGTO_E_IDENTITY);
    CHECK_CONTAINS(err.message, "claim name");

    /* Long: capped at 255 bytes, never in the middle of a UTF-8 character. */
    char big[2048] = "{\"sub\":\"s\",\"username\":\"alice\",\"name\":\"";
    for (int i = 0; i < 300; i++)
        strcat(big, "\xc3\xa9");
    strcat(big, "\"}");
    CHECK_INT(map_text(big, &id, &err), 0);
    if (id) {
        size_t len = strlen(id->gecos);
        CHECK(len <= LOGTO_IDENTITY_MAX_GECOS && len >= LOGTO_IDENTITY_MAX_GECOS - 1);
        CHECK(len % 2 == 0);                    /* whole two-byte characters only */
        json_t *valid = json_string(id->gecos); /* jansson refuses invalid UTF-8 */
        CHECK(valid != NULL);
        json_decref(valid);
    }
}

static void test_home_shell(void)
{
    static const struct {
        const char *shell_json;
        const char *shell;
        const char *from;
    } shells[] = {
        { "\"/usr/bin/zsh\"", "/usr/bin/zsh", "custom_data.loginShell" },
        { "\"/bin/evil\"", "/bin/bash", "not listed" },
        { "\"/bin/sh;rm -rf /\"", "/bin/bash", "not a clean absolute path" },
        { "\"bin/bash\"", "/bin/bash", "not a clean absolute path" },
        { "\"/bin/../bin/bash\"", "/bin/bash", "not a clean absolute path" },
        { "\"/bin//bash\"", "/bin/bash", "not a clean absolute path" },
        { "\"/bin/bash\\n/bin/sh\"", "/bin/bash", "not a clean absolute path" },
        { "\"# /bin/sh\"", "/bin/bash", "not a clean absolute path" },
        { "\"\"", "/bin/bash", "not a clean absolute path" },
        { "null", "/bin/bash", "default_shell" },
    };
    char text[512];

    setup();
    for (size_t i = 0; i < ELEMENTSOF(shells); i++) {
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_error err = { 0 };
        snprintf(text, sizeof(text),
                 "{\"sub\":\"s\",\"username\":\"alice\",\"custom_data\":{\"loginShell\":%s}}",
                 shells[i].shell_json);
        CHECK_INT(map_text(text, &id, &err), 0);
        CHECK_STR(id ? id->shell : NULL, shells[i].shell);
        CHECK_CONTAINS(id ? id->shell_from : NULL, shells[i].from);
    }

    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(map_text("{\"sub\":\"s\",\"username\":\"alice\",\"custom_data\":{\"loginShell\":5}}",
                       &id, &err),
              -LOGTO_E_IDENTITY);
    CHECK_CONTAINS(err.message, "custom_data.loginShell");

    /* A shells file that cannot be trusted lists nothing: the default shell is used. */
    chmod(shells_path, 0666);
    CHECK_INT(map_text("{\"sub\":\"s\",\"username\":\"alice\",\"custom_data\":"
                       "{\"loginShell\":\"/usr/bin/zsh\"}}",
                       &id, &err),
              0);
    CHECK_STR(id ? id->shell : NULL, "/bin/bash");
    CHECK(log_count("identity-shells-unreadable") == 1);
    chmod(shells_path, 0644);
    logto_identity_free(TAKE_PTR(id));

    /* Home patterns. */
    static const struct {
        enum logto_profile profile;
        const char *pattern, *sub;
        int rc;
        const char *home;
    } homes[] = {
        { LOGTO_PROFILE_LOGTO, "/home/%u", "abc123", 0, "/home/alice" },
        { LOGTO_PROFILE_LOGTO, "/srv/%s/%u", "abc123", 0, "/srv/abc123/alice" },
        { LOGTO_PROFILE_LOGTO, "/u/%U", "abc123", 0, NULL },
        { LOGTO_PROFILE_LOGTO, "/srv/100%%/%u", "abc123", 0, "/srv/100%/alice" },
        { LOGTO_PROFILE_LOGTO, "/srv/%s", "ABC123", -LOGTO_E_IDENTITY, NULL },
        { LOGTO_PROFILE_GENERIC, "/srv/%s", "ABC-123.x", 0, "/srv/ABC-123.x" },
        { LOGTO_PROFILE_GENERIC, "/srv/%s", "..", -LOGTO_E_IDENTITY, NULL },
        { LOGTO_PROFILE_GENERIC, "/srv/%s", "x/../../etc", -LOGTO_E_IDENTITY, NULL },
        { LOGTO_PROFILE_GENERIC, "/srv/%s", "auth0|123", -LOGTO_E_IDENTITY, NULL },
        { LOGTO_PROFILE_LOGTO, "/home/%x", "abc123", -LOGTO_E_CONFIG, NULL },
        { LOGTO_PROFILE_LOGTO, "/home/%", "abc123", -LOGTO_E_CONFIG, NULL },
        { LOGTO_PROFILE_LOGTO, "home/%u", "abc123", -LOGTO_E_CONFIG, NULL },
        { LOGTO_PROFILE_LOGTO, "/home/../%u", "abc123", -LOGTO_E_CONFIG, NULL },
        { LOGTO_PROFILE_LOGTO, "/home:x/%u", "abc123", -LOGTO_E_CONFIG, NULL },
    };
    for (size_t i = 0; i < ELEMENTSOF(homes); i++) {
        setup();
        cfg.profile = homes[i].profile;
        cfg.name_claims = keep("username");
        cfg.home_pattern = S(homes[i].pattern);
        snprintf(text, sizeof(text), "{\"sub\":\"%s\",\"username\":\"alice\"}", homes[i].sub);
        int r = map_text(text, &id, &err);
        if (r != homes[i].rc)
            fprintf(stderr, "home case %zu: %s\n", i, err.message);
        CHECK_INT(r, homes[i].rc);
        if (r == 0 && id && homes[i].home)
            CHECK_STR(id->home, homes[i].home);
        if (r == 0 && id && !homes[i].home) {
            char want[64];
            snprintf(want, sizeof(want), "/u/%u", id->uid);
            CHECK_STR(id->home, want);
        }
        logto_identity_free(TAKE_PTR(id));
    }
}

/* [user NAME] overrides (issue 17.6): shell, home and gecos of the user holding that name, with
 * their origin; nobody else's, and never the name or the IDs. */
static void test_overrides(void)
{
    struct logto_user_override alice = { .name = S("alice"),
                                         .shell = S("/usr/sbin/nologin"),
                                         .home = S("/srv/alice"),
                                         .gecos = S("Alice,Room 1"),
                                         .file = S("/etc/logto/logto.conf"),
                                         .line = 12 };
    struct logto_user_override local = { .name = S("localuser"),
                                         .shell = S("/bin/zsh"),
                                         .file = S("/etc/logto/logto.conf"),
                                         .line = 20 };
    struct logto_user_override *list[] = { &alice, &local };
    static const char *const claims =
        "{\"sub\":\"s1\",\"username\":\"%s\",\"name\":\"From IdP\","
        "\"custom_data\":{\"loginShell\":\"/usr/bin/zsh\",\"uidNumber\":70000}}";
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };
    char text[512];

    setup();
    cfg.user_overrides = list;
    cfg.n_user_overrides = ELEMENTSOF(list);

    /* Without a section: the IdP's shell and gecos, the home pattern. */
    snprintf(text, sizeof(text), claims, "bob");
    CHECK_INT(map_text(text, &id, &err), 0);
    CHECK_STR(id ? id->shell : NULL, "/usr/bin/zsh");
    CHECK_INT(id ? (int)id->shell_origin : -1, LOGTO_ORIGIN_IDP);
    CHECK_INT(id ? (int)id->gecos_origin : -1, LOGTO_ORIGIN_IDP);
    CHECK_INT(id ? (int)id->home_origin : -1, LOGTO_ORIGIN_DEFAULT);
    CHECK_STR(id ? id->home_from : NULL, "home pattern /home/%u");
    logto_identity_free(TAKE_PTR(id));

    /* alice's section replaces all three, says where from, and leaves name and IDs alone. */
    snprintf(text, sizeof(text), claims, "alice");
    CHECK_INT(map_text(text, &id, &err), 0);
    CHECK_STR(id ? id->shell : NULL, "/usr/sbin/nologin");
    CHECK_STR(id ? id->home : NULL, "/srv/alice");
    CHECK_STR(id ? id->gecos : NULL, "Alice,Room 1");
    CHECK_INT(id ? (int)id->shell_origin : -1, LOGTO_ORIGIN_OVERRIDE);
    CHECK_INT(id ? (int)id->home_origin : -1, LOGTO_ORIGIN_OVERRIDE);
    CHECK_INT(id ? (int)id->gecos_origin : -1, LOGTO_ORIGIN_OVERRIDE);
    CHECK_STR(id ? id->shell_from : NULL, "[user alice] at /etc/logto/logto.conf:12");
    CHECK_STR(logto_origin_name(LOGTO_ORIGIN_OVERRIDE), "override");
    CHECK_STR(id ? id->name : NULL, "alice");
    CHECK_INT(id ? id->uid : 0, 70000);
    logto_identity_free(TAKE_PTR(id));

    /* Only what the section sets; no gecos claim: the default (empty). */
    alice.home = alice.gecos = NULL;
    CHECK_INT(map_text("{\"sub\":\"s1\",\"username\":\"alice\"}", &id, &err), 0);
    CHECK_STR(id ? id->shell : NULL, "/usr/sbin/nologin");
    CHECK_STR(id ? id->home : NULL, "/home/alice");
    CHECK_INT(id ? (int)id->home_origin : -1, LOGTO_ORIGIN_DEFAULT);
    CHECK_INT(id ? (int)id->gecos_origin : -1, LOGTO_ORIGIN_DEFAULT);
    CHECK_STR(logto_origin_name(id ? id->gecos_origin : LOGTO_ORIGIN_IDP), "default");
    logto_identity_free(TAKE_PTR(id));

    /* A section named like a local account: the Logto user of that name is still refused, so the
     * section reaches no passwd entry (the local one is never ours to change). */
    snprintf(text, sizeof(text), claims, "localuser");
    CHECK_INT(map_text(text, &id, &err), 0);
    CHECK_INT(id ? logto_identity_check_local(&ctx, id, &err) : 0, -LOGTO_E_COLLISION);
    cfg.user_overrides = NULL;
    cfg.n_user_overrides = 0;
}

/* ------------------------------------------------------------------------------------------ */

static void test_lists(void)
{
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };

    setup();
    CHECK_INT(
        map_text("{\"sub\":\"s\",\"username\":\"alice\","
                 "\"roles\":[\"dev\",\"admin\",\"dev\",\"bad\\nrole\",\"\"],"
                 "\"organizations\":[\"org1\",\"bad org\",\"org2\",\"org:3\"],"
                 "\"organization_roles\":[\"org1:member\",\"org1:role:extra\",\"nocolon\","
                 "\":x\",\"org1:\",\"bad org:x\"],"
                 "\"organization_data\":[{\"id\":\"org1\",\"name\":\"Acme\\nCorp\"},"
                 "{\"id\":\"org9\",\"name\":\"Not a member\"},{\"id\":\"org2\",\"name\":null}],"
                 "\"custom_data\":{\"sshKeys\":[\"ssh-ed25519 AAAAC3Nz k1\","
                 "\"ssh-ed25519 AAAA\\ncommand=\\\"sh\\\" ssh-rsa AAAA\"]}}",
                 &id, &err),
        0);
    if (!id)
        return;
    _cleanup_free_ char *roles = logto_strv_join(id->roles, ",");
    _cleanup_free_ char *orgs = logto_strv_join(id->orgs, ",");
    _cleanup_free_ char *org_roles = logto_strv_join(id->org_roles, ",");
    CHECK_STR(roles, "admin,dev");
    CHECK_STR(orgs, "org1,org2");
    CHECK_STR(org_roles, "org1:member,org1:role:extra");
    CHECK_INT(id->n_org_names, 2);
    if (id->n_org_names == 2) {
        CHECK_STR(id->org_names[0].id, "org1");
        CHECK_STR(id->org_names[0].name, "Acme Corp");
        CHECK_STR(id->org_names[1].name, "");
    }
    CHECK_INT(logto_strv_length(id->ssh_keys), 1);
    CHECK_STR(id->ssh_keys[0], "ssh-ed25519 AAAAC3Nz k1");
    /* Every dropped value is logged: 2 roles, 2 orgs, 4 org roles, 1 key. */
    CHECK_INT(log_count("identity-skip-value"), 9);

    /* Wrong types are refused with the claim named. */
    static const struct {
        const char *claims, *detail;
    } bad[] = {
        { "\"roles\":\"admin\"", "claim roles is not an array" },
        { "\"roles\":[1]", "claim roles" },
        { "\"roles\":[[\"admin\"]]", "claim roles" },
        { "\"organizations\":{\"org1\":true}", "claim organizations is not an array" },
        { "\"organization_roles\":[null]", "claim organization_roles" },
        { "\"organization_data\":[\"org1\"]", "entry 0 is not an object" },
        { "\"organization_data\":{}", "claim organization_data is not an array" },
        { "\"organizations\":[\"org1\"],\"organization_data\":[{\"id\":5}]", "organization_data" },
        { "\"custom_data\":\"x\"", "claim custom_data is not an object" },
        { "\"custom_data\":[]", "claim custom_data is not an object" },
        { "\"custom_data\":{\"sshKeys\":\"ssh-ed25519 AAAA\"}", "custom_data.sshKeys" },
    };
    char text[512];
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        logto_identity_free(TAKE_PTR(id));
        snprintf(text, sizeof(text), "{\"sub\":\"s\",\"username\":\"alice\",%s}", bad[i].claims);
        CHECK_INT(map_text(text, &id, &err), -LOGTO_E_IDENTITY);
        CHECK_CONTAINS(err.message, bad[i].detail);
    }
}

/* Caps: exactly the limit passes, one more is refused; oversized values are dropped. */
static void test_caps(void)
{
    static const char *const claims[] = { "roles", "organizations", "organization_roles" };

    setup();
    for (size_t c = 0; c < ELEMENTSOF(claims); c++) {
        for (int extra = 0; extra <= 1; extra++) {
            _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
            struct logto_error err = { 0 };
            json_t *j = json_pack("{s:s, s:s}", "sub", "s", "username", "alice");
            json_t *arr = json_array();
            for (int i = 0; i < LOGTO_IDENTITY_MAX_VALUES + extra; i++) {
                char v[32];
                snprintf(v, sizeof(v), c == 2 ? "org%d:member" : "v%d", i);
                json_array_append_new(arr, json_string(v));
            }
            json_object_set_new(j, claims[c], arr);
            int r = logto_identity_from_claims(&ctx, j, &id, &err);
            json_decref(j);
            CHECK_INT(r, extra ? -LOGTO_E_IDENTITY : 0);
            if (extra)
                CHECK_CONTAINS(err.message, "more than the limit");
            else if (id)
                CHECK_INT(logto_strv_length(c == 0   ? id->roles
                                            : c == 1 ? id->orgs
                                                     : id->org_roles),
                          LOGTO_IDENTITY_MAX_VALUES);
        }
    }

    /* A single value over the length cap is dropped, not truncated. */
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };
    char longrole[LOGTO_IDENTITY_MAX_VALUE + 2];
    memset(longrole, 'r', sizeof(longrole) - 1);
    longrole[sizeof(longrole) - 1] = '\0';
    json_t *j =
        json_pack("{s:s, s:s, s:[s, s]}", "sub", "s", "username", "alice", "roles", longrole, "ok");
    CHECK_INT(logto_identity_from_claims(&ctx, j, &id, &err), 0);
    json_decref(j);
    CHECK_INT(id ? logto_strv_length(id->roles) : 0, 1);
    CHECK_STR(id ? id->roles[0] : NULL, "ok");

    /* Too many SSH keys. */
    logto_identity_free(TAKE_PTR(id));
    j = json_pack("{s:s, s:s, s:{s:[]}}", "sub", "s", "username", "alice", "custom_data",
                  "sshKeys");
    json_t *keys = json_object_get(json_object_get(j, "custom_data"), "sshKeys");
    for (int i = 0; i <= LOGTO_IDENTITY_MAX_SSH_KEYS; i++)
        json_array_append_new(keys, json_string("ssh-ed25519 AAAA"));
    CHECK_INT(logto_identity_from_claims(&ctx, j, &id, &err), -LOGTO_E_IDENTITY);
    json_decref(j);
}

/* ------------------------------------------------------------------------------------------ */

/* System names are never served (issue 12.7): refused when mapped, with the reason. */
static void test_reserved_names(void)
{
    static const struct {
        const char *username, *detail;
    } refused[] = {
        { "mysql", "well-known system account" },
        { "postgres", "well-known system account" },
        { "redis", "well-known system account" },
        { "www-data", "well-known system account" },
        { "libvirt-qemu", "well-known system account" },
        { "nobody", "well-known system account" },
        { "Docker", "well-known system account" },
        { "_chrony", "starts like the names" },
        { "systemd-foo", "starts like the names" },
        { "Debian-exim", "starts like the names" },
        { "appsvc", "reserved_names" },
        { "logto-admin", "role_group_prefix 'logto-'" },
        { "org-acme", "org_group_prefix 'org-'" },
        { "orgrole-x", "org_role_group_prefix" },
        /* [organization ID] group = acme: the group and its role groups */
        { "acme", "is the group 'acme' of [organization pbl95zlwkzx4]" },
        { "acme-dev", "[organization pbl95zlwkzx4]" },
    };
    const char *const *list;
    size_t n = logto_name_system_list(&list);
    char text[256];
    struct logto_org_group acme = { .id = S("pbl95zlwkzx4"), .group = S("acme") };
    struct logto_org_group *orgs[] = { &acme };

    setup();
    cfg.reserved_names = keep("appsvc");
    cfg.org_groups = orgs;
    cfg.n_org_groups = 1;
    for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_error err = { 0 };
        snprintf(text, sizeof(text), "{\"sub\":\"s%zu\",\"username\":\"%s\"}", i,
                 refused[i].username);
        CHECK_INT(map_text(text, &id, &err), -LOGTO_E_IDENTITY);
        CHECK_CONTAINS(err.message, "which is never served");
        CHECK_CONTAINS(err.message, refused[i].detail);
    }
    /* Names merely close to them, and a prefix whose groups are not made, are fine. */
    cfg.groups_from_orgs = false;
    static const char *const fine[] = { "mysqladmin", "dockerfan", "org-acme",
                                        "alogto-x",   "acmes",     "xacme-dev" };
    for (size_t i = 0; i < ELEMENTSOF(fine); i++) {
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_error err = { 0 };
        snprintf(text, sizeof(text), "{\"sub\":\"s\",\"username\":\"%s\"}", fine[i]);
        CHECK_INT(map_text(text, &id, &err), 0);
    }
    /* The built-in list: sorted (bsearch), valid names, with the names the issue names. */
    for (size_t i = 0; i < n; i++) {
        CHECK(logto_name_valid(list[i]));
        if (i)
            CHECK(strcmp(list[i - 1], list[i]) < 0);
    }
    static const char *const must[] = { "mysql",     "postgres",     "redis", "docker",
                                        "libvirt",   "libvirt-qemu", "kvm",   "lxd",
                                        "wireshark", "www-data",     "nobody" };
    for (size_t i = 0; i < ELEMENTSOF(must); i++)
        CHECK(logto_name_system_reason(must[i]) != NULL);
}

static void test_check_local(void)
{
    static const struct {
        const char *claims;
        int rc;
        const char *detail;
    } cases[] = {
        { "{\"sub\":\"s\",\"username\":\"newuser\"}", 0, NULL },
        { "{\"sub\":\"s\",\"username\":\"localuser\"}", -LOGTO_E_COLLISION, "passwd" },
        { "{\"sub\":\"s\",\"username\":\"alien\"}", -LOGTO_E_COLLISION, "passwd" },
        { "{\"sub\":\"s\",\"username\":\"bpuser\"}", -LOGTO_E_COLLISION, "base-passwd" },
        { "{\"sub\":\"s\",\"username\":\"bpgroup\"}", -LOGTO_E_COLLISION, "base-passwd" },
        { "{\"sub\":\"s\",\"username\":\"nisuser\"}", -LOGTO_E_COLLISION, "passwd" },
        { "{\"sub\":\"s\",\"username\":\"devs\"}", -LOGTO_E_COLLISION, "local group" },
        { "{\"sub\":\"s\",\"username\":\"n1\",\"custom_data\":{\"uidNumber\":1000}}",
          -LOGTO_E_COLLISION, "UID 1000" },
        { "{\"sub\":\"s\",\"username\":\"n2\",\"custom_data\":{\"uidNumber\":1879048200}}",
          -LOGTO_E_COLLISION, "UID 1879048200" },
        { "{\"sub\":\"s\",\"username\":\"n3\",\"custom_data\":{\"uidNumber\":5000}}",
          -LOGTO_E_COLLISION, "GID 5000" }, /* private group GID = UID = local group devs */
        { "{\"sub\":\"s\",\"username\":\"n4\",\"custom_data\":{\"gidNumber\":6000}}",
          -LOGTO_E_COLLISION, "GID 6000" },
        /* commented-out lines do not count */
        { "{\"sub\":\"s\",\"username\":\"commentuser\"}", 0, NULL },
    };

    setup();
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
        struct logto_error err = { 0 };
        CHECK_INT(map_text(cases[i].claims, &id, &err), 0);
        if (!id)
            continue;
        int r = logto_identity_check_local(&ctx, id, &err);
        if (r != cases[i].rc)
            fprintf(stderr, "local case %zu: %s\n", i, err.message);
        CHECK_INT(r, cases[i].rc);
        if (cases[i].detail)
            CHECK_CONTAINS(err.message, cases[i].detail);
    }

    /* Fail closed: a missing or unsafe account file refuses everyone. */
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(map_text("{\"sub\":\"s\",\"username\":\"newuser\"}", &id, &err), 0);
    ctx.passwd_path = "/nonexistent/passwd";
    CHECK(logto_identity_check_local(&ctx, id, &err) < 0);
    ctx.passwd_path = passwd_path;
    chmod(group_path, 0666);
    CHECK_INT(logto_identity_check_local(&ctx, id, &err), -LOGTO_E_UNSAFE);
    chmod(group_path, 0644);
    CHECK_INT(logto_identity_check_local(&ctx, id, &err), 0);
}

/* pam_logto's first question, before any configuration: is the name in the passwd file? */
static void test_file_has_user(void)
{
    static const struct {
        const char *name;
        bool local;
    } cases[] = {
        { "root", true },
        { "localuser", true },
        { "nisuser", true }, /* +nisuser */
        { "roo", false },
        { "rootx", false },
        { "localuser:x", false },
        { "commentuser", false }, /* only inside a comment line */
        { "", false },
        { "alice", false },
    };
    struct logto_error err = { 0 };
    bool local;

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        local = !cases[i].local;
        CHECK_INT(logto_localdb_file_has_user(passwd_path, cases[i].name, &local, &err), 0);
        if (local != cases[i].local)
            fprintf(stderr, "file_has_user(\"%s\"): got %d\n", cases[i].name, local);
        CHECK(local == cases[i].local);
    }
    /* Unsafe or missing: an error, never "not local". */
    CHECK(logto_localdb_file_has_user("/nonexistent/passwd", "root", &local, &err) < 0);
    chmod(passwd_path, 0666);
    CHECK_INT(logto_localdb_file_has_user(passwd_path, "root", &local, &err), -LOGTO_E_UNSAFE);
    chmod(passwd_path, 0644);
}

/* ------------------------------------------------------------------------------------------ */

static const struct logto_dir_group *find_group(const struct logto_dir_group *g, size_t n,
                                                const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].name, name) == 0)
            return &g[i];
    return NULL;
}

static char
    groups_err[sizeof(((struct logto_error *)0)->message)]; /* the message of the last groups_of */

static void groups_of(const char *claims, struct logto_dir_group **g, size_t *n, int want_rc)
{
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_error err = { 0 };

    *g = NULL;
    *n = 0;
    CHECK_INT(map_text(claims, &id, &err), 0);
    if (!id)
        return;
    int r = logto_identity_groups(&ctx, id, g, n, &err);
    snprintf(groups_err, sizeof(groups_err), "%s", err.message);
    if (r != want_rc)
        fprintf(stderr, "groups: %s\n", err.message);
    CHECK_INT(r, want_rc);
}

static void test_groups(void)
{
    struct logto_dir_group *g;
    size_t n;
    uint32_t gid;
    struct logto_error err = { 0 };

    setup();
    groups_of("{\"sub\":\"abc123def456\",\"username\":\"alice\",\"roles\":[\"admin\",\"dev\"],"
              "\"organizations\":[\"org1\"],\"organization_roles\":[\"org1:member\"]}",
              &g, &n, 0);
    CHECK_INT(n, 5);
    if (n == 5) {
        CHECK_STR(g[0].name, "alice");
        CHECK_INT(g[0].kind, LOGTO_GROUP_PRIVATE);
        CHECK_INT(g[0].gid, 1989921815u);
        CHECK_STR(g[0].source, "abc123def456");
        const struct logto_dir_group *admin = find_group(g, n, "logto-admin");
        const struct logto_dir_group *org = find_group(g, n, "org-org1");
        const struct logto_dir_group *orgrole = find_group(g, n, "orgrole-org1-member");
        CHECK(admin && find_group(g, n, "logto-dev") && org && orgrole);
        if (admin && org && orgrole) {
            /* Known answers from the documented formula. */
            CHECK_INT(admin->gid, 1941253329u);
            CHECK_INT(admin->kind, LOGTO_GROUP_ROLE);
            CHECK_STR(admin->source, "admin");
            CHECK_INT(org->gid, 2128059240u);
            CHECK_INT(org->kind, LOGTO_GROUP_ORG);
            CHECK_STR(org->source, "org1");
            CHECK_INT(orgrole->gid, 2126979485u);
            CHECK_INT(orgrole->kind, LOGTO_GROUP_ORG_ROLE);
            CHECK_STR(orgrole->source, "org1:member");
        }
        for (size_t i = 0; i < n; i++) {
            CHECK_INT(logto_strv_length(g[i].members), 1);
            CHECK_STR(g[i].members[0], "alice");
        }
    }
    logto_identity_groups_free(g, n);
    CHECK_INT(log_count("identity-skip-group"), 0);

    /* Lookalikes: both sources that sanitise to one name are skipped, never the later one. */
    static const struct {
        const char *claims;
        const char *gone[3];
        size_t left, skipped;
    } clashes[] = {
        { "\"roles\":[\"Admin\",\"admin\",\"dev\"]", { "logto-admin" }, 2, 2 },
        { "\"roles\":[\"ops team\",\"ops_team\",\"ops:team\"]", { "logto-ops_team" }, 1, 3 },
        { "\"organizations\":[\"ABC1\",\"abc1\"]", { "org-abc1" }, 1, 2 },
        /* An organization ID with '-' has no ID-form group: "orgrole-org1-a-b" is org1's role
         * a-b alone, never also role b of organization "org1-a". */
        { "\"organization_roles\":[\"org1:a-b\",\"org1-a:b\"]", { NULL }, 2, 1 },
        { "\"organizations\":[\"org1-a\"]", { "org-org1-a" }, 1, 1 },
        /* not valid as a group name: too long after the prefix */
        { "\"roles\":[\"a-very-long-role-name-beyond-the-limit\"]", { NULL }, 1, 1 },
        /* local groups always win: by name and by GID */
        { "\"roles\":[\"local\"]", { "logto-local" }, 1, 1 },
    };
    char text[512];
    for (size_t i = 0; i < ELEMENTSOF(clashes); i++) {
        setup();
        snprintf(text, sizeof(text), "{\"sub\":\"s%zu\",\"username\":\"%s\",%s}", i, "alice",
                 clashes[i].claims);
        groups_of(text, &g, &n, 0);
        if (n != clashes[i].left)
            fprintf(stderr, "clash case %zu: %zu groups\n%s", i, n, logbuf);
        CHECK_INT(n, clashes[i].left);
        for (size_t k = 0; k < 3 && clashes[i].gone[k]; k++)
            CHECK(find_group(g, n, clashes[i].gone[k]) == NULL);
        CHECK_INT(log_count("identity-skip-group"), clashes[i].skipped);
        CHECK(n > 0 && g[0].kind == LOGTO_GROUP_PRIVATE); /* the private group always stays */
        logto_identity_groups_free(g, n);
    }

    /* A role group keeps its name and GID: a user whose private group would clash with one of
     * their own role groups (a user named like the role, a gidNumber equal to its GID) is
     * refused, and says why. */
    setup();
    cfg.role_group_prefix = NULL;
    groups_of("{\"sub\":\"s\",\"username\":\"admin\",\"roles\":[\"admin\"]}", &g, &n,
              -LOGTO_E_COLLISION);
    CHECK_CONTAINS(groups_err, "clashes with role group admin");
    CHECK_CONTAINS(groups_err, "keeps its name and GID");
    logto_identity_groups_free(g, n);
    CHECK_INT(logto_identity_hash_id("logto-gid:role:", "admin", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &gid, &err),
              0);
    snprintf(text, sizeof(text),
             "{\"sub\":\"s\",\"username\":\"alice\",\"roles\":[\"admin\"],"
             "\"custom_data\":{\"gidNumber\":%u}}",
             gid);
    groups_of(text, &g, &n, -LOGTO_E_COLLISION);
    CHECK_CONTAINS(groups_err, "clashes with role group admin");
    logto_identity_groups_free(g, n);

    /* Role names without a prefix: "devs" is a local group, "9ers" not a valid name; "docker"
     * and "bpgroup" (base-passwd) are system names: no group, so the package that creates the
     * system group later finds the name free. */
    setup();
    cfg.role_group_prefix = NULL;
    groups_of("{\"sub\":\"s\",\"username\":\"alice\",\"roles\":[\"devs\",\"9ers\",\"..\","
              "\"Builders\",\"docker\",\"bpgroup\"]}",
              &g, &n, 0);
    CHECK_INT(n, 2);
    CHECK(find_group(g, n, "builders") != NULL);
    CHECK(find_group(g, n, "docker") == NULL);
    CHECK_INT(log_count("identity-skip-group"), 5);
    CHECK_INT(log_count("local group"), 1);
    CHECK_INT(log_count("reserved for system accounts"), 2);
    logto_identity_groups_free(g, n);
    /* With the prefix, role docker is the group logto-docker. */
    setup();
    groups_of("{\"sub\":\"s\",\"username\":\"alice\",\"roles\":[\"docker\"]}", &g, &n, 0);
    CHECK(find_group(g, n, "logto-docker") != NULL);
    logto_identity_groups_free(g, n);

    /* A local group holding the GID a role hashes to wins. */
    setup();
    CHECK_INT(logto_identity_hash_id("logto-gid:role:", "dev", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &gid, &err),
              0);
    FILE *f = fopen(group_path, "a");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "hashclash:x:%u:\n", gid);
        fclose(f);
    }
    groups_of("{\"sub\":\"s\",\"username\":\"alice\",\"roles\":[\"dev\",\"admin\"]}", &g, &n, 0);
    CHECK_INT(n, 2);
    CHECK(find_group(g, n, "logto-dev") == NULL && find_group(g, n, "logto-admin") != NULL);
    CHECK_INT(log_count("GID belongs to a local group"), 1);
    logto_identity_groups_free(g, n);

    /* Switches: nothing derived when every groups_from_* is off. */
    setup();
    cfg.groups_from_roles = cfg.groups_from_orgs = cfg.groups_from_org_roles = false;
    groups_of("{\"sub\":\"s\",\"username\":\"alice\",\"roles\":[\"admin\"],"
              "\"organizations\":[\"org1\"],\"organization_roles\":[\"org1:member\"]}",
              &g, &n, 0);
    CHECK_INT(n, 1);
    logto_identity_groups_free(g, n);

    /* Generic providers: groups-claim values become CLAIM groups and count as roles. */
    setup();
    cfg.profile = LOGTO_PROFILE_GENERIC;
    cfg.name_claims = keep("preferred_username");
    cfg.groups_claim = S("groups");
    groups_of("{\"sub\":\"5b1c-77\",\"preferred_username\":\"erin\","
              "\"groups\":[\"/admins\",\"devs\"],\"roles\":[\"ignored\"]}",
              &g, &n, 0);
    CHECK_INT(n, 3);
    const struct logto_dir_group *claim = find_group(g, n, "logto-_admins");
    CHECK(claim && claim->kind == LOGTO_GROUP_CLAIM);
    if (claim) {
        CHECK_INT(logto_identity_hash_id("logto-gid:claim:", "/admins", LOGTO_ID_MIN_DEFAULT,
                                         LOGTO_ID_MAX_DEFAULT, &gid, &err),
                  0);
        CHECK_INT(claim->gid, gid);
    }
    logto_identity_groups_free(g, n);

    /* A private group that clashes with a local group is an error, not a skip. */
    setup();
    groups_of("{\"sub\":\"s\",\"username\":\"devs\"}", &g, &n, -LOGTO_E_COLLISION);
    logto_identity_groups_free(g, n);
}

/* ------------------------------------------------------------------------------------------ */

static void test_mgmt(void)
{
    static const char *const roles[] = { "dev", "admin", NULL };
    static const char *const org_roles[] = { "member", NULL };
    const struct logto_org_membership orgs[] = { { "org1", "Acme", org_roles } };
    _cleanup_(logto_identity_freep) struct logto_identity *a = NULL, *b = NULL;
    struct logto_error err = { 0 };
    json_error_t jerr;

    setup();
    json_t *user = json_loads(
        "{\"id\":\"ghmyn2r614pl\",\"username\":\"Alice\",\"primaryEmail\":\"alice@example.com\","
        "\"primaryPhone\":null,\"name\":\"Alice, Example\",\"avatar\":null,"
        "\"customData\":{\"uidNumber\":10001,\"loginShell\":\"/usr/bin/zsh\","
        "\"sshKeys\":[\"ssh-ed25519 AAAA k\"]},\"identities\":{},\"lastSignInAt\":1726466609578,"
        "\"createdAt\":1726394844098,\"updatedAt\":1726466609578,\"profile\":{},"
        "\"applicationId\":null,\"isSuspended\":false,\"hasPassword\":true}",
        0, &jerr);
    json_t *claims = json_loads(
        "{\"sub\":\"ghmyn2r614pl\",\"username\":\"Alice\",\"email\":\"alice@example.com\","
        "\"email_verified\":true,\"name\":\"Alice, Example\",\"picture\":null,"
        "\"roles\":[\"admin\",\"dev\"],\"organizations\":[\"org1\"],"
        "\"organization_roles\":[\"org1:member\"],"
        "\"organization_data\":[{\"id\":\"org1\",\"name\":\"Acme\",\"description\":null}],"
        "\"custom_data\":{\"uidNumber\":10001,\"loginShell\":\"/usr/bin/zsh\","
        "\"sshKeys\":[\"ssh-ed25519 AAAA k\"]}}",
        0, &jerr);
    CHECK(user && claims);
    CHECK_INT(logto_identity_from_mgmt(&ctx, user, roles, orgs, ELEMENTSOF(orgs), &a, &err), 0);
    CHECK_INT(logto_identity_from_claims(&ctx, claims, &b, &err), 0);
    if (a && b) {
        /* Sync and sign-in must agree on everything that reaches the machine. */
        CHECK_STR(a->sub, b->sub);
        CHECK_STR(a->name, b->name);
        CHECK_INT(a->uid, b->uid);
        CHECK_INT(a->gid, b->gid);
        CHECK_STR(a->gecos, b->gecos);
        CHECK_STR(a->home, b->home);
        CHECK_STR(a->shell, b->shell);
        CHECK_INT(a->suspended, b->suspended);
        for (int k = 0; k < 4; k++) {
            char *const *x = k == 0   ? a->roles
                             : k == 1 ? a->orgs
                             : k == 2 ? a->org_roles
                                      : a->ssh_keys;
            char *const *y = k == 0   ? b->roles
                             : k == 1 ? b->orgs
                             : k == 2 ? b->org_roles
                                      : b->ssh_keys;
            _cleanup_free_ char *jx = logto_strv_join(x, ",");
            _cleanup_free_ char *jy = logto_strv_join(y, ",");
            CHECK_STR(jx, jy);
        }
        CHECK_INT(a->n_org_names, b->n_org_names);
        CHECK_STR(a->name, "alice");
        CHECK_STR(a->gecos, "Alice  Example");
        CHECK_STR(a->name_from, "field username");
    }
    logto_identity_free(TAKE_PTR(a));

    /* Email-only user, suspended: a primaryEmail counts as verified (as Logto's email_verified
     * does), but gives a name only in a listed domain. */
    json_object_set_new(user, "username", json_null());
    json_object_set_new(user, "isSuspended", json_true());
    CHECK_INT(logto_identity_from_mgmt(&ctx, user, NULL, NULL, 0, &a, &err), -LOGTO_E_IDENTITY);
    CHECK_CONTAINS(err.message, "field primaryEmail 'alice@example.com' is not used: [identity] "
                                "email_domains is empty");
    cfg.email_domains = keep("Example.COM");
    CHECK_INT(logto_identity_from_mgmt(&ctx, user, NULL, NULL, 0, &a, &err), 0);
    if (a) {
        CHECK_STR(a->name, "alice");
        CHECK_STR(a->name_from, "field primaryEmail (local part)");
        CHECK(a->suspended);
        CHECK_INT(logto_strv_length(a->roles), 0);
    }
    logto_identity_free(TAKE_PTR(a));

    /* Bad fields are named as fields. */
    static const struct {
        const char *field, *value, *detail;
    } bad[] = {
        { "isSuspended", "\"no\"", "field isSuspended" },
        { "customData", "[1]", "field customData is not an object" },
        { "username", "5", "field username is not a string" },
        { "primaryEmail", "\"x@example.com\"", NULL }, /* fine: username null, x a name */
        { "primaryEmail", "\"x@y\"", "not listed in [identity] email_domains" },
        { "id", "7", "field id is not a string" },
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        json_t *copy = json_deep_copy(user);
        json_object_set_new(copy, bad[i].field, json_loads(bad[i].value, JSON_DECODE_ANY, &jerr));
        int r = logto_identity_from_mgmt(&ctx, copy, NULL, NULL, 0, &a, &err);
        json_decref(copy);
        CHECK_INT(r, bad[i].detail ? -LOGTO_E_IDENTITY : 0);
        if (bad[i].detail)
            CHECK_CONTAINS(err.message, bad[i].detail);
        logto_identity_free(TAKE_PTR(a));
    }

    /* Logto profile only. */
    cfg.profile = LOGTO_PROFILE_GENERIC;
    CHECK_INT(logto_identity_from_mgmt(&ctx, user, NULL, NULL, 0, &a, &err), -LOGTO_E_UNSUPPORTED);
    json_decref(user);
    json_decref(claims);
}

/* ------------------------------------------------------------------------------------------ */

static void test_collisions(void)
{
    struct logto_identity ids[] = {
        { .sub = S("s0"), .name = S("ann"), .uid = 2000001, .gid = 2000001 },
        { .sub = S("s1"), .name = S("ann"), .uid = 2000002, .gid = 2000002 }, /* name of 0 */
        { .sub = S("s2"), .name = S("bea"), .uid = 2000001, .gid = 2000003 }, /* uid of 0 */
        { .sub = S("s3"), .name = S("cat"), .uid = 2000004, .gid = 2000002 }, /* gid of 1 */
        { .sub = S("s4"), .name = S("dan"), .uid = 2000005, .gid = 2000005 }, /* clean */
        { .sub = S("s0"), .name = S("eve"), .uid = 2000006, .gid = 2000006 }, /* sub of 0 */
    };
    const struct logto_identity *fwd[ELEMENTSOF(ids)], *rev[ELEMENTSOF(ids)];
    struct logto_identity_collision *c = NULL;
    struct logto_error err = { 0 };
    size_t n = 0;

    for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
        fwd[i] = &ids[i];
        rev[ELEMENTSOF(ids) - 1 - i] = &ids[i];
    }
    CHECK_INT(logto_identity_find_collisions(fwd, ELEMENTSOF(ids), &c, &n, &err), 0);
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK(c[0].a == 0 && c[0].b == 1 && c[0].kind == LOGTO_COLLISION_NAME);
        CHECK(c[1].a == 0 && c[1].b == 2 && c[1].kind == LOGTO_COLLISION_UID);
        CHECK(c[2].a == 0 && c[2].b == 5 && c[2].kind == LOGTO_COLLISION_SUB);
        CHECK(c[3].a == 1 && c[3].b == 3 && c[3].kind == LOGTO_COLLISION_GID);
    }
    /* Arrival order does not matter: the same identities are refused either way. */
    bool refused_fwd[ELEMENTSOF(ids)] = { 0 }, refused_rev[ELEMENTSOF(ids)] = { 0 };
    for (size_t i = 0; i < n; i++)
        refused_fwd[c[i].a] = refused_fwd[c[i].b] = true;
    free(c);
    CHECK_INT(logto_identity_find_collisions(rev, ELEMENTSOF(ids), &c, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        refused_rev[ELEMENTSOF(ids) - 1 - c[i].a] = refused_rev[ELEMENTSOF(ids) - 1 - c[i].b] =
            true;
    free(c);
    for (size_t i = 0; i < ELEMENTSOF(ids); i++)
        CHECK_INT(refused_fwd[i], refused_rev[i]);
    CHECK(!refused_fwd[4] && refused_fwd[0] && refused_fwd[1] && refused_fwd[2] && refused_fwd[3]);

    /* Three alike: every pair. */
    struct logto_identity three[] = {
        { .sub = S("a"), .name = S("x"), .uid = 3000001, .gid = 3000001 },
        { .sub = S("b"), .name = S("x"), .uid = 3000002, .gid = 3000002 },
        { .sub = S("c"), .name = S("x"), .uid = 3000003, .gid = 3000003 },
    };
    const struct logto_identity *tp[] = { &three[0], &three[1], &three[2] };
    CHECK_INT(logto_identity_find_collisions(tp, 3, &c, &n, &err), 0);
    CHECK_INT(n, 3);
    free(c);
    CHECK_INT(logto_identity_find_collisions(tp, 0, &c, &n, &err), 0);
    CHECK_INT(n, 0);
    free(c);
    CHECK_STR(logto_collision_kind_name(LOGTO_COLLISION_UID), "uid");
}

static void test_check_directory(void)
{
    char *m1[] = { S("bob"), NULL };
    struct logto_dir_user users[] = {
        { .name = S("bob"), .uid = 2000100, .gid = 2000100, .sub = S("sb") },
        /* dan's GID is not his UID */
        { .name = S("dan"), .uid = 2000700, .gid = 2000800, .sub = S("sd") },
    };
    struct logto_dir_group groups[] = {
        { .name = S("bob"),
          .gid = 2000100,
          .kind = LOGTO_GROUP_PRIVATE,
          .source = S("sb"),
          .members = m1 },
        { .name = S("logto-ops"),
          .gid = 2000200,
          .kind = LOGTO_GROUP_ROLE,
          .source = S("ops"),
          .members = m1 },
        /* a private group whose user is not listed (as after a partial sync) */
        { .name = S("zed"), .gid = 2000400, .kind = LOGTO_GROUP_PRIVATE, .source = S("sz") },
        { .name = S("dan"), .gid = 2000800, .kind = LOGTO_GROUP_PRIVATE, .source = S("sd") },
    };
    struct logto_directory dir = { .users = users, .n_users = 2, .groups = groups, .n_groups = 4 };
    static const struct {
        const char *sub, *name;
        uint32_t uid, gid;
        bool uid_custom, gid_custom;
        int rc;
    } cases[] = {
        { "sa", "alice", 2000300, 2000300, false, false, 0 },
        { "sb", "bob", 2000100, 2000100, false, false, 0 }, /* bob himself: an update */
        { "sx", "bob", 2000300, 2000300, false, false, -LOGTO_E_COLLISION },  /* bob's name */
        { "sx", "carl", 2000100, 2000300, false, false, -LOGTO_E_COLLISION }, /* bob's UID */
        { "sx", "carl", 2000300, 2000100, false, false, -LOGTO_E_COLLISION }, /* bob's GID */
        { "sx", "zed", 2000300, 2000300, false, false, -LOGTO_E_COLLISION },  /* a private name */
        { "sx", "carl", 2000500, 2000400, false, false, -LOGTO_E_COLLISION }, /* a private GID */
        /* a role group keeps its name and GID: the user is refused (12.4, 12.7) */
        { "sx", "logto-ops", 2000300, 2000300, false, false, -LOGTO_E_COLLISION },
        { "sx", "carl", 2000200, 2000200, false, false, -LOGTO_E_COLLISION },
        { "sx", "carl", 2000300, 2000200, false, true, -LOGTO_E_COLLISION }, /* gidNumber */
        /* a chosen UID is checked against GIDs too: the role's, another user's private one */
        { "sx", "carl", 2000200, 2000300, true, true, -LOGTO_E_COLLISION },
        { "sx", "carl", 2000400, 2000300, true, true, -LOGTO_E_COLLISION },
        { "sx", "carl", 2000800, 2000300, true, true, -LOGTO_E_COLLISION }, /* dan's GID */
        /* ... and a chosen GID against UIDs (dan's); hashed IDs only in their own space */
        { "sx", "carl", 2000300, 2000700, false, true, -LOGTO_E_COLLISION },
        { "sx", "carl", 2000300, 2000700, false, false, 0 },
        { "sx", "carl", 2000800, 2000900, false, false, 0 },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct logto_identity id = { .sub = S(cases[i].sub),
                                     .name = S(cases[i].name),
                                     .uid = cases[i].uid,
                                     .gid = cases[i].gid,
                                     .uid_custom = cases[i].uid_custom,
                                     .gid_custom = cases[i].gid_custom };
        struct logto_error err = { 0 };
        int r = logto_identity_check_directory(&dir, &id, &err);
        if (r != cases[i].rc)
            fprintf(stderr, "directory case %zu: %d %s\n", i, r, err.message);
        CHECK_INT(r, cases[i].rc);
    }
}

/* A sign-in into dir as directory_update (auth.c) does it: groups, eviction, check, upsert. */
static int signin_into(struct logto_directory *dir, const char *claims, int *ret_evicted, char *msg,
                       size_t msglen)
{
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    struct logto_dir_group *g = NULL;
    struct logto_error err = { 0 };
    size_t n = 0;
    int r = map_text(claims, &id, &err);

    if (r >= 0)
        r = logto_identity_groups(&ctx, id, &g, &n, &err);
    if (r >= 0)
        r = *ret_evicted = logto_identity_evict_yielding(&ctx, dir, id, g, n, &err);
    if (r >= 0)
        r = logto_identity_check_directory(dir, id, &err);
    if (r >= 0) {
        struct logto_dir_user u = { .name = id->name,
                                    .uid = id->uid,
                                    .gid = id->gid,
                                    .gecos = id->gecos,
                                    .home = id->home,
                                    .shell = id->shell,
                                    .sub = id->sub };
        r = logto_directory_upsert_user(dir, &u, g, n, &err);
    }
    logto_identity_groups_free(g, n);
    snprintf(msg, msglen, "%s", err.message);
    return r;
}

/* Sign-in without sync: a chosen ID never displaces anything, whoever signs in first. */
static void test_chosen_ids_signin(void)
{
    _cleanup_(logto_directory_freep) struct logto_directory *dir = logto_directory_new();
    char text[512], msg[sizeof(((struct logto_error *)0)->message)];
    uint32_t admin_gid, victim_uid;
    struct logto_error err = { 0 };
    int evicted = 0;

    setup();
    CHECK_INT(logto_identity_hash_id("logto-gid:role:", "admin", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &admin_gid, &err),
              0);
    CHECK_INT(logto_identity_hash_id("logto-uid:", "victim000001", LOGTO_ID_MIN_DEFAULT,
                                     LOGTO_ID_MAX_DEFAULT, &victim_uid, &err),
              0);

    /* mallory signs in first with gidNumber = the admin role group's GID, thief with uidNumber =
     * victim's hashed UID: nothing in the snapshot stops them yet. */
    snprintf(text, sizeof(text),
             "{\"sub\":\"mallory00001\",\"username\":\"mallory\","
             "\"custom_data\":{\"gidNumber\":%u}}",
             admin_gid);
    CHECK_INT(signin_into(dir, text, &evicted, msg, sizeof(msg)), 0);
    snprintf(text, sizeof(text),
             "{\"sub\":\"thief0000001\",\"username\":\"thief\","
             "\"custom_data\":{\"uidNumber\":%u}}",
             victim_uid);
    CHECK_INT(signin_into(dir, text, &evicted, msg, sizeof(msg)), 0);
    CHECK_INT(dir->n_users, 2);

    /* An admin signs in: the role group takes its GID back; mallory goes, logged. */
    logbuf[0] = '\0';
    CHECK_INT(signin_into(dir,
                          "{\"sub\":\"keeper000001\",\"username\":\"keeper\","
                          "\"roles\":[\"admin\"]}",
                          &evicted, msg, sizeof(msg)),
              0);
    CHECK_INT(evicted, 1);
    CHECK_CONTAINS(logbuf, "directory-evict user=mallory sub=mallory00001 by=keeper");
    CHECK(logto_directory_find_user(dir, "mallory00001") == NULL);
    /* victim signs in: thief goes, victim keeps the hashed UID. */
    CHECK_INT(signin_into(dir, "{\"sub\":\"victim000001\",\"username\":\"victim\"}", &evicted, msg,
                          sizeof(msg)),
              0);
    CHECK_INT(evicted, 1);
    CHECK(logto_directory_find_user(dir, "thief0000001") == NULL);
    CHECK(logto_directory_find_user(dir, "victim000001") &&
          logto_directory_find_user(dir, "victim000001")->uid == victim_uid);

    /* Now both try again: refused, with the holder named; the others stay. */
    snprintf(text, sizeof(text),
             "{\"sub\":\"mallory00001\",\"username\":\"mallory\","
             "\"custom_data\":{\"gidNumber\":%u}}",
             admin_gid);
    CHECK_INT(signin_into(dir, text, &evicted, msg, sizeof(msg)), -LOGTO_E_COLLISION);
    CHECK_CONTAINS(msg, "clashes with role group logto-admin");
    snprintf(text, sizeof(text),
             "{\"sub\":\"thief0000001\",\"username\":\"thief\","
             "\"custom_data\":{\"uidNumber\":%u}}",
             victim_uid);
    CHECK_INT(signin_into(dir, text, &evicted, msg, sizeof(msg)), -LOGTO_E_COLLISION);
    CHECK_CONTAINS(msg, "is already held by victim");
    CHECK_INT(dir->n_users, 2);
    CHECK(logto_directory_validate(dir, NULL) == 0);
    /* A chosen ID of a user who holds it meets another chosen ID: no eviction (both chosen). */
    snprintf(text, sizeof(text),
             "{\"sub\":\"other0000001\",\"username\":\"other\","
             "\"custom_data\":{\"uidNumber\":%u}}",
             victim_uid);
    CHECK_INT(signin_into(dir, text, &evicted, msg, sizeof(msg)), -LOGTO_E_COLLISION);
    CHECK(logto_directory_find_user(dir, "victim000001") != NULL);
}

/* The clash policy over the groups of many users, as sync applies it. */
/* [organization ID] group = acme: the organization's group is acme (the ID's GID), its role
 * groups acme-<role>; other organizations keep the ID form. A role named like an organization
 * role's group (empty role prefix) loses that name, the organization role's group keeps it. */
static void test_org_group_names(void)
{
    struct logto_org_group acme = { .id = S("pbl95zlwkzx4"), .group = S("acme") };
    struct logto_org_group *orgs[] = { &acme };
    const struct logto_dir_group *a, *ar, *q, *qr;
    struct logto_dir_group *g;
    struct logto_error err = { 0 };
    uint32_t gid;
    size_t n;

    setup();
    cfg.org_groups = orgs;
    cfg.n_org_groups = 1;
    cfg.role_group_prefix = NULL;
    cfg.org_role_group_prefix = S("org-");
    groups_of("{\"sub\":\"s\",\"username\":\"alice\",\"roles\":[\"org-q1-admin\"],"
              "\"organizations\":[\"pbl95zlwkzx4\",\"q1\"],"
              "\"organization_roles\":[\"pbl95zlwkzx4:admin\",\"q1:admin\"]}",
              &g, &n, 0);
    CHECK_INT(n, 5);
    a = find_group(g, n, "acme");
    ar = find_group(g, n, "acme-admin");
    q = find_group(g, n, "org-q1");
    qr = find_group(g, n, "org-q1-admin");
    CHECK(a && ar && q && qr);
    CHECK(find_group(g, n, "org-pbl95zlwkzx4") == NULL);
    if (a && ar && qr) {
        CHECK_INT(a->kind, LOGTO_GROUP_ORG);
        CHECK_STR(a->source, "pbl95zlwkzx4");
        CHECK_INT(logto_identity_hash_id("logto-gid:org:", "pbl95zlwkzx4", LOGTO_ID_MIN_DEFAULT,
                                         LOGTO_ID_MAX_DEFAULT, &gid, &err),
                  0);
        CHECK_INT(a->gid, gid); /* naming it changes the name only */
        CHECK_INT(ar->kind, LOGTO_GROUP_ORG_ROLE);
        CHECK_STR(ar->source, "pbl95zlwkzx4:admin");
        CHECK_INT(qr->kind, LOGTO_GROUP_ORG_ROLE); /* not the hostile role's */
    }
    CHECK_INT(log_count("identity-skip-group"), 1);
    CHECK_INT(log_count("kind=role source=\"org-q1-admin\""), 1);
    logto_identity_groups_free(g, n);
}

static void test_group_clashes(void)
{
    struct logto_dir_group g[] = {
        /* 0, 1: private groups */
        { .name = S("alice"), .gid = 2000001, .kind = LOGTO_GROUP_PRIVATE, .source = S("sa") },
        { .name = S("bob"), .gid = 2000002, .kind = LOGTO_GROUP_PRIVATE, .source = S("sb") },
        /* 2: a role named like alice (empty prefix): the role group stays, alice's goes */
        { .name = S("alice"), .gid = 2000003, .kind = LOGTO_GROUP_ROLE, .source = S("alice") },
        /* 3, 4: "admin" and "Admin" sanitise alike: both go */
        { .name = S("admin"), .gid = 2000004, .kind = LOGTO_GROUP_ROLE, .source = S("admin") },
        { .name = S("admin"), .gid = 2000005, .kind = LOGTO_GROUP_ROLE, .source = S("Admin") },
        /* 5, 6: one role held by two users: the same group, no clash */
        { .name = S("ops"), .gid = 2000006, .kind = LOGTO_GROUP_ROLE, .source = S("ops") },
        { .name = S("ops"), .gid = 2000006, .kind = LOGTO_GROUP_ROLE, .source = S("ops") },
        /* 7, 8: two users whose private groups share a name: both go */
        { .name = S("gus"), .gid = 2000007, .kind = LOGTO_GROUP_PRIVATE, .source = S("sg1") },
        { .name = S("gus"), .gid = 2000008, .kind = LOGTO_GROUP_PRIVATE, .source = S("sg2") },
        /* 9, 10: a GID shared by an organization group and a role group: the role group goes */
        { .name = S("org-x"), .gid = 2000009, .kind = LOGTO_GROUP_ORG, .source = S("x") },
        { .name = S("dev"), .gid = 2000009, .kind = LOGTO_GROUP_ROLE, .source = S("dev") },
        /* 11: an organization group with bob's private GID: it stays, bob's group goes */
        { .name = S("org-y"), .gid = 2000002, .kind = LOGTO_GROUP_ORG, .source = S("y") },
    };
    static const bool marked[] = { true,  true, false, true,  true, false,
                                   false, true, true,  false, true, false };
    const char *why[ELEMENTSOF(g)];
    struct logto_error err = { 0 };

    CHECK_INT(logto_identity_group_clashes(g, ELEMENTSOF(g), why, &err), 7);
    for (size_t i = 0; i < ELEMENTSOF(g); i++) {
        if ((why[i] != NULL) != marked[i])
            fprintf(stderr, "group %zu (%s): %s\n", i, g[i].name, why[i] ? why[i] : "kept");
        CHECK((why[i] != NULL) == marked[i]);
    }
    CHECK_CONTAINS(why[3], "name clashes");
    CHECK_CONTAINS(why[10], "GID clashes");

    /* The verdict does not depend on the order groups arrive in. */
    struct logto_dir_group rev[ELEMENTSOF(g)];
    const char *why_rev[ELEMENTSOF(g)];
    for (size_t i = 0; i < ELEMENTSOF(g); i++)
        rev[i] = g[ELEMENTSOF(g) - 1 - i];
    CHECK_INT(logto_identity_group_clashes(rev, ELEMENTSOF(g), why_rev, &err), 7);
    for (size_t i = 0; i < ELEMENTSOF(g); i++)
        CHECK((why_rev[ELEMENTSOF(g) - 1 - i] != NULL) == marked[i]);
}

TEST_MAIN(TEST(test_names), TEST(test_name_chain_config), TEST(test_name_owner), TEST(test_uids),
          TEST(test_uid_hash), TEST(test_gecos), TEST(test_home_shell), TEST(test_overrides),
          TEST(test_lists), TEST(test_caps), TEST(test_reserved_names), TEST(test_check_local),
          TEST(test_file_has_user), TEST(test_groups), TEST(test_mgmt), TEST(test_collisions),
          TEST(test_check_directory), TEST(test_chosen_ids_signin), TEST(test_org_group_names),
          TEST(test_group_clashes))
