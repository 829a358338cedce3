/* SPDX-License-Identifier: MIT */
/*
 * fuzz_claims: a JSON object through the identity mapping, as verified claims (Logto and generic
 * profile) and as a Management API user, both ways the code takes one: sign-in with the
 * management password method (logto_mgmt_user_claims, then the claims mapping) and sync
 * (logto_identity_from_mgmt). The object is the user itself, or {"user": {...}, "roles": [role
 * objects], "organizations": [organization objects with organizationRoles]}.
 *
 * What an accepted identity must satisfy: a valid name, unreserved IDs, absolute home and shell;
 * the name follows the rules of identity.h (from a name claim: that claim folded, ranked
 * identical or folded exactly as it compares; from an e-mail: a verified address whose domain
 * is listed in email_domains, the local part folded), and the ownership rule of owners.h is
 * consistent on it (a sole claimant owns the name; two identical claims block it; the order of
 * the claimants never matters); its groups and the collision checks run on it; and when both
 * Management API paths accept a user, they agree on the identity, its name rank included
 * (otherwise sign-in and sync would disagree about who it is). A refusal carries a message
 * without control characters.
 * Built as fuzz_claims_oom too, with allocation failures: then only crashes and leaks count.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "identity.h"
#include "json.h"
#include "mgmt.h"
#include "names.h"
#include "owners.h"
#include "util.h"

#include "fuzz.h"

static struct logto_ctx logto_ctx, generic_ctx;
static bool injecting; /* built with failmalloc: allocations may fail, so do not judge results */

static void setup(void)
{
    fuzz_ctx_init(&logto_ctx, fuzz_config("[logto]\nendpoint = https://auth.example.com\n"
                                          "client_id = device-app\n"
                                          "[identity]\nrole_group_prefix = role-\n"
                                          "email_domains = example.com EXAMPLE.org\n"));
    fuzz_ctx_init(&generic_ctx, fuzz_config("[logto]\nprofile = generic\n"
                                            "issuer = https://sso.example.com/realms/staff\n"
                                            "client_id = linux-hosts\n"
                                            "[identity]\ngroups_claim = groups\n"
                                            "email_domains = example.com\n"
                                            "groups = roles organizations organization_roles\n"));
}

static uint32_t seed_of(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

static void check_identity(const struct logto_ctx *ctx, const struct logto_identity *id)
{
    const struct logto_identity *pair[2] = { id, id };
    struct logto_identity_collision *coll = NULL;
    struct logto_dir_group *groups = NULL;
    struct logto_error err = { 0 };
    size_t n = 0, n_coll = 0;

    if (!injecting && (!logto_name_valid(id->name) || logto_id_reserved(id->uid) ||
                       logto_id_reserved(id->gid) || !id->home || id->home[0] != '/' ||
                       !id->shell || id->shell[0] != '/' || !id->sub || !id->sub[0]))
        abort();
    if (logto_identity_groups(ctx, id, &groups, &n, &err) == 0) {
        const char **why = calloc(n + 1, sizeof(*why));
        if (why && logto_identity_group_clashes(groups, n, why, &err) < 0 && !injecting)
            abort();
        free(why);
        logto_identity_groups_free(groups, n);
    }
    (void)logto_identity_check_local(ctx, id, &err);
    if (logto_identity_find_collisions(pair, 2, &coll, &n_coll, &err) == 0) {
        if (n_coll == 0 && !injecting)
            abort(); /* the same identity twice always collides */
        free(coll);
    }
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* A refusal says why, on one line. */
static void check_refusal(int r, const struct logto_error *err)
{
    if (injecting || r != -LOGTO_E_IDENTITY)
        return;
    if (!err->message[0] || has_control(err->message))
        abort();
}

static bool domain_listed(const struct logto_ctx *ctx, const char *domain)
{
    for (size_t i = 0; ctx->cfg->email_domains && ctx->cfg->email_domains[i]; i++)
        if (strcasecmp(ctx->cfg->email_domains[i], domain) == 0)
            return true;
    return false;
}

/* The name came from where identity.h says it may (claims input: claim values are at hand). */
static void check_name_source(const struct logto_ctx *ctx, const json_t *claims,
                              const struct logto_identity *id)
{
    char folded[LOGTO_NAME_MAX + 1];
    const char *email = json_string_value(json_object_get(claims, "email")), *at;

    if (injecting)
        return;
    if (id->name_rank == LOGTO_NAME_EMAIL) {
        /* verified, listed domain, the local part folded */
        if (!email || !json_is_true(json_object_get(claims, "email_verified")) ||
            !(at = strrchr(email, '@')) || !domain_listed(ctx, at + 1) ||
            (size_t)(at - email) != strlen(id->name) ||
            strncasecmp(email, id->name, strlen(id->name)) != 0)
            abort();
        return;
    }
    /* A name claim: the one whose value folds to the name; identical iff ranked so. */
    bool found = false;
    for (size_t i = 0; ctx->cfg->name_claims && ctx->cfg->name_claims[i] && !found; i++) {
        const char *v = json_string_value(json_object_get(claims, ctx->cfg->name_claims[i]));
        if (strcmp(ctx->cfg->name_claims[i], "email") == 0 || !v ||
            logto_name_fold(v, folded, sizeof(folded), NULL) < 0 || strcmp(folded, id->name))
            continue;
        found = true;
        if ((strcmp(v, id->name) == 0) != (id->name_rank == LOGTO_NAME_EXACT))
            abort();
    }
    if (!found)
        abort();
}

/* The ownership rule on this identity: a sole claimant owns its name; two identical claims
 * block it; an identical claim beats any other; the claimants' order never matters. */
static void check_owner_rule(const struct logto_identity *id)
{
    struct logto_identity other = *id;
    const struct logto_identity *one[1] = { id }, *two[2] = { id, &other },
                                *rev[2] = { &other, id };

    if (injecting)
        return;
    if (logto_owner_pick(one, 1) != 0)
        abort();
    for (int rank = LOGTO_NAME_EXACT; rank <= LOGTO_NAME_EMAIL; rank++) {
        ssize_t a, b;
        other.name_rank = (enum logto_name_rank)rank;
        a = logto_owner_pick(two, 2);
        b = logto_owner_pick(rev, 2);
        if ((a < 0) != (b < 0) || (a >= 0 && two[a] != rev[b]))
            abort(); /* the order decided */
        bool id_exact = id->name_rank == LOGTO_NAME_EXACT, other_exact = rank == LOGTO_NAME_EXACT;
        ssize_t want = id_exact == other_exact ? -1 : id_exact ? 0 : 1;
        if (a != want)
            abort();
    }
}

static void from_claims(const struct logto_ctx *ctx, const json_t *claims)
{
    struct logto_identity *id = NULL;
    struct logto_error err = { 0 };
    int r = logto_identity_from_claims(ctx, claims, &id, &err);

    check_refusal(r, &err);
    if (r < 0)
        return;
    check_identity(ctx, id);
    check_name_source(ctx, claims, id);
    check_owner_rule(id);
    logto_identity_free(id);
}

static bool strv_equal(char **a, char **b)
{
    size_t i = 0;

    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return (!a || !a[i]) && (!b || !b[i]);
}

static bool same_identity(const struct logto_identity *a, const struct logto_identity *b)
{
    return logto_streq(a->sub, b->sub) && logto_streq(a->name, b->name) &&
           a->name_rank == b->name_rank && a->uid == b->uid && a->gid == b->gid &&
           logto_streq(a->home, b->home) && logto_streq(a->shell, b->shell) &&
           logto_streq(a->gecos, b->gecos) && strv_equal(a->roles, b->roles) &&
           strv_equal(a->orgs, b->orgs) && strv_equal(a->org_roles, b->org_roles);
}

/* The sync inputs, as logto_mgmt_fetch_directory hands them over: names only. */
struct mgmt_input {
    const char **roles;
    struct logto_org_membership *orgs;
    const char ***org_roles;
    size_t n_orgs;
};

static void mgmt_input_free(struct mgmt_input *in)
{
    for (size_t i = 0; i < in->n_orgs; i++)
        free(in->org_roles[i]);
    free(in->org_roles);
    free(in->orgs);
    free(in->roles);
}

/* Called only after logto_mgmt_user_claims accepted roles and orgs, so their shape is known. */
static void mgmt_input(const json_t *roles, const json_t *orgs, struct mgmt_input *in)
{
    size_t nr = json_array_size(roles), no = json_array_size(orgs);

    *in = (struct mgmt_input){ 0 };
    in->roles = calloc(nr + 1, sizeof(*in->roles));
    in->orgs = calloc(no + 1, sizeof(*in->orgs));
    in->org_roles = calloc(no + 1, sizeof(*in->org_roles));
    if (!in->roles || !in->orgs || !in->org_roles)
        fuzz_die("out of memory");
    for (size_t i = 0; i < nr; i++)
        in->roles[i] = json_string_value(json_object_get(json_array_get(roles, i), "name"));
    for (size_t i = 0; i < no; i++) {
        const json_t *org = json_array_get(orgs, i);
        const json_t *oroles = json_object_get(org, "organizationRoles");
        size_t k = json_array_size(oroles);

        in->org_roles[i] = calloc(k + 1, sizeof(char *));
        if (!in->org_roles[i])
            fuzz_die("out of memory");
        for (size_t j = 0; j < k; j++)
            in->org_roles[i][j] =
                json_string_value(json_object_get(json_array_get(oroles, j), "name"));
        in->orgs[i] = (struct logto_org_membership){
            .id = json_string_value(json_object_get(org, "id")),
            .name = json_string_value(json_object_get(org, "name")),
            .roles = in->org_roles[i],
        };
        in->n_orgs++;
    }
}

static void from_mgmt(const json_t *doc)
{
    const json_t *user = json_object_get(doc, "user");
    const json_t *roles = json_object_get(doc, "roles");
    const json_t *orgs = json_object_get(doc, "organizations");
    struct logto_identity *signin = NULL, *sync = NULL;
    struct logto_error err = { 0 };
    json_t *claims = NULL;
    struct mgmt_input in;

    if (!json_is_object(user)) {
        user = doc;
        roles = orgs = NULL;
    }
    /* Sign-in with password_method = management. */
    if (logto_mgmt_user_claims(user, roles, orgs, &claims, &err) < 0) {
        (void)logto_identity_from_mgmt(&logto_ctx, user, NULL, NULL, 0, &sync, &err);
        logto_identity_free(sync);
        return;
    }
    if (logto_identity_from_claims(&logto_ctx, claims, &signin, &err) == 0)
        check_identity(&logto_ctx, signin);
    json_decref(claims);

    /* Sync. */
    fuzz_failmalloc_stop();
    mgmt_input(json_is_array(roles) ? roles : NULL, json_is_array(orgs) ? orgs : NULL, &in);
    fuzz_failmalloc_start(seed_of((const uint8_t *)&in, sizeof(in)));
    int r = logto_identity_from_mgmt(&logto_ctx, user, roles ? in.roles : NULL, in.orgs, in.n_orgs,
                                     &sync, &err);
    check_refusal(r, &err);
    if (r == 0) {
        check_identity(&logto_ctx, sync);
        check_owner_rule(sync);
        if (signin && !injecting && !same_identity(signin, sync))
            abort(); /* sign-in and sync map this user differently */
    }
    fuzz_failmalloc_stop();
    mgmt_input_free(&in);
    logto_identity_free(signin);
    logto_identity_free(sync);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_error err = { 0 };
    json_t *doc = NULL;

    if (!logto_ctx.cfg)
        setup();
    /* Claims come from a verified token or userinfo: the limits of a provider answer. */
    if (logto_json_parse_object((const char *)data, size, 1024 * 1024, LOGTO_JSON_MAX_DEPTH,
                                "the claims", &doc, &err) < 0)
        return 0;
    fuzz_failmalloc_start(seed_of(data, size));
    injecting = fuzz_failmalloc_active();
    from_claims(&logto_ctx, doc);
    from_claims(&generic_ctx, doc);
    from_mgmt(doc);
    fuzz_failmalloc_stop();
    json_decref(doc);
    return 0;
}
