/* SPDX-License-Identifier: MIT */
/* Claims (or a Management API user) -> POSIX identity; derived groups; collision policy. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identity.h"
#include "localdb.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "memory.h"
#include "names.h"
#include "text.h"
#include "util.h"

#define HOME_MAX        1024
#define SHELL_MAX       256
#define SHELLS_MAX_SIZE (1024u * 1024)
#define ORG_NAME_MAX    128

/* ------------------------------------------------------------------------------------------ */
/* The mapping state: where messages and log lines go, and how fields are named in them. */

struct mapper {
    const struct logto_ctx *ctx;
    const struct logto_config *cfg;
    bool mgmt; /* input came from the Management API: name fields, not claims */
    const char *sub;
    struct logto_error *err;
};

/* How a claim is called in messages: Management API input names the user object's field. */
static const char *label(const struct mapper *m, const char *claim, char *buf, size_t n)
{
    static const struct {
        const char *claim, *field;
    } fields[] = {
        { "sub", "field id" },
        { "username", "field username" },
        { "email", "field primaryEmail" },
        { "name", "field name" },
        { "phone_number", "field primaryPhone" },
        { "custom_data", "field customData" },
        { "preferred_username", "field profile.preferredUsername" },
        { "roles", "role list" },
        { "organizations", "organization list" },
        { "organization_roles", "organization role list" },
        { "organization_data", "organization list" },
    };
    if (m->mgmt)
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
            if (strcmp(fields[i].claim, claim) == 0)
                return fields[i].field;
    snprintf(buf, n, "%s %s", m->mgmt ? "field" : "claim", claim);
    return buf;
}

/* Same for a custom_data key: "custom_data.uidNumber" or "customData.uidNumber". */
static const char *custom_label(const struct mapper *m, const char *key, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", m->mgmt ? "customData" : "custom_data", key);
    return buf;
}

/* A value quoted in a message: control characters neutralised, length capped. */
static const char *quote(const char *s, char *buf, size_t n)
{
    return logto_log_sanitize(buf, n, s);
}

static int refuse(const struct mapper *m, const char *fmt, ...) _printf_(2, 3);
static int refuse(const struct mapper *m, const char *fmt, ...)
{
    char msg[sizeof(m->err->message)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return logto_error_set(m->err, LOGTO_E_IDENTITY, "%s", msg);
}

static void log_skip_value(const struct mapper *m, const char *what, const char *value,
                           const char *why)
{
    logto_log(&m->ctx->log, LOG_NOTICE,
              "identity-skip-value sub=%s claim=%s value=\"%.64s\" reason=\"%s\"",
              m->sub ? m->sub : "?", what, value, why);
}

/* A claim that is absent or JSON null counts as absent. */
static json_t *get_opt(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

/* The C string of a JSON string; refuses other types and embedded NUL characters (a NUL would
 * let "alice\u0000:x" pass as "alice"). */
static int string_of(const struct mapper *m, const json_t *v, const char *what, const char **ret)
{
    const char *s;

    if (!json_is_string(v))
        return refuse(m, "%s is not a string", what);
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return refuse(m, "%s contains a NUL character", what);
    *ret = s;
    return 0;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Hashing into the ID range. */

static void id_range(const struct logto_config *cfg, uint32_t *ret_min, uint32_t *ret_max)
{
    if (cfg->id_min == 0 && cfg->id_max == 0) {
        *ret_min = LOGTO_ID_MIN_DEFAULT;
        *ret_max = LOGTO_ID_MAX_DEFAULT;
    } else {
        *ret_min = cfg->id_min;
        *ret_max = cfg->id_max;
    }
}

int logto_identity_hash_id(const char *domain, const char *value, uint32_t id_min, uint32_t id_max,
                           uint32_t *ret, struct logto_error *err)
{
    uint8_t md[LOGTO_SHA256_SIZE];
    struct logto_sha256 sha;
    uint64_t h = 0;

    if (id_min == 0 || id_max < id_min || id_max > INT32_MAX)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "ID range %u-%u is invalid (need 1 <= min <= max <= 2147483647)",
                               id_min, id_max);
    logto_sha256_init(&sha);
    logto_sha256_update(&sha, domain, strlen(domain));
    logto_sha256_update(&sha, value, strlen(value));
    logto_sha256_final(&sha, md);
    for (int i = 0; i < 8; i++)
        h = h << 8 | md[i];
    /* The modulo bias is below 2^-35 for a range of 2^28 IDs: negligible. */
    *ret = id_min + (uint32_t)(h % ((uint64_t)id_max - id_min + 1));
    return 0;
}

int logto_identity_uid_of_sub(const struct logto_config *cfg, const char *sub, unsigned k,
                              uint32_t *ret, struct logto_error *err)
{
    char value[LOGTO_IDENTITY_MAX_SUB + 16];
    uint32_t lo, hi;

    id_range(cfg, &lo, &hi);
    if (k == 0)
        return logto_identity_hash_id("logto-uid:", sub, lo, hi, ret, err);
    snprintf(value, sizeof(value), "%s#%u", sub, k);
    return logto_identity_hash_id("logto-uid:", value, lo, hi, ret, err);
}

bool logto_identity_uid_derived(const struct logto_config *cfg, const char *sub, uint32_t uid,
                                unsigned *ret_k)
{
    /* The plain hash first: --persist-uids writes it for every user; probe values are few. */
    for (unsigned k = 0; k <= LOGTO_UID_PROBES; k++) {
        uint32_t v;
        if (logto_identity_uid_of_sub(cfg, sub, k, &v, NULL) < 0)
            return false;
        if (v == uid) {
            if (ret_k)
                *ret_k = k;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* sub and the name */

/* Printable ASCII without spaces or ':' (sub ends up in snapshot records and log lines). */
static bool sub_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > LOGTO_IDENTITY_MAX_SUB)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == ':')
            return false;
    return true;
}

/* Whether sub may appear in a path: Logto IDs are [a-z0-9]; generic subs [A-Za-z0-9_.-]. */
static bool sub_path_safe(const char *s, enum logto_profile profile)
{
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (profile == LOGTO_PROFILE_GENERIC)
            ok = ok || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int map_sub(struct mapper *m, const json_t *claims, struct logto_identity *id)
{
    char lb[64], qb[80];
    const char *what = label(m, "sub", lb, sizeof(lb)), *s;
    json_t *v = json_object_get(claims, "sub");
    int r;

    if (!v)
        return refuse(m, "%s is missing", what);
    r = string_of(m, v, what, &s);
    if (r < 0)
        return r;
    if (!sub_valid(s))
        return refuse(m, "%s '%s' is not 1-%d printable characters without ':'", what,
                      quote(s, qb, sizeof(qb)), LOGTO_IDENTITY_MAX_SUB);
    id->sub = strdup(s);
    if (!id->sub)
        return LOGTO_OOM(m->err);
    m->sub = id->sub;
    return 0;
}

/* Whether domain (after the '@') is one of [identity] email_domains, ignoring case. */
static bool domain_listed(const struct logto_config *cfg, const char *domain)
{
    for (size_t i = 0; cfg->email_domains && cfg->email_domains[i]; i++)
        if (strcasecmp(cfg->email_domains[i], domain) == 0)
            return true;
    return false;
}

/*
 * Why an e-mail cannot give a name (NULL: it can): anyone can choose an address, so only a
 * verified one (email_verified true: Logto says so for every primaryEmail, which Logto sets only
 * after a verification code, from a connector or by an administrator) in a domain the
 * administrator vouches for. A wrongly typed email_verified refuses the identity (*r < 0).
 */
static const char *email_unusable(const struct mapper *m, const json_t *claims, const char *value,
                                  int *r)
{
    json_t *v = json_object_get(claims, "email_verified");
    const char *at = strrchr(value, '@');

    *r = 0;
    if (v && !json_is_boolean(v) && !json_is_null(v)) {
        *r = refuse(m, "claim email_verified is not a boolean");
        return "";
    }
    if (!m->cfg->email_domains || !m->cfg->email_domains[0])
        return "[identity] email_domains is empty, so e-mail addresses give no user names";
    if (!v || !json_is_true(v))
        return "it is not verified (email_verified is not true)";
    if (!at || !domain_listed(m->cfg, at + 1))
        return "its domain is not listed in [identity] email_domains";
    return NULL;
}

/* Why name may never be a user or a group here, from what needs no file: the built-in system
 * names (names.h) and [identity] reserved_names. NULL: it may. */
static const char *reserved_name(const struct logto_config *cfg, const char *name)
{
    const char *why = logto_name_system_reason(name);

    if (!why && cfg && logto_strv_contains(cfg->reserved_names, name))
        why = "is listed in [identity] reserved_names";
    return why;
}

/* Why name may never be a user name: reserved, or it starts with the prefix of a kind of group
 * that is made, or is an [organization ID] group or one of its role groups (the user's own group
 * would then be such a group, or look like one). */
static const char *user_name_problem(const struct logto_config *cfg, const char *name, char *buf,
                                     size_t n)
{
    const struct {
        const char *prefix, *key;
        bool made;
    } kinds[] = {
        { cfg->role_group_prefix, "role_group_prefix",
          cfg->profile == LOGTO_PROFILE_GENERIC ? cfg->groups_claim != NULL
                                                : cfg->groups_from_roles },
        { cfg->org_group_prefix, "org_group_prefix", cfg->groups_from_orgs },
        { cfg->org_role_group_prefix, "org_role_group_prefix", cfg->groups_from_org_roles },
    };
    const char *why = reserved_name(cfg, name);

    if (why)
        return why;
    for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
        if (kinds[i].made && kinds[i].prefix && kinds[i].prefix[0] &&
            logto_startswith(name, kinds[i].prefix)) {
            snprintf(buf, n, "starts with %s '%s' (such names are groups)", kinds[i].key,
                     kinds[i].prefix);
            return buf;
        }
    for (size_t i = 0;
         (cfg->groups_from_orgs || cfg->groups_from_org_roles) && i < cfg->n_org_groups; i++) {
        const char *group = cfg->org_groups[i]->group;
        size_t len = group ? strlen(group) : 0;
        if (len && strncmp(name, group, len) == 0 && (!name[len] || name[len] == '-')) {
            snprintf(buf, n, "is the group '%s' of [organization %s], or one of its role groups",
                     group, cfg->org_groups[i]->id);
            return buf;
        }
    }
    return NULL;
}

static int name_from_value(struct mapper *m, const char *claim, const char *what, const char *value,
                           struct logto_identity *id)
{
    char folded[LOGTO_NAME_MAX + 1], local[LOGTO_NAME_MAX + 1], qb[80], pb[128];
    const char *why = NULL, *candidate = value;
    bool email = strcmp(claim, "email") == 0;

    if (email) {
        const char *at = strrchr(value, '@');
        size_t len = at ? (size_t)(at - value) : 0;
        if (len == 0)
            return refuse(m, "%s '%s' is not an email address with a local part", what,
                          quote(value, qb, sizeof(qb)));
        if (len > LOGTO_NAME_MAX)
            return refuse(m,
                          "%s '%s' does not give a valid user name: local part is longer "
                          "than 32 characters",
                          what, quote(value, qb, sizeof(qb)));
        memcpy(local, value, len);
        local[len] = '\0';
        candidate = local;
    }
    if (logto_name_fold(candidate, folded, sizeof(folded), &why) < 0)
        return refuse(m, "%s '%s' does not give a valid user name: %s", what,
                      quote(value, qb, sizeof(qb)), why);
    /* Also refused by the local-files check; kept here so no path can ever map to root. */
    if (strcmp(folded, "root") == 0)
        return refuse(m, "%s maps to the name root, which is never served", what);
    why = user_name_problem(m->cfg, folded, pb, sizeof(pb));
    if (why)
        return refuse(m, "%s maps to the name %s, which is never served: it %s", what, folded, why);
    id->name = strdup(folded);
    id->name_from = logto_asprintf("%s%s", what, email ? " (local part)" : "");
    id->name_claim = strdup(quote(value, qb, sizeof(qb)));
    if (!id->name || !id->name_from || !id->name_claim)
        return LOGTO_OOM(m->err);
    id->name_rank = email                        ? LOGTO_NAME_EMAIL
                    : strcmp(value, folded) == 0 ? LOGTO_NAME_EXACT
                                                 : LOGTO_NAME_FOLDED;
    return 0;
}

/*
 * The first claim of the chain that gives an acceptable name. A claim that is present but
 * malformed refuses the identity; an e-mail that may not give names (email_unusable) is passed
 * over, and when nothing else gives a name the refusal says why each claim did not.
 */
static int map_name(struct mapper *m, const json_t *claims, struct logto_identity *id)
{
    static const char *const logto_chain[] = { "username", "email", NULL };
    static const char *const generic_chain[] = { "preferred_username", "email", NULL };
    const char *const *chain = (const char *const *)m->cfg->name_claims;
    char lb[96], why[400] = "", qb[80];
    size_t o = 0;
    int r;

    if (!chain || !chain[0])
        chain = m->cfg->profile == LOGTO_PROFILE_GENERIC ? generic_chain : logto_chain;
    for (size_t i = 0; chain[i]; i++) {
        const char *what = label(m, chain[i], lb, sizeof(lb)), *s = "", *unusable = NULL;
        json_t *v = get_opt(claims, chain[i]);
        if (v) {
            r = string_of(m, v, what, &s);
            if (r < 0)
                return r;
            if (strcmp(chain[i], "email") == 0) {
                unusable = email_unusable(m, claims, s, &r);
                if (r < 0)
                    return r;
            }
            if (!unusable)
                return name_from_value(m, chain[i], what, s, id);
        }
        /* absent or null (Logto: e-mail-only users have username null), or not usable */
        if (o < sizeof(why))
            o += (size_t)snprintf(why + o, sizeof(why) - o, "%s%s %s%s%s%s", o ? "; " : "", what,
                                  v ? "'" : "is absent", v ? quote(s, qb, sizeof(qb)) : "",
                                  v ? "' is not used: " : "", unusable ? unusable : "");
    }
    return refuse(m, "no acceptable user name: %s", why);
}

/* ------------------------------------------------------------------------------------------ */
/* UID, GID */

/* A canonical decimal: digits only, no sign, no leading zero. */
static int parse_id_string(const char *s, uint64_t *ret)
{
    if (!s[0] || (s[0] == '0' && s[1]) || strlen(s) > 10)
        return -1;
    return logto_parse_u64(s, 0, UINT32_MAX, ret);
}

/* custom_data[key] as an ID, if present. 0: *found tells; <0: refused. */
static int id_from_custom(const struct mapper *m, const json_t *custom, const char *key,
                          uint32_t *ret, bool *found)
{
    char lb[128], qb[40];
    const char *what;
    json_t *v;
    uint64_t u;

    *found = false;
    if (!key || !custom || !(v = get_opt(custom, key)))
        return 0;
    what = custom_label(m, key, lb, sizeof(lb));
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 1 || i > INT32_MAX)
            return refuse(m, "%s %lld is outside 1-2147483647", what, (long long)i);
        u = (uint64_t)i;
    } else if (json_is_string(v)) {
        const char *s;
        int r = string_of(m, v, what, &s);
        if (r < 0)
            return r;
        if (parse_id_string(s, &u) < 0 || u < 1 || u > INT32_MAX)
            return refuse(m, "%s '%s' is not a decimal number in 1-2147483647", what,
                          quote(s, qb, sizeof(qb)));
    } else
        return refuse(m, "%s is neither an integer nor a decimal string", what);
    if (logto_id_reserved((uint32_t)u))
        return refuse(m, "%s %llu is a reserved ID (system, nobody, systemd or container range)",
                      what, (unsigned long long)u);
    *ret = (uint32_t)u;
    *found = true;
    return 0;
}

static int map_ids(struct mapper *m, const json_t *custom, struct logto_identity *id)
{
    uint32_t lo, hi;
    bool found;
    char lb[128];
    int r;

    r = id_from_custom(m, custom, m->cfg->uid_key, &id->uid, &found);
    if (r < 0)
        return r;
    id->uid_custom = found;
    if (found) {
        id->uid_from = strdup(custom_label(m, m->cfg->uid_key, lb, sizeof(lb)));
        /* A UID sync persisted (the hash, or the probe value it moved the user to) is derived
         * from sub, not chosen: it keeps its value against a hash another user computes. */
        id->uid_hashed = logto_identity_uid_derived(m->cfg, id->sub, id->uid, &id->uid_probe);
    } else {
        id_range(m->cfg, &lo, &hi);
        r = logto_identity_hash_id("logto-uid:", id->sub, lo, hi, &id->uid, m->err);
        if (r < 0)
            return r;
        if (logto_id_reserved(id->uid))
            return refuse(m, "hashed UID %u is a reserved ID: fix id_min/id_max (%u-%u)", id->uid,
                          lo, hi);
        id->uid_from = logto_asprintf("hash of sub (%u-%u)", lo, hi);
        id->uid_hashed = true;
    }
    if (!id->uid_from)
        return LOGTO_OOM(m->err);

    r = id_from_custom(m, custom, m->cfg->gid_key, &id->gid, &found);
    if (r < 0)
        return r;
    id->gid_custom = found || id->uid_custom;
    if (found)
        id->gid_from = strdup(custom_label(m, m->cfg->gid_key, lb, sizeof(lb)));
    else {
        id->gid = id->uid;
        id->gid_from = strdup("uid (private group)");
    }
    if (!id->gid_from)
        return LOGTO_OOM(m->err);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* gecos, home, shell */

/*
 * A gecos (or display) string: ':' ends a passwd field and ',' separates gecos subfields, so both
 * become spaces, as do ASCII and C1 control characters (no line can be forged); what else text.h
 * never shows (bidi and other format characters, invalid UTF-8) becomes '?'; leading and
 * trailing spaces are trimmed and the result is cut to max bytes on a UTF-8 character boundary.
 */
static char *clean_text(const char *s, size_t max)
{
    size_t len = strlen(s), o = 0;
    char *out = malloc(len + 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f) {
            out[o++] = ' '; /* U+0080..U+009F */
            i++;
        } else if (c < 0x20 || c == 0x7f || c == ':' || c == ',')
            out[o++] = ' ';
        else
            out[o++] = (char)c;
    }
    o = logto_text_clean_n(out, out, o, 0);
    out[o] = '\0';
    if (o > max) {
        o = max;
        while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
            o--; /* out[o] is a continuation byte: the cut would split a character */
        out[o] = '\0';
    }
    while (o > 0 && out[o - 1] == ' ')
        out[--o] = '\0';
    size_t lead = strspn(out, " ");
    memmove(out, out + lead, o - lead + 1);
    return out;
}

static int map_gecos(struct mapper *m, const json_t *claims, struct logto_identity *id)
{
    const char *claim = m->cfg->gecos_claim ? m->cfg->gecos_claim : LOGTO_GECOS_CLAIM_DEFAULT;
    char lb[96];
    const char *what = label(m, claim, lb, sizeof(lb)), *s = "";
    json_t *v = get_opt(claims, claim);
    int r;

    if (v) {
        r = string_of(m, v, what, &s);
        if (r < 0)
            return r;
    }
    id->gecos = clean_text(s, LOGTO_IDENTITY_MAX_GECOS);
    id->gecos_from = strdup(v ? what : "(none)");
    id->gecos_origin = v ? LOGTO_ORIGIN_IDP : LOGTO_ORIGIN_DEFAULT;
    if (!id->gecos || !id->gecos_from)
        return LOGTO_OOM(m->err);
    return 0;
}

static bool path_chars_ok(const char *p)
{
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == ':' || c == ',')
            return false;
    }
    return true;
}

/* Absolute, without empty, "." or ".." components ("/" alone passes; callers refuse it). */
static bool path_normal(const char *p)
{
    if (p[0] != '/')
        return false;
    if (p[1] == '\0')
        return true;
    for (const char *c = p + 1;;) {
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (!end)
            return true;
        c = end + 1;
    }
}

static int append(char *buf, size_t *o, const char *s)
{
    size_t len = strlen(s);
    if (*o + len >= HOME_MAX)
        return -1;
    memcpy(buf + *o, s, len + 1);
    *o += len;
    return 0;
}

static int map_home(struct mapper *m, struct logto_identity *id)
{
    const char *pattern = m->cfg->home_pattern ? m->cfg->home_pattern : LOGTO_HOME_PATTERN_DEFAULT;
    char buf[HOME_MAX] = "", num[16], qb[80];
    size_t o = 0;

    for (const char *p = pattern; *p; p++) {
        char one[2] = { *p, '\0' };
        const char *piece = one;
        if (*p == '%') {
            switch (*++p) {
            case 'u':
                piece = id->name;
                break;
            case 'U':
                snprintf(num, sizeof(num), "%u", id->uid);
                piece = num;
                break;
            case 's':
                if (!sub_path_safe(id->sub, m->cfg->profile))
                    return refuse(m, "sub '%s' cannot be used in home_pattern (%s)",
                                  quote(id->sub, qb, sizeof(qb)),
                                  m->cfg->profile == LOGTO_PROFILE_GENERIC ? "[A-Za-z0-9_.-]"
                                                                           : "[a-z0-9]");
                piece = id->sub;
                break;
            case '%':
                piece = "%";
                break;
            default:
                return logto_error_set(
                    m->err, LOGTO_E_CONFIG,
                    "home_pattern '%s': unknown %%-sequence (use %%u %%U %%s %%%%)", pattern);
            }
        }
        if (append(buf, &o, piece) < 0)
            return refuse(m, "home directory for %s is too long", id->name);
    }
    if (!path_normal(buf) || !path_chars_ok(buf) || strcmp(buf, "/") == 0)
        return logto_error_set(m->err, LOGTO_E_CONFIG,
                               "home_pattern '%s' gives '%s', not a clean absolute path", pattern,
                               quote(buf, qb, sizeof(qb)));
    id->home = strdup(buf);
    id->home_from = logto_asprintf("home pattern %s", pattern);
    id->home_origin = LOGTO_ORIGIN_DEFAULT;
    return id->home && id->home_from ? 0 : LOGTO_OOM(m->err);
}

static bool shell_chars_ok(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '.' || c == '_' || c == '-' || c == '+'))
            return false;
    }
    return true;
}

/* Whether shell is a line of the shells file. An unreadable file lists nothing. */
static bool shell_listed(const struct mapper *m, const char *shell)
{
    const char *path = m->ctx->shells_path ? m->ctx->shells_path : LOGTO_SHELLS_PATH;
    _cleanup_free_ char *buf = NULL;
    struct logto_error ferr = { 0 };
    bool found = false;

    if (logto_file_read_trusted(path, LOGTO_FILE_PUBLIC, SHELLS_MAX_SIZE, &buf, NULL, &ferr) < 0) {
        logto_log(&m->ctx->log, LOG_WARNING, "identity-shells-unreadable reason=\"%s\"",
                  ferr.message);
        return false;
    }
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        char *l = logto_strip(line);
        found = l[0] != '#' && strcmp(l, shell) == 0;
    }
    return found;
}

static int map_shell(struct mapper *m, const json_t *custom, struct logto_identity *id)
{
    const char *def = m->cfg->default_shell ? m->cfg->default_shell : LOGTO_SHELL_DEFAULT;
    const char *key = m->cfg->shell_key, *why = NULL, *s = NULL;
    char lb[128], qb[80];
    json_t *v = key && custom ? get_opt(custom, key) : NULL;
    int r;

    if (v) {
        const char *what = custom_label(m, key, lb, sizeof(lb));
        r = string_of(m, v, what, &s);
        if (r < 0)
            return r;
        if (strlen(s) >= SHELL_MAX || !path_normal(s) || !shell_chars_ok(s))
            why = "not a clean absolute path";
        else if (!shell_listed(m, s))
            why = "not listed in the shells file";
        if (!why) {
            id->shell = strdup(s);
            id->shell_from = strdup(what);
            id->shell_origin = LOGTO_ORIGIN_IDP;
            return id->shell && id->shell_from ? 0 : LOGTO_OOM(m->err);
        }
        const struct logto_user_override *o = logto_config_user_override(m->cfg, id->name);
        if (!o || !o->shell) /* else moot: the [user NAME] section gives the shell */
            logto_log(&m->ctx->log, LOG_NOTICE,
                      "identity-shell-ignored sub=%s shell=\"%s\" reason=\"%s\" using=%s", id->sub,
                      quote(s, qb, sizeof(qb)), why, def);
    }
    if (!path_normal(def) || !path_chars_ok(def))
        return logto_error_set(m->err, LOGTO_E_CONFIG, "default_shell '%s' is not an absolute path",
                               quote(def, qb, sizeof(qb)));
    id->shell = strdup(def);
    id->shell_origin = LOGTO_ORIGIN_DEFAULT;
    id->shell_from =
        why ? logto_asprintf("default_shell (%s: %s)", lb, why) : strdup("default_shell");
    return id->shell && id->shell_from ? 0 : LOGTO_OOM(m->err);
}

/* ------------------------------------------------------------------------------------------ */
/* [user NAME] overrides */

const char *logto_origin_name(enum logto_field_origin origin)
{
    switch (origin) {
    case LOGTO_ORIGIN_IDP:
        return "idp";
    case LOGTO_ORIGIN_OVERRIDE:
        return "override";
    case LOGTO_ORIGIN_DEFAULT:
        break;
    }
    return "default";
}

static int override_one(char **value, char **from, enum logto_field_origin *origin,
                        const char *with, const char *where)
{
    char *v, *f;

    if (!with)
        return 0;
    v = strdup(with);
    f = strdup(where);
    if (!v || !f) {
        free(v);
        free(f);
        return -1;
    }
    free(*value);
    free(*from);
    *value = v;
    *from = f;
    *origin = LOGTO_ORIGIN_OVERRIDE;
    return 0;
}

/*
 * The administrator's [user NAME] section for the mapped name replaces shell, home and gecos
 * (validated when the configuration was loaded). Keyed by the name the identity provider gave:
 * of several Logto users mapping to one name only the owner is ever served (owners.h), and a
 * local account of that name refuses the Logto one (logto_identity_check_local), so the section
 * never reaches anyone else's entry, and it never creates a user.
 */
static int map_overrides(struct mapper *m, struct logto_identity *id)
{
    const struct logto_user_override *o = logto_config_user_override(m->cfg, id->name);

    if (!o)
        return 0;
    _cleanup_free_ char *where = logto_asprintf("[user %s] at %s:%d", o->name, o->file, o->line);
    if (!where ||
        override_one(&id->shell, &id->shell_from, &id->shell_origin, o->shell, where) < 0 ||
        override_one(&id->home, &id->home_from, &id->home_origin, o->home, where) < 0 ||
        override_one(&id->gecos, &id->gecos_from, &id->gecos_origin, o->gecos, where) < 0)
        return LOGTO_OOM(m->err);
    logto_log_debug(&m->ctx->log, "identity-override sub=%s user=%s shell=%s home=%s gecos=%s",
                    id->sub, id->name, o->shell ? "yes" : "no", o->home ? "yes" : "no",
                    o->gecos ? "yes" : "no");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Lists: roles, organizations, organization roles, groups claim, SSH keys */

/* Organization IDs: Logto's are [a-z0-9]; allow the characters any sane ID scheme uses. */
static bool org_id_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > 128)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* A role name or group value: unique values we compare byte for byte, never parse. */
static const char *value_problem(const char *s)
{
    if (!s[0])
        return "empty";
    if (strlen(s) > LOGTO_IDENTITY_MAX_VALUE)
        return "too long";
    if (has_control(s))
        return "contains control characters";
    return NULL;
}

static const char *org_problem(const char *s)
{
    return org_id_valid(s) ? NULL : "not an organization ID ([A-Za-z0-9_.-], 1-128)";
}

/* "orgId:role": split at the first ':' (organization IDs never contain one). */
static const char *org_role_problem(const char *s)
{
    const char *colon = strchr(s, ':'), *why = value_problem(s);
    char org[130];

    if (why)
        return why;
    if (!colon || colon == s || !colon[1])
        return "not \"orgId:role\"";
    if ((size_t)(colon - s) >= sizeof(org))
        return "organization ID too long";
    memcpy(org, s, (size_t)(colon - s));
    org[colon - s] = '\0';
    return org_id_valid(org) ? NULL : "organization ID part is not valid";
}

typedef const char *(*value_check_fn)(const char *s);

/*
 * A claim that must be an array of strings: absent or null gives an empty list; a wrong type or
 * more than max values refuses the identity; a single bad value is dropped and logged (dropping
 * a role or membership can only take access away). The result is sorted and unique.
 */
static int string_list(const struct mapper *m, const json_t *v, const char *what,
                       value_check_fn check, size_t max, char ***ret)
{
    _cleanup_strv_ char **list = calloc(1, sizeof(char *));
    size_t n;

    if (!list)
        return LOGTO_OOM(m->err);
    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return refuse(m, "%s is not an array", what);
        n = json_array_size(v);
        if (n > max)
            return refuse(m, "%s has %zu values, more than the limit of %zu", what, n, max);
        for (size_t i = 0; i < n; i++) {
            const char *s, *why;
            int r = string_of(m, json_array_get(v, i), what, &s);
            if (r < 0)
                return refuse(m, "%s: value %zu is not a string", what, i);
            why = check(s);
            if (why) {
                log_skip_value(m, what, s, why);
                continue;
            }
            if (logto_strv_push(&list, s) < 0)
                return LOGTO_OOM(m->err);
        }
    }
    logto_strv_sort(list);
    logto_strv_uniq(list);
    *ret = TAKE_PTR(list);
    return 0;
}

static const char *ssh_key_problem(const char *s)
{
    if (!s[0])
        return "empty";
    if (strlen(s) > LOGTO_IDENTITY_MAX_SSH_KEY)
        return "too long";
    if (has_control(s))
        return "contains control characters"; /* a newline would add an authorized_keys line */
    return NULL;
}

static int map_org_names(struct mapper *m, const json_t *claims, struct logto_identity *id)
{
    char lb[96];
    const char *what = label(m, "organization_data", lb, sizeof(lb));
    json_t *v = get_opt(claims, "organization_data");
    size_t n;

    if (!v)
        return 0;
    if (!json_is_array(v))
        return refuse(m, "%s is not an array", what);
    n = json_array_size(v);
    if (n > LOGTO_IDENTITY_MAX_VALUES)
        return refuse(m, "%s has %zu values, more than the limit of %d", what, n,
                      LOGTO_IDENTITY_MAX_VALUES);
    id->org_names = calloc(n ? n : 1, sizeof(*id->org_names));
    if (!id->org_names)
        return LOGTO_OOM(m->err);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i), *jid, *jname;
        const char *oid, *oname = "";
        if (!json_is_object(e))
            return refuse(m, "%s: entry %zu is not an object", what, i);
        jid = json_object_get(e, "id");
        jname = get_opt(e, "name");
        if (!jid || string_of(m, jid, what, &oid) < 0 ||
            (jname && string_of(m, jname, what, &oname) < 0))
            return refuse(m, "%s: entry %zu needs a string id and name", what, i);
        /* Display names only for organizations the user is a member of. */
        if (!logto_strv_contains(id->orgs, oid))
            continue;
        struct logto_org_name *on = &id->org_names[id->n_org_names];
        on->id = strdup(oid);
        on->name = clean_text(oname, ORG_NAME_MAX);
        id->n_org_names++; /* counted now so logto_identity_free sees a partial entry */
        if (!on->id || !on->name)
            return LOGTO_OOM(m->err);
    }
    return 0;
}

static int map_lists(struct mapper *m, const json_t *claims, const json_t *custom,
                     struct logto_identity *id)
{
    char lb[128];
    int r;

    if (m->cfg->profile == LOGTO_PROFILE_GENERIC) {
        /* A generic provider's groups claim is its role list: require_roles matches it. */
        const char *gc = m->cfg->groups_claim;
        r = string_list(m, gc ? get_opt(claims, gc) : NULL, gc ? label(m, gc, lb, sizeof(lb)) : "",
                        value_problem, LOGTO_IDENTITY_MAX_VALUES, &id->groups);
        if (r < 0)
            return r;
        id->roles = logto_strv_copy(id->groups);
        id->orgs = calloc(1, sizeof(char *));
        id->org_roles = calloc(1, sizeof(char *));
        if (!id->roles || !id->orgs || !id->org_roles)
            return LOGTO_OOM(m->err);
    } else {
        r = string_list(m, get_opt(claims, "roles"), label(m, "roles", lb, sizeof(lb)),
                        value_problem, LOGTO_IDENTITY_MAX_VALUES, &id->roles);
        if (r >= 0)
            r = string_list(m, get_opt(claims, "organizations"),
                            label(m, "organizations", lb, sizeof(lb)), org_problem,
                            LOGTO_IDENTITY_MAX_VALUES, &id->orgs);
        if (r >= 0)
            r = string_list(m, get_opt(claims, "organization_roles"),
                            label(m, "organization_roles", lb, sizeof(lb)), org_role_problem,
                            LOGTO_IDENTITY_MAX_VALUES, &id->org_roles);
        if (r >= 0)
            r = map_org_names(m, claims, id);
        if (r < 0)
            return r;
        id->groups = calloc(1, sizeof(char *));
        if (!id->groups)
            return LOGTO_OOM(m->err);
    }

    const char *key = m->cfg->ssh_keys_key;
    return string_list(m, key && custom ? get_opt(custom, key) : NULL,
                       key ? custom_label(m, key, lb, sizeof(lb)) : "", ssh_key_problem,
                       LOGTO_IDENTITY_MAX_SSH_KEYS, &id->ssh_keys);
}

/* ------------------------------------------------------------------------------------------ */

void logto_identity_free(struct logto_identity *id)
{
    if (!id)
        return;
    free(id->sub);
    free(id->name);
    free(id->gecos);
    free(id->home);
    free(id->shell);
    logto_strv_free(id->roles);
    logto_strv_free(id->orgs);
    logto_strv_free(id->org_roles);
    logto_strv_free(id->groups);
    for (size_t i = 0; i < id->n_org_names; i++) {
        free(id->org_names[i].id);
        free(id->org_names[i].name);
    }
    free(id->org_names);
    logto_strv_free(id->ssh_keys);
    free(id->name_from);
    free(id->uid_from);
    free(id->gid_from);
    free(id->shell_from);
    free(id->gecos_from);
    free(id->home_from);
    free(id->name_claim);
    free(id);
}

static int map_claims(struct mapper *m, const json_t *claims, bool suspended,
                      struct logto_identity **ret)
{
    _cleanup_(logto_identity_freep) struct logto_identity *id = NULL;
    char lb[64];
    const json_t *custom;
    int r;

    if (!m->ctx || !m->cfg)
        return logto_error_set(m->err, LOGTO_E_INVAL, "identity mapping needs a configuration");
    if (!json_is_object(claims))
        return refuse(m, "claims are not a JSON object");
    id = calloc(1, sizeof(*id));
    if (!id)
        return LOGTO_OOM(m->err);
    id->suspended = suspended;

    custom = get_opt(claims, "custom_data");
    if (custom && !json_is_object(custom))
        return refuse(m, "%s is not an object", label(m, "custom_data", lb, sizeof(lb)));

    r = map_sub(m, claims, id);
    if (r >= 0)
        r = map_name(m, claims, id);
    if (r >= 0)
        r = map_ids(m, custom, id);
    if (r >= 0)
        r = map_gecos(m, claims, id);
    if (r >= 0)
        r = map_home(m, id);
    if (r >= 0)
        r = map_shell(m, custom, id);
    if (r >= 0)
        r = map_overrides(m, id);
    if (r >= 0)
        r = map_lists(m, claims, custom, id);
    if (r < 0)
        return r;
    logto_log_debug(&m->ctx->log, "identity-mapped sub=%s user=%s uid=%u gid=%u roles=%zu orgs=%zu",
                    id->sub, id->name, id->uid, id->gid, logto_strv_length(id->roles),
                    logto_strv_length(id->orgs));
    *ret = TAKE_PTR(id);
    return 0;
}

int logto_identity_from_claims(const struct logto_ctx *ctx, const json_t *claims,
                               struct logto_identity **ret, struct logto_error *err)
{
    struct mapper m = { .ctx = ctx, .cfg = ctx ? ctx->cfg : NULL, .err = err };
    return map_claims(&m, claims, false, ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Management API user -> the claims Logto would issue for it (scope.ts getUserClaimsData). */

static int set_copy(json_t *claims, const char *claim, const json_t *user, const char *field)
{
    json_t *v = json_object_get(user, field);
    return v ? json_object_set(claims, claim, v) : 0;
}

static int mgmt_profile(json_t *claims, const json_t *user)
{
    static const struct {
        const char *claim, *field;
    } keys[] = {
        { "family_name", "familyName" }, { "given_name", "givenName" },
        { "middle_name", "middleName" }, { "nickname", "nickname" },
        { "profile", "profile" },        { "website", "website" },
        { "gender", "gender" },          { "birthdate", "birthdate" },
        { "zoneinfo", "zoneinfo" },      { "locale", "locale" },
    };
    json_t *profile = json_object_get(user, "profile"), *pu;
    int r = 0;

    if (profile && !json_is_object(profile))
        profile = NULL;
    for (size_t i = 0; profile && i < ELEMENTSOF(keys) && r == 0; i++)
        r = set_copy(claims, keys[i].claim, profile, keys[i].field);
    /* preferred_username = profile.preferredUsername ?? username (Logto 1.41). */
    pu = profile ? get_opt(profile, "preferredUsername") : NULL;
    if (r == 0)
        r = pu ? json_object_set(claims, "preferred_username", pu)
               : set_copy(claims, "preferred_username", user, "username");
    return r;
}

/* Set key to value (taken) in claims when r, the result so far, is 0; else drop value. */
static int set_unless_failed(json_t *claims, const char *key, json_t *value, int r)
{
    if (r != 0) {
        json_decref(value);
        return r;
    }
    return json_object_set_new(claims, key, value);
}

static int mgmt_orgs(json_t *claims, const char *const *roles,
                     const struct logto_org_membership *orgs, size_t n_orgs)
{
    json_t *jroles = json_array(), *jorgs = json_array(), *jorg_roles = json_array(),
           *jorg_data = json_array();
    int r = !jroles || !jorgs || !jorg_roles || !jorg_data ? -1 : 0;

    for (size_t i = 0; r == 0 && roles && roles[i]; i++)
        r = json_array_append_new(jroles, json_string(roles[i]));
    for (size_t i = 0; r == 0 && i < n_orgs; i++) {
        const struct logto_org_membership *o = &orgs[i];
        if (!o->id) {
            r = -1;
            break;
        }
        r = json_array_append_new(jorgs, json_string(o->id));
        if (r == 0)
            r = json_array_append_new(jorg_data,
                                      json_pack("{s:s, s:s?}", "id", o->id, "name", o->name));
        for (size_t k = 0; r == 0 && o->roles && o->roles[k]; k++) {
            _cleanup_free_ char *s = logto_asprintf("%s:%s", o->id, o->roles[k]);
            r = s ? json_array_append_new(jorg_roles, json_string(s)) : -1;
        }
    }
    r = set_unless_failed(claims, "roles", jroles, r);
    r = set_unless_failed(claims, "organizations", jorgs, r);
    r = set_unless_failed(claims, "organization_roles", jorg_roles, r);
    return set_unless_failed(claims, "organization_data", jorg_data, r);
}

int logto_identity_from_mgmt(const struct logto_ctx *ctx, const json_t *user,
                             const char *const *roles, const struct logto_org_membership *orgs,
                             size_t n_orgs, struct logto_identity **ret, struct logto_error *err)
{
    struct mapper m = { .ctx = ctx, .cfg = ctx ? ctx->cfg : NULL, .mgmt = true, .err = err };
    json_t *email, *suspended;
    json_t *claims = NULL;
    int r;

    if (!m.cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "identity mapping needs a configuration");
    if (m.cfg->profile != LOGTO_PROFILE_LOGTO)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED,
                               "Management API users exist only with the Logto profile");
    if (!json_is_object(user))
        return refuse(&m, "Management API user is not a JSON object");
    suspended = json_object_get(user, "isSuspended");
    if (suspended && !json_is_boolean(suspended))
        return refuse(&m, "field isSuspended is not a boolean");

    claims = json_object();
    r = claims ? 0 : -1;
    if (r == 0)
        r = set_copy(claims, "sub", user, "id");
    if (r == 0)
        r = set_copy(claims, "username", user, "username");
    if (r == 0)
        r = set_copy(claims, "email", user, "primaryEmail");
    /* Logto's email_verified is Boolean(primaryEmail). */
    email = json_object_get(user, "primaryEmail");
    if (r == 0 && email && json_is_string(email))
        r = json_object_set_new(claims, "email_verified", json_true());
    if (r == 0)
        r = set_copy(claims, "name", user, "name");
    if (r == 0)
        r = set_copy(claims, "phone_number", user, "primaryPhone");
    if (r == 0)
        r = set_copy(claims, "custom_data", user, "customData");
    if (r == 0)
        r = mgmt_profile(claims, user);
    if (r == 0)
        r = mgmt_orgs(claims, roles, orgs, n_orgs);
    if (r < 0) {
        json_decref(claims);
        /* json_string() fails on invalid UTF-8 too; both mean the input cannot be used. */
        return refuse(&m, "cannot translate the Management API user (memory, or a role or "
                          "organization value that is not UTF-8)");
    }
    r = map_claims(&m, claims, suspended && json_is_true(suspended), ret);
    json_decref(claims);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Local files and the directory */

int logto_identity_check_local(const struct logto_ctx *ctx, const struct logto_identity *id,
                               struct logto_error *err)
{
    _cleanup_(logto_localdb_freep) struct logto_localdb *db = NULL;
    int r;

    r = logto_localdb_load(ctx, &db, err);
    if (r < 0) {
        logto_error_prefix(err, "cannot check %s against the local account files", id->name);
        return r;
    }
    return logto_identity_check_local_db(db, id, err);
}

int logto_identity_check_local_db(const struct logto_localdb *db, const struct logto_identity *id,
                                  struct logto_error *err)
{
    if (logto_localdb_has_system_name(db, id->name))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "user name %s is a system name (base-passwd's passwd.master or "
                               "group.master): never served",
                               id->name);
    if (logto_localdb_has_user(db, id->name))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "user name %s exists in the local passwd file", id->name);
    if (logto_localdb_has_uid(db, id->uid))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "UID %u of %s belongs to a local account in the passwd file",
                               id->uid, id->name);
    if (logto_localdb_has_group(db, id->name))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "user name %s exists as a local group (it would shadow the private "
                               "group)",
                               id->name);
    if (logto_localdb_has_gid(db, id->gid))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "GID %u of %s's private group belongs to a local group", id->gid,
                               id->name);
    /* An ID someone chose is checked against both ID spaces: it must be unused everywhere. */
    if (logto_identity_uid_chosen(id) && logto_localdb_has_gid(db, id->uid))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "UID %u of %s (from custom_data) is the GID of a local group",
                               id->uid, id->name);
    if (logto_identity_gid_chosen(id) && id->gid != id->uid && logto_localdb_has_uid(db, id->gid))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "GID %u of %s (from custom_data) is the UID of a local account",
                               id->gid, id->name);
    return 0;
}

int logto_identity_check_directory(const struct logto_directory *dir,
                                   const struct logto_identity *id, struct logto_error *err)
{
    for (size_t i = 0; dir && i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        if (logto_streq(u->sub, id->sub))
            continue;
        if (logto_streq(u->name, id->name))
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "user name %s is already held by another IdP user (sub %s)",
                                   id->name, u->sub);
        if (u->uid == id->uid)
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "UID %u of %s is already held by %s (sub %s)", id->uid, id->name,
                                   u->name, u->sub);
        if (u->gid == id->gid)
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "GID %u of %s is already the primary group of %s (sub %s)",
                                   id->gid, id->name, u->name, u->sub);
        /* A chosen ID must be unused in both ID spaces. */
        if (logto_identity_uid_chosen(id) && u->gid == id->uid)
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "UID %u of %s (from custom_data) is the GID of %s's private "
                                   "group (sub %s)",
                                   id->uid, id->name, u->name, u->sub);
        if (logto_identity_gid_chosen(id) && u->uid == id->gid)
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "GID %u of %s (from custom_data) is the UID of %s (sub %s)",
                                   id->gid, id->name, u->name, u->sub);
    }
    for (size_t i = 0; dir && i < dir->n_groups; i++) {
        const struct logto_dir_group *g = &dir->groups[i];
        if (g->kind == LOGTO_GROUP_PRIVATE && logto_streq(g->source, id->sub))
            continue; /* the user's own private group from an earlier sign-in */
        if (logto_streq(g->name, id->name) || g->gid == id->gid)
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "private group %s (GID %u) clashes with %s group %s (GID %u)%s",
                                   id->name, id->gid, logto_group_kind_name(g->kind), g->name,
                                   g->gid,
                                   g->kind == LOGTO_GROUP_PRIVATE
                                       ? ""
                                       : ": a role or organization group keeps its name and GID");
        if (logto_identity_uid_chosen(id) && g->gid == id->uid)
            return logto_error_set(err, LOGTO_E_COLLISION,
                                   "UID %u of %s (from custom_data) is the GID of %s group %s",
                                   id->uid, id->name, logto_group_kind_name(g->kind), g->name);
    }
    return 0;
}

/* Whether the snapshot user's UID is not of its sub's sequence: then someone chose it in
 * custom_data (sign-in and sync write what the mapping gave). */
static bool dir_uid_chosen(const struct logto_config *cfg, const struct logto_dir_user *u)
{
    return !logto_identity_uid_derived(cfg, u->sub, u->uid, NULL);
}

int logto_identity_evict_yielding(const struct logto_ctx *ctx, struct logto_directory *dir,
                                  const struct logto_identity *id,
                                  const struct logto_dir_group *groups, size_t n_groups,
                                  struct logto_error *err)
{
    _cleanup_strv_ char **subs = NULL;
    int n = 0;

    if (!ctx || !ctx->cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "eviction needs a configuration");
    for (size_t i = 0; i < dir->n_users; i++) {
        const struct logto_dir_user *u = &dir->users[i];
        char why[160] = "";

        if (logto_streq(u->sub, id->sub))
            continue;
        for (size_t k = 0; k < n_groups && !why[0]; k++)
            if (groups[k].kind != LOGTO_GROUP_PRIVATE &&
                (strcmp(groups[k].name, u->name) == 0 || groups[k].gid == u->gid))
                snprintf(why, sizeof(why), "private group %s (GID %u) clashes with %s group %s",
                         u->name, u->gid, logto_group_kind_name(groups[k].kind), groups[k].name);
        if (!why[0] &&
            (u->uid == id->uid || u->gid == id->gid || u->uid == id->gid || u->gid == id->uid)) {
            /* Only an ID someone chose yields, and only to one nobody chose (hashed). */
            bool uid_chosen = dir_uid_chosen(ctx->cfg, u);
            bool gid_chosen = u->gid == u->uid ? uid_chosen : true;
            bool takes_uid = (uid_chosen && u->uid == id->uid) || (gid_chosen && u->gid == id->uid);
            bool takes_gid = (uid_chosen && u->uid == id->gid) || (gid_chosen && u->gid == id->gid);
            if ((!logto_identity_uid_chosen(id) && takes_uid) ||
                (!logto_identity_gid_chosen(id) && takes_gid))
                snprintf(why, sizeof(why),
                         "UID %u or GID %u from custom_data is the hashed UID or GID of %s", u->uid,
                         u->gid, id->name);
        }
        if (!why[0])
            continue;
        logto_log(&ctx->log, LOG_WARNING, "directory-evict user=%s sub=%s by=%s reason=\"%s\"",
                  u->name, u->sub, id->name, why);
        if (logto_strv_push(&subs, u->sub) < 0)
            return LOGTO_OOM(err);
    }
    for (size_t i = 0; subs && subs[i]; i++)
        if (logto_directory_remove_user(dir, subs[i]) == 0)
            n++;
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Derived groups */

void logto_identity_groups_free(struct logto_dir_group *groups, size_t n)
{
    for (size_t i = 0; groups && i < n; i++) {
        free(groups[i].name);
        free(groups[i].source);
        logto_strv_free(groups[i].members);
    }
    free(groups);
}

struct group_set {
    struct logto_dir_group *v;
    const char **skip; /* per entry: why it is skipped (static strings), NULL to keep */
    size_t n, cap;
};

static void group_set_done(struct group_set *s)
{
    logto_identity_groups_free(s->v, s->n);
    free(s->skip);
}

static int group_set_add(struct group_set *s, const char *name, uint32_t gid, uint32_t kind,
                         const char *source, const char *member)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        struct logto_dir_group *nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        s->v = nv;
        const char **ns = realloc(s->skip, ncap * sizeof(*ns));
        if (!ns)
            return -1;
        s->skip = ns;
        s->cap = ncap;
    }
    struct logto_dir_group *g = &s->v[s->n];
    *g = (struct logto_dir_group){ .gid = gid, .kind = kind };
    s->skip[s->n] = NULL;
    s->n++;
    g->name = strdup(name);
    g->source = strdup(source);
    g->members = calloc(2, sizeof(char *));
    if (!g->name || !g->source || !g->members)
        return -1;
    g->members[0] = strdup(member);
    return g->members[0] ? 0 : -1;
}

struct group_sort {
    const struct logto_dir_group *g;
    bool by_gid;
};

static int group_key_cmp(const struct group_sort *gs, size_t a, size_t b)
{
    const struct logto_dir_group *x = &gs->g[a], *y = &gs->g[b];
    if (gs->by_gid)
        return x->gid < y->gid ? -1 : x->gid > y->gid;
    return strcmp(x->name, y->name);
}

static int by_group_key(const void *a, const void *b, void *userdata)
{
    return group_key_cmp(userdata, *(const size_t *)a, *(const size_t *)b);
}

/* The same group seen twice (e.g. one role held by two users): every attribute agrees. */
static bool same_group(const struct logto_dir_group *x, const struct logto_dir_group *y)
{
    return x->kind == y->kind && x->gid == y->gid && strcmp(x->name, y->name) == 0 &&
           logto_streq(x->source, y->source);
}

static bool org_kind(uint32_t kind)
{
    return kind == LOGTO_GROUP_ORG || kind == LOGTO_GROUP_ORG_ROLE;
}

/*
 * In a run of groups sharing a name (or GID), mark the ones that must go: every private group
 * that shares it with any other distinct group; every role (or claim) group that shares it with
 * another derived group; and every organization group that shares it with another organization
 * group (neither may win). A role or organization group keeps its name and GID: a user who picks
 * a role's name or its GID must not become that group (a sudoers line for the role would then
 * match the user alone) nor take it from the role's members. An organization group keeps its
 * name against a role group: its name comes from an ID or from this host's configuration, a
 * role's from whoever names roles in the tenant (a role "org-<id>-admin" must not take away the
 * organization role's group).
 */
static void mark_run(const struct logto_dir_group *g, const size_t *idx, size_t start, size_t end,
                     const char *why, const char **ret_why)
{
    size_t distinct_derived = 0, distinct_org = 0, distinct = 0;

    for (size_t i = start; i < end; i++) {
        bool seen = false;
        for (size_t k = start; k < i && !seen; k++)
            seen = same_group(&g[idx[k]], &g[idx[i]]);
        if (seen)
            continue;
        distinct++;
        if (g[idx[i]].kind != LOGTO_GROUP_PRIVATE)
            distinct_derived++;
        if (org_kind(g[idx[i]].kind))
            distinct_org++;
    }
    if (distinct <= 1)
        return;
    for (size_t i = start; i < end; i++) {
        uint32_t kind = g[idx[i]].kind;
        if (kind == LOGTO_GROUP_PRIVATE ||
            (org_kind(kind) ? distinct_org > 1 : distinct_derived > 1))
            ret_why[idx[i]] = why;
    }
}

int logto_identity_group_clashes(const struct logto_dir_group *groups, size_t n,
                                 const char **ret_why, struct logto_error *err)
{
    _cleanup_free_ size_t *idx = malloc((n ? n : 1) * sizeof(size_t));
    int marked = 0;

    if (!idx)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < n; i++)
        ret_why[i] = NULL;
    for (int pass = 0; pass < 2; pass++) {
        struct group_sort gs = { .g = groups, .by_gid = pass == 1 };
        const char *why =
            pass == 0 ? "name clashes with another group" : "GID clashes with another group";
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        qsort_r(idx, n, sizeof(size_t), by_group_key, &gs);
        for (size_t start = 0; start < n;) {
            size_t end = start + 1;
            while (end < n && group_key_cmp(&gs, idx[start], idx[end]) == 0)
                end++;
            if (end - start > 1)
                mark_run(groups, idx, start, end, why, ret_why);
            start = end;
        }
    }
    for (size_t i = 0; i < n; i++)
        marked += ret_why[i] != NULL;
    return marked;
}

struct group_source {
    uint32_t kind;
    const char *prefix;
    const char *domain;
    char *const *values;
};

/*
 * The name of an organization (value "orgId") or organization role ("orgId:role") group:
 * [organization orgId] group = G gives G and G-role; otherwise the ID form, org_group_prefix +
 * orgId and org_role_group_prefix + orgId-role. Logto's organization IDs are [a-z0-9]: one with
 * '-' has no ID-form group, so "org-a-b" is never both organization "a-b" and role b of "a".
 * Other kinds: prefix + value. part is scratch space.
 */
static int org_group_name(const struct logto_config *cfg, const struct group_source *src,
                          const char *value, char *part, size_t partlen, char *name, size_t namelen,
                          const char **why)
{
    const char *prefix = src->prefix, *group;
    char dash[LOGTO_NAME_MAX + 2], *colon;

    snprintf(part, partlen, "%s", value);
    if (src->kind != LOGTO_GROUP_ORG && src->kind != LOGTO_GROUP_ORG_ROLE)
        return logto_group_name_sanitize(prefix, part, name, namelen, why);
    colon = strchr(part, ':');
    if (colon)
        *colon = '\0';
    if ((group = logto_config_org_group(cfg, part))) {
        if (src->kind == LOGTO_GROUP_ORG) {
            snprintf(name, namelen, "%s", group);
            return 0;
        }
        snprintf(dash, sizeof(dash), "%s-", group);
        return logto_group_name_sanitize(dash, colon ? colon + 1 : "", name, namelen, why);
    }
    if (strchr(part, '-')) {
        *why = "the organization ID contains '-': name its group in [organization ID]";
        return -1;
    }
    /* "orgId:role" -> "orgId-role": the separator stays readable after sanitising. */
    if (colon)
        *colon = '-';
    return logto_group_name_sanitize(prefix, part, name, namelen, why);
}

static int add_candidates(const struct mapper *m, const struct logto_identity *id,
                          const struct group_source *src, uint32_t lo, uint32_t hi, bool quiet,
                          struct group_set *s)
{
    char name[LOGTO_NAME_MAX + 1], part[LOGTO_IDENTITY_MAX_VALUE + 1];
    const char *why;
    uint32_t gid;
    int r;

    for (size_t i = 0; src->values && src->values[i]; i++) {
        const char *value = src->values[i];
        if (org_group_name(m->cfg, src, value, part, sizeof(part), name, sizeof(name), &why) < 0) {
            if (quiet)
                continue;
            logto_log(&m->ctx->log, LOG_NOTICE,
                      "identity-skip-group user=%s kind=%s source=\"%.64s\" reason=\"%s\"",
                      id->name, logto_group_kind_name(src->kind), value, why);
            continue;
        }
        r = logto_identity_hash_id(src->domain, value, lo, hi, &gid, m->err);
        if (r < 0)
            return r;
        if (group_set_add(s, name, gid, src->kind, value, id->name) < 0)
            return LOGTO_OOM(m->err);
    }
    return 0;
}

static void mark_local_and_reserved(const struct logto_config *cfg, const struct logto_localdb *db,
                                    struct group_set *s)
{
    for (size_t i = 1; i < s->n; i++) {
        if (s->skip[i])
            continue;
        if (reserved_name(cfg, s->v[i].name) || logto_localdb_has_system_name(db, s->v[i].name))
            s->skip[i] = "name is reserved for system accounts and groups";
        else if (logto_localdb_has_group(db, s->v[i].name))
            s->skip[i] = "name exists as a local group";
        else if (logto_localdb_has_gid(db, s->v[i].gid))
            s->skip[i] = "GID belongs to a local group";
        else if (logto_id_reserved(s->v[i].gid))
            s->skip[i] = "GID is reserved";
    }
}

int logto_identity_groups(const struct logto_ctx *ctx, const struct logto_identity *id,
                          struct logto_dir_group **ret_groups, size_t *ret_n,
                          struct logto_error *err)
{
    _cleanup_(logto_localdb_freep) struct logto_localdb *db = NULL;
    int r;

    if (!ctx || !ctx->cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "group mapping needs a configuration");
    r = logto_localdb_load(ctx, &db, err);
    if (r < 0)
        return r;
    return logto_identity_groups_db(ctx, db, id, ret_groups, ret_n, err);
}

/* The private group, then one candidate per role, organization, organization role and groups
 * claim value, before any clash or local check. */
static int candidates(const struct mapper *m, const struct logto_identity *id, bool quiet,
                      struct group_set *s)
{
    const struct logto_config *cfg = m->cfg;
    uint32_t lo, hi;
    int r;

    id_range(cfg, &lo, &hi);
    const struct group_source sources[] = {
        { LOGTO_GROUP_ROLE, cfg->role_group_prefix, "logto-gid:role:",
          cfg->profile == LOGTO_PROFILE_LOGTO && cfg->groups_from_roles ? id->roles : NULL },
        { LOGTO_GROUP_ORG, cfg->org_group_prefix,
          "logto-gid:org:", cfg->groups_from_orgs ? id->orgs : NULL },
        { LOGTO_GROUP_ORG_ROLE, cfg->org_role_group_prefix,
          "logto-gid:orgrole:", cfg->groups_from_org_roles ? id->org_roles : NULL },
        { LOGTO_GROUP_CLAIM, cfg->role_group_prefix, "logto-gid:claim:",
          cfg->profile == LOGTO_PROFILE_GENERIC && cfg->groups_claim ? id->groups : NULL },
    };

    r = group_set_add(s, id->name, id->gid, LOGTO_GROUP_PRIVATE, id->sub, id->name) < 0
            ? LOGTO_OOM(m->err)
            : 0;
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sources); i++)
        r = add_candidates(m, id, &sources[i], lo, hi, quiet, s);
    return r;
}

int logto_identity_candidate_groups(const struct logto_ctx *ctx, const struct logto_identity *id,
                                    struct logto_dir_group **ret_groups, size_t *ret_n,
                                    struct logto_error *err)
{
    struct mapper m = { .ctx = ctx, .cfg = ctx ? ctx->cfg : NULL, .sub = id->sub, .err = err };
    struct group_set s = { 0 };
    int r;

    if (!m.cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "group mapping needs a configuration");
    r = candidates(&m, id, true, &s);
    if (r < 0) {
        group_set_done(&s);
        return r;
    }
    free(s.skip);
    *ret_groups = s.v;
    *ret_n = s.n;
    return 0;
}

int logto_identity_groups_db(const struct logto_ctx *ctx, const struct logto_localdb *db,
                             const struct logto_identity *id, struct logto_dir_group **ret_groups,
                             size_t *ret_n, struct logto_error *err)
{
    struct mapper m = { .ctx = ctx, .cfg = ctx ? ctx->cfg : NULL, .sub = id->sub, .err = err };
    struct group_set s = { 0 };
    size_t w = 0;
    int r;

    if (!m.cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "group mapping needs a configuration");
    if (logto_localdb_has_group(db, id->name) || logto_localdb_has_gid(db, id->gid))
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "private group %s (GID %u) clashes with a local group", id->name,
                               id->gid);
    r = candidates(&m, id, false, &s);
    if (r >= 0)
        r = logto_identity_group_clashes(s.v, s.n, s.skip, err);
    /* The private group (first) clashes with one of the user's own role or organization groups:
     * the group keeps its name and GID, the user is refused. */
    for (size_t i = 1; r >= 0 && s.skip[0] && i < s.n; i++)
        if (strcmp(s.v[i].name, s.v[0].name) == 0 || s.v[i].gid == s.v[0].gid)
            r = logto_error_set(err, LOGTO_E_COLLISION,
                                "private group %s (GID %u) clashes with %s group %s (GID %u): a "
                                "role or organization group keeps its name and GID",
                                id->name, id->gid, logto_group_kind_name(s.v[i].kind), s.v[i].name,
                                s.v[i].gid);
    if (r < 0) {
        group_set_done(&s);
        return r;
    }
    mark_local_and_reserved(m.cfg, db, &s);

    /* Keep the survivors, in order; log and free the rest. */
    for (size_t i = 0; i < s.n; i++) {
        if (!s.skip[i]) {
            s.v[w++] = s.v[i];
            continue;
        }
        logto_log(&ctx->log, LOG_NOTICE,
                  "identity-skip-group user=%s kind=%s source=\"%.64s\" group=%s gid=%u "
                  "reason=\"%s\"",
                  id->name, logto_group_kind_name(s.v[i].kind), s.v[i].source, s.v[i].name,
                  s.v[i].gid, s.skip[i]);
        free(s.v[i].name);
        free(s.v[i].source);
        logto_strv_free(s.v[i].members);
    }
    free(s.skip);
    *ret_groups = s.v;
    *ret_n = w;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Collisions between identities */

const char *logto_collision_kind_name(enum logto_collision_kind kind)
{
    switch (kind) {
    case LOGTO_COLLISION_SUB:
        return "sub";
    case LOGTO_COLLISION_NAME:
        return "name";
    case LOGTO_COLLISION_UID:
        return "uid";
    case LOGTO_COLLISION_GID:
        return "gid";
    }
    return "?";
}

struct key_sort {
    const struct logto_identity *const *ids;
    enum logto_collision_kind kind;
};

static int key_cmp(const struct key_sort *ks, size_t a, size_t b)
{
    const struct logto_identity *x = ks->ids[a], *y = ks->ids[b];
    switch (ks->kind) {
    case LOGTO_COLLISION_SUB:
        return strcmp(x->sub, y->sub);
    case LOGTO_COLLISION_NAME:
        return strcmp(x->name, y->name);
    case LOGTO_COLLISION_UID:
        return x->uid < y->uid ? -1 : x->uid > y->uid;
    case LOGTO_COLLISION_GID:
        return x->gid < y->gid ? -1 : x->gid > y->gid;
    }
    return 0;
}

static int by_key(const void *a, const void *b, void *userdata)
{
    int c = key_cmp(userdata, *(const size_t *)a, *(const size_t *)b);
    if (c)
        return c;
    /* Ties by index, so runs list their members in input order. */
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int by_pair(const void *a, const void *b)
{
    const struct logto_identity_collision *x = a, *y = b;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

int logto_identity_find_collisions(const struct logto_identity *const *ids, size_t n,
                                   struct logto_identity_collision **ret, size_t *ret_n,
                                   struct logto_error *err)
{
    _cleanup_free_ size_t *idx = malloc((n ? n : 1) * sizeof(size_t));
    struct logto_identity_collision *out = NULL;
    size_t n_out = 0, cap = 0;

    if (!idx)
        return LOGTO_OOM(err);
    for (int k = LOGTO_COLLISION_SUB; k <= LOGTO_COLLISION_GID; k++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        struct key_sort ks = { .ids = ids, .kind = (enum logto_collision_kind)k };
        qsort_r(idx, n, sizeof(size_t), by_key, &ks);
        /* Every pair inside a run of equal keys. */
        for (size_t start = 0; start < n;) {
            size_t end = start + 1;
            while (end < n && key_cmp(&ks, idx[start], idx[end]) == 0)
                end++;
            for (size_t i = start; i < end; i++)
                for (size_t j = i + 1; j < end; j++) {
                    if (n_out == cap) {
                        size_t ncap = cap ? cap * 2 : 8;
                        struct logto_identity_collision *no = realloc(out, ncap * sizeof(*no));
                        if (!no) {
                            free(out);
                            return LOGTO_OOM(err);
                        }
                        out = no;
                        cap = ncap;
                    }
                    out[n_out++] = (struct logto_identity_collision){
                        .a = idx[i], .b = idx[j], .kind = (enum logto_collision_kind)k
                    };
                }
            start = end;
        }
    }
    if (n_out > 1)
        qsort(out, n_out, sizeof(*out), by_pair);
    *ret = out;
    *ret_n = n_out;
    return 0;
}
