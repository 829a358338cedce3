/* SPDX-License-Identifier: MIT */
/*
 * Configuration files (see conf.h). The schema table below describes every key once: section,
 * type, storage, default and a line of documentation. Parsing, defaults, PAM argument overrides,
 * the dump and logto_config_keys() all walk that table, so no key can be parsed but not dumped,
 * or documented under a default it does not have.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "fileio.h"
#include "log.h"
#include "memory.h"
#include "names.h"
#include "text.h"
#include "util.h"

#define CONF_FILE_MAX      (1024 * 1024) /* a larger configuration file is an error */
#define CONF_LINE_MAX      4096
#define SECRET_FILE_MAX    (64 * 1024)
#define CA_FILE_MAX        (1024 * 1024)
#define URL_MAX            2048
#define TOKEN_MAX          256
#define SERVICE_NAME_MAX   64
#define ID_RANGE_MIN_WIDTH 65536u

enum type {
    T_ENUM,
    T_TOKEN,       /* client IDs: visible ASCII */
    T_HTTPS_URL,   /* https://host[/path], no query or fragment */
    T_URL,         /* the same, http allowed (loopback redirect URIs) */
    T_PATH,        /* absolute path */
    T_SECRET_FILE, /* absolute path of a root-only file, checked at load */
    T_CA_FILE,     /* absolute path of a trusted public file, checked at load */
    T_BOOL,
    T_DURATION,    /* stored in seconds */
    T_DURATION_MS, /* stored in milliseconds; also accepts an "ms" suffix */
    T_SIZE,        /* bytes, optional K or M suffix */
    T_COUNT,       /* a whole number in min..max */
    T_LIST,        /* whitespace or comma separated, duplicates dropped */
    T_ID_RANGE,
    T_HOME,
    T_PREFIX,     /* group-name prefix */
    T_KEY_NAME,   /* a custom_data key */
    T_CLAIM,      /* a claim name */
    T_GROUPS,     /* which Logto memberships become groups */
    T_SHELL,      /* [user NAME] shell: an absolute path of [A-Za-z0-9/._+-] */
    T_USER_HOME,  /* [user NAME] home: a clean absolute path, used as given */
    T_GECOS,      /* [user NAME] gecos: text a passwd line and a terminal can hold */
    T_GROUP_NAME, /* a group name, used as given */
};

enum storage {
    S_STR,      /* char * */
    S_STRV,     /* char ** */
    S_I64,      /* int64_t */
    S_BOOL,     /* bool */
    S_NOT_BOOL, /* bool, the key's negation (so a zeroed config means the key's default yes) */
    S_PROFILE,  /* enum logto_profile */
    S_RANGE,    /* id_min, id_max */
    S_GROUPS,   /* groups_from_* */
};

enum {
    F_OPTIONAL = 1 << 0,    /* an empty value leaves the key unset */
    F_PROFILE_DEF = 1 << 1, /* def_generic is the default for profile generic */
    F_STRIP_SLASH = 1 << 2, /* trailing slashes are dropped */
};

enum { G_ROLES = 1, G_ORGS = 2, G_ORG_ROLES = 4 };

struct enum_value {
    const char *name;
    int64_t value;
};

/* A check of one list item: NULL when fine, else why not ("is not a valid user name"). */
typedef const char *(*item_check_fn)(const char *item);
/* A check of a whole list: NULL when fine, else why not. */
typedef const char *(*list_check_fn)(char *const *v);

struct rule {
    const char *section; /* "logto", ..., "service", "organization" */
    const char *name;
    enum type type;
    enum storage storage;
    size_t offset; /* in struct logto_config, struct logto_service for "service", struct
                    * logto_org_group for "organization" */
    unsigned flags;
    const char *def;         /* default as configuration text; NULL: unset */
    const char *def_generic; /* with F_PROFILE_DEF: the default for profile generic */
    int64_t min, max;        /* durations (in their unit), sizes and counts */
    const struct enum_value *values;
    item_check_fn check_item;
    list_check_fn check_list;
    const char *doc;
};

struct value {
    char *str;
    char **strv;
    int64_t num, num2;
};

static void value_done(struct value *v)
{
    free(v->str);
    logto_strv_free(v->strv);
    *v = (struct value){ 0 };
}

/* ------------------------------------------------------------------------------------------ */
/* Item and list checks used by the schema. */

static bool visible_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static bool chars_in(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!logto_ascii_alnum((unsigned char)*s) && !strchr(extra, *s))
            return false;
    return true;
}

static const char *check_scope(const char *s)
{
    /* RFC 6749 scope-token: visible ASCII except '"' and '\'. */
    if (strlen(s) > TOKEN_MAX || !visible_ascii(s) || strpbrk(s, "\"\\"))
        return "is not a valid scope";
    return NULL;
}

static const char *check_resource(const char *s)
{
    /* RFC 8707 2: an absolute URI without a fragment (Logto: an API identifier, usually https). */
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : 0;
    char scheme[33];

    if (strlen(s) > 512 || !visible_ascii(s) || strpbrk(s, "\"\\#") || n == 0 ||
        n >= sizeof(scheme) || !colon[1] || !logto_ascii_alpha((unsigned char)s[0]))
        return "is not an absolute URI without a fragment";
    memcpy(scheme, s, n);
    scheme[n] = '\0';
    return chars_in(scheme, "+.-") ? NULL : "is not an absolute URI without a fragment";
}

static bool claim_ok(const char *s)
{
    return *s && strlen(s) <= 128 && chars_in(s, "_.:/-");
}

static const char *check_claim(const char *s)
{
    return claim_ok(s) ? NULL : "is not a claim name ([A-Za-z0-9_.:/-])";
}

/* A DNS domain name: dot-separated labels of [A-Za-z0-9-] (1-63, no '-' at either end), at
 * most 253 characters. Compared case-insensitively, so upper case is fine. */
static const char *check_domain(const char *s)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > 253)
        return "is not a domain name";
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return "is not a domain name";
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c == '-' && label > 0)))
            return "is not a domain name";
        label++;
    }
    return NULL;
}

static const char *check_role(const char *s)
{
    if (strlen(s) > 128 || !visible_ascii(s) || strpbrk(s, "\"\\"))
        return "is not a valid role name";
    return NULL;
}

static bool org_id_ok(const char *s)
{
    return *s && strlen(s) <= 128 && chars_in(s, "_.-");
}

static const char *check_org(const char *s)
{
    return org_id_ok(s) ? NULL : "is not an organization ID ([A-Za-z0-9_.-])";
}

static const char *check_org_role(const char *s)
{
    const char *colon = strchr(s, ':');
    char org[129];

    if (!colon || colon == s || !colon[1] || (size_t)(colon - s) >= sizeof(org))
        return "is not \"orgId:role\"";
    memcpy(org, s, (size_t)(colon - s));
    org[colon - s] = '\0';
    if (!org_id_ok(org) || check_role(colon + 1))
        return "is not \"orgId:role\"";
    return NULL;
}

static const char *check_user(const char *s)
{
    return logto_name_valid(s) ? NULL : "is not a valid user name ([a-z_][a-z0-9_.-]*)";
}

static const char *needs_openid(char *const *v)
{
    return logto_strv_contains(v, "openid") ? NULL : "must contain openid";
}

static const char *needs_one(char *const *v)
{
    return logto_strv_length(v) ? NULL : "needs at least one claim";
}

/* ------------------------------------------------------------------------------------------ */
/* The schema. */

static const struct enum_value profile_values[] = {
    { "logto", LOGTO_PROFILE_LOGTO },
    { "generic", LOGTO_PROFILE_GENERIC },
    { NULL, 0 },
};

static const struct enum_value flow_values[] = {
    { "device", LOGTO_FLOW_DEVICE },
    { "password", LOGTO_FLOW_PASSWORD },
    { "both", LOGTO_FLOW_BOTH },
    { NULL, 0 },
};

static const struct enum_value method_values[] = {
    { "experience", LOGTO_PW_EXPERIENCE },
    { "pat", LOGTO_PW_PAT },
    { "management", LOGTO_PW_MANAGEMENT },
    { "grant", LOGTO_PW_GRANT },
    { NULL, 0 },
};

static const struct enum_value tristate_values[] = {
    { "auto", LOGTO_AUTO },
    { "yes", LOGTO_YES },
    { "no", LOGTO_NO },
    { NULL, 0 },
};

static const struct enum_value group_values[] = {
    { "roles", G_ROLES },
    { "organizations", G_ORGS },
    { "organization_roles", G_ORG_ROLES },
    { NULL, 0 },
};

#define CFG(f) .offset = offsetof(struct logto_config, f)
#define SVC(f) .offset = offsetof(struct logto_service, f)
#define USR(f) .offset = offsetof(struct logto_user_override, f)
#define ORG(f) .offset = offsetof(struct logto_org_group, f)
#define DAY    86400

#define LOGTO_SCOPES                                                                               \
    "openid offline_access profile email roles custom_data identities "                            \
    "urn:logto:scope:organizations urn:logto:scope:organization_roles"

static const struct rule schema[] = {
    /* [logto] */
    { "logto", "profile", T_ENUM, S_PROFILE, CFG(profile), .def = "logto", .values = profile_values,
      .doc = "identity provider kind: logto, or generic for any OIDC provider" },
    { "logto", "endpoint", T_HTTPS_URL, S_STR, CFG(endpoint), .flags = F_STRIP_SLASH | F_OPTIONAL,
      .doc = "Logto URL (profile logto, required); the issuer is endpoint + /oidc" },
    { "logto", "issuer", T_HTTPS_URL, S_STR, CFG(issuer), .flags = F_OPTIONAL,
      .doc = "OIDC issuer (profile generic, required); with logto it must equal endpoint + /oidc" },
    { "logto", "client_id", T_TOKEN, S_STR, CFG(client_id), .flags = F_OPTIONAL,
      .doc = "client ID of the Native app that signs in with the device flow (required)" },
    { "logto", "client_secret_file", T_SECRET_FILE, S_STR, CFG(client_secret_file),
      .flags = F_OPTIONAL,
      .doc = "file holding the client secret of a confidential client (root, 0600)" },
    { "logto", "password_client_id", T_TOKEN, S_STR, CFG(password_client_id), .flags = F_OPTIONAL,
      .doc = "Native app for password sign-in (password_method experience or pat)" },
    { "logto", "redirect_uri", T_URL, S_STR, CFG(redirect_uri), .def = "http://127.0.0.1/callback",
      .doc = "redirect URI registered for the password app (matched, never loaded)" },
    { "logto", "ca_file", T_CA_FILE, S_STR, CFG(ca_file), .flags = F_OPTIONAL,
      .doc = "extra CA certificates to trust (PEM); TLS is always verified" },
    { "logto", "scopes", T_LIST, S_STRV, CFG(scopes), .flags = F_PROFILE_DEF, .def = LOGTO_SCOPES,
      .def_generic = "openid offline_access profile email", .check_item = check_scope,
      .check_list = needs_openid, .doc = "scopes requested at sign-in (must contain openid)" },
    { "logto", "resources", T_LIST, S_STRV, CFG(resources), .check_item = check_resource,
      .doc = "API resource indicators requested at sign-in (for logtoctl token --resource)" },
    { "logto", "connect_timeout", T_DURATION_MS, S_I64, CFG(connect_timeout_ms), .def = "5s",
      .min = 1000, .max = 60 * 1000, .doc = "time allowed to connect to the provider (1s..60s)" },
    { "logto", "timeout", T_DURATION_MS, S_I64, CFG(timeout_ms), .def = "15s", .min = 1000,
      .max = 300 * 1000, .doc = "time allowed for one request to the provider (1s..300s)" },
    { "logto", "poll_interval", T_DURATION, S_I64, CFG(poll_interval), .def = "5s", .min = 1,
      .max = 60, .doc = "device flow: seconds between polls when the provider gives none" },
    { "logto", "max_response_size", T_SIZE, S_I64, CFG(max_response_size), .def = "4M",
      .min = 64 * 1024, .max = 64 * 1024 * 1024,
      .doc = "largest response accepted from the provider (64K..64M)" },
    { "logto", "host_lockout_attempts", T_COUNT, S_I64, CFG(host_lockout_attempts), .def = "3",
      .min = 1, .max = LOGTO_HOST_LOCKOUT_MAX,
      .doc = "failed password attempts per user and host_lockout_window before this host stops "
             "asking the provider (1..100)" },
    { "logto", "host_lockout_window", T_DURATION, S_I64, CFG(host_lockout_window), .def = "1h",
      .min = 1, .max = DAY, .doc = "the window of host_lockout_attempts (1s..1d)" },
    { "logto", "max_device_flows", T_COUNT, S_I64, CFG(max_device_flows), .def = "10", .min = 1,
      .max = 10000, .doc = "device flows waiting for approval at once on this host (1..10000)" },
    { "logto", "max_device_flows_per_user", T_COUNT, S_I64, CFG(max_device_flows_per_user),
      .def = "2", .min = 1, .max = 100,
      .doc = "device flows waiting for approval at once for one user name (1..100)" },

    /* [identity] */
    { "identity", "name_claims", T_LIST, S_STRV, CFG(name_claims), .flags = F_PROFILE_DEF,
      .def = "username email", .def_generic = "preferred_username email", .check_item = check_claim,
      .check_list = needs_one,
      .doc = "claims tried in order for the user name; email gives its local part" },
    { "identity", "email_domains", T_LIST, S_STRV, CFG(email_domains), .check_item = check_domain,
      .doc = "domains whose verified e-mail addresses may give a user name; empty: none" },
    { "identity", "uid_key", T_KEY_NAME, S_STR, CFG(uid_key), .def = "uidNumber",
      .doc = "custom_data key holding an explicit UID" },
    { "identity", "gid_key", T_KEY_NAME, S_STR, CFG(gid_key), .def = "gidNumber",
      .doc = "custom_data key holding an explicit primary GID" },
    { "identity", "shell_key", T_KEY_NAME, S_STR, CFG(shell_key), .def = "loginShell",
      .doc = "custom_data key holding a login shell" },
    { "identity", "ssh_keys_key", T_KEY_NAME, S_STR, CFG(ssh_keys_key), .def = "sshPublicKeys",
      .doc = "custom_data key holding SSH public keys" },
    { "identity", "gecos_claim", T_CLAIM, S_STR, CFG(gecos_claim), .def = "name",
      .doc = "claim used for the GECOS (full name) field" },
    { "identity", "id_range", T_ID_RANGE, S_RANGE, 0, .def = "1879048192-2147352575",
      .doc = "range of hashed UIDs and GIDs (MIN-MAX, no reserved IDs, >= 65536 wide)" },
    { "identity", "home", T_HOME, S_STR, CFG(home_pattern), .def = "/home/%u",
      .doc = "home directory pattern: %u name, %U uid, %s subject, %% a percent sign" },
    { "identity", "shell", T_PATH, S_STR, CFG(default_shell), .def = "/bin/bash",
      .doc = "login shell when custom_data gives none" },
    { "identity", "role_group_prefix", T_PREFIX, S_STR, CFG(role_group_prefix), .def = "logto-",
      .doc = "prefix of groups made from roles (user names starting with it are refused)" },
    { "identity", "org_group_prefix", T_PREFIX, S_STR, CFG(org_group_prefix), .def = "org-",
      .doc = "prefix of groups made from organization IDs (user names starting with it are "
             "refused)" },
    { "identity", "org_role_group_prefix", T_PREFIX, S_STR, CFG(org_role_group_prefix),
      .def = "org-", .doc = "prefix of groups made from organization roles (orgId:role)" },
    { "identity", "reserved_names", T_LIST, S_STRV, CFG(reserved_names), .check_item = check_user,
      .doc = "more names never served as a user or group (system names are built in)" },
    { "identity", "groups", T_GROUPS, S_GROUPS, 0, .def = "roles organizations organization_roles",
      .values = group_values, .doc = "memberships that become groups; empty: none" },
    { "identity", "groups_claim", T_CLAIM, S_STR, CFG(groups_claim),
      .flags = F_PROFILE_DEF | F_OPTIONAL, .def = NULL, .def_generic = "groups",
      .doc = "profile generic: claim holding the user's group names" },

    /* [sync] */
    { "sync", "m2m_client_id", T_TOKEN, S_STR, CFG(m2m_client_id), .flags = F_OPTIONAL,
      .doc = "machine-to-machine app for the Management API (with m2m_client_secret_file)" },
    { "sync", "m2m_client_secret_file", T_SECRET_FILE, S_STR, CFG(m2m_client_secret_file),
      F_OPTIONAL, .doc = "file holding the M2M app secret (root, 0600)" },
    { "sync", "management_resource", T_HTTPS_URL, S_STR, CFG(management_resource),
      .def = "https://default.logto.app/api", .doc = "resource indicator of the Management API" },
    { "sync", "lookup_rate", T_COUNT, S_I64, CFG(lookup_rate), .def = "30", .min = 1, .max = 6000,
      .doc = "Management API lookups per minute for names not in the snapshot and logtoctl keys" },
    { "sync", "lookup_burst", T_COUNT, S_I64, CFG(lookup_burst), .def = "10", .min = 1, .max = 1000,
      .doc = "lookups allowed at once before lookup_rate applies (1..1000)" },
    { "sync", "lookup_cache_ttl", T_DURATION, S_I64, CFG(lookup_cache_ttl), .def = "60s", .min = 0,
      .max = 3600, .doc = "how long a lookup's answer, found or not, is reused (0: off)" },
    { "sync", "request_interval", T_DURATION_MS, S_I64, CFG(request_interval_ms), .def = "100ms",
      .min = 0, .max = 10 * 1000,
      .doc = "sync: least time between two Management API requests (0..10s; 0: no pacing)" },
    { "sync", "rate_limit_budget", T_DURATION, S_I64, CFG(rate_limit_budget), .def = "5m", .min = 0,
      .max = 3600,
      .doc = "sync: total time one sync may wait out the Management API's rate limit (0..1h)" },
    { "sync", "enumerate", T_BOOL, S_NOT_BOOL, CFG(no_enumerate), .def = "yes",
      .doc = "getent passwd/group list Logto users and groups (no: only lookups by name or ID)" },

    /* [publish] */
    { "publish", "sign_key_file", T_SECRET_FILE, S_STR, CFG(publish_sign_key_file), F_OPTIONAL,
      .doc = "Ed25519 private key (PEM, root, 0600) that signs what logtoctl publish writes" },
    { "publish", "validity", T_DURATION, S_I64, CFG(publish_validity), .def = "1d", .min = 600,
      .max = 30 * DAY, .doc = "how long a published manifest is valid (its not_after; 10m..30d)" },

    /* [relay] */
    { "relay", "url", T_HTTPS_URL, S_STR, CFG(relay_url), .flags = F_OPTIONAL,
      .doc = "https base URL where a published directory is served; sync reads it from there" },
    { "relay", "public_key_file", T_PATH, S_STR, CFG(relay_public_key_file), .flags = F_OPTIONAL,
      .doc = "the publisher's Ed25519 public key (PEM, root-owned), pinned" },

    /* [paths] */
    { "paths", "state_dir", T_PATH, S_STR, CFG(state_dir), .def = LOGTO_STATE_DIR,
      .doc = "token records and the directory snapshot" },
    { "paths", "cache_dir", T_PATH, S_STR, CFG(cache_dir), .def = LOGTO_CACHE_DIR,
      .doc = "cached discovery document and keys" },

    /* [log] */
    { "log", "debug", T_BOOL, S_BOOL, CFG(debug), .def = "no", .doc = "log debug messages" },

    /* [service NAME] */
    { "service", "flow", T_ENUM, S_I64, SVC(flow), .def = "device", .values = flow_values,
      .doc = "how users sign in: device, password, or both (empty password: device flow)" },
    { "service", "password_method", T_ENUM, S_I64, SVC(password_method), .flags = F_PROFILE_DEF,
      .def = "experience", .def_generic = "grant", .values = method_values,
      .doc = "how a password is checked: experience, pat, management or grant" },
    { "service", "require_roles", T_LIST, S_STRV, SVC(require_roles), .check_item = check_role,
      .doc = "allow users holding any of these roles" },
    { "service", "require_orgs", T_LIST, S_STRV, SVC(require_orgs), .check_item = check_org,
      .doc = "allow members of any of these organization IDs" },
    { "service", "require_org_roles", T_LIST, S_STRV, SVC(require_org_roles),
      .check_item = check_org_role, .doc = "allow users holding any of these orgId:role" },
    { "service", "allow_users", T_LIST, S_STRV, SVC(allow_users), .check_item = check_user,
      .doc = "if not empty, only these users may use the service" },
    { "service", "deny_users", T_LIST, S_STRV, SVC(deny_users), .check_item = check_user,
      .doc = "these users may never use the service" },
    { "service", "qr", T_BOOL, S_I64, SVC(qr), .def = "yes",
      .doc = "draw a QR code of the sign-in link in the device flow" },
    { "service", "enter_prompt", T_ENUM, S_I64, SVC(enter_prompt), .def = "auto",
      .values = tristate_values, .doc = "ask to press Enter after signing in (auto: over SSH)" },
    { "service", "claims_max_age", T_DURATION, S_I64, SVC(claims_max_age), .def = "300", .min = 0,
      .max = 7 * DAY, .doc = "refresh cached claims older than this (0: always)" },
    { "service", "offline_grace", T_DURATION, S_I64, SVC(offline_grace), .def = "7d", .min = 0,
      .max = 90 * DAY, .doc = "how long cached claims serve while the provider is down (0: off)" },
    { "service", "offline_delay_after", T_COUNT, S_I64, SVC(offline_delay_after), .def = "3",
      .min = 0, .max = 100,
      .doc = "wrong offline passwords in a row before each further try must wait (0..100)" },
    { "service", "offline_delay", T_DURATION, S_I64, SVC(offline_delay), .def = "30s", .min = 0,
      .max = 3600, .doc = "the first wait; it doubles with every further wrong password (0..1h)" },
    { "service", "offline_lock_after", T_COUNT, S_I64, SVC(offline_lock_after), .def = "10",
      .min = 1, .max = 100,
      .doc = "wrong offline passwords in a row that switch offline sign-in off until the next "
             "online one (1..100)" },
    { "service", "revoke_on_close", T_BOOL, S_I64, SVC(revoke_on_close), .def = "no",
      .doc = "revoke the session's tokens when the PAM session closes" },
    { "service", "allow_any_user", T_BOOL, S_I64, SVC(allow_any_user), .def = "no",
      .doc = "admit every user of the tenant when no require_* or allow_users rule is set" },

    /* [user NAME]: local overrides of one Logto user's passwd entry */
    { "user", "shell", T_SHELL, S_STR, USR(shell), .flags = F_OPTIONAL,
      .doc = "login shell of this Logto user, instead of custom_data's or default_shell" },
    { "user", "home", T_USER_HOME, S_STR, USR(home), .flags = F_OPTIONAL,
      .doc = "home directory of this Logto user, instead of the home pattern's" },
    { "user", "gecos", T_GECOS, S_STR, USR(gecos), .flags = F_OPTIONAL,
      .doc = "GECOS (full name) field of this Logto user, instead of gecos_claim's" },
    /* [organization ID] */
    { "organization", "group", T_GROUP_NAME, S_STR, ORG(group),
      .doc = "the organization's group name (its role groups: NAME-role) instead of the ID form" },
};

#define N_RULES ELEMENTSOF(schema)

static const char *const global_sections[] = { "logto", "identity", "sync", "publish",
                                               "relay", "paths",    "log" };

static int find_rule(const char *section, const char *name)
{
    for (size_t i = 0; i < N_RULES; i++)
        if ((!section || strcmp(schema[i].section, section) == 0) &&
            strcmp(schema[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The index of a key the code refers to by name; the table always has it. */
static size_t rule_index(const char *section, const char *name)
{
    int i = find_rule(section, name);
    return i < 0 ? 0 : (size_t)i;
}

static bool is_service_rule(const struct rule *r)
{
    return strcmp(r->section, "service") == 0;
}

static bool is_org_rule(const struct rule *r)
{
    return strcmp(r->section, "organization") == 0;
}

static bool is_user_rule(const struct rule *r)
{
    return strcmp(r->section, "user") == 0;
}

/* A key of [logto], [identity], ...: a field of struct logto_config. */
static bool is_global_rule(const struct rule *r)
{
    return !is_service_rule(r) && !is_user_rule(r) && !is_org_rule(r);
}

static const char *default_for(const struct rule *r, enum logto_profile profile)
{
    return (r->flags & F_PROFILE_DEF) && profile == LOGTO_PROFILE_GENERIC ? r->def_generic : r->def;
}

static void *field(const struct rule *r, void *obj)
{
    return (char *)obj + r->offset;
}

static const void *cfield(const struct rule *r, const void *obj)
{
    return (const char *)obj + r->offset;
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing one value. Errors come back as a phrase for "[section] key: <phrase>". */

/* The value as it appears in messages: quoted, control characters replaced, cut. */
static const char *quoted(char buf[static 100], const char *s)
{
    char clean[81];
    logto_log_sanitize(clean, sizeof(clean), s);
    snprintf(buf, 100, "\"%s%s\"", clean, strlen(s) > 80 ? "..." : "");
    return buf;
}

static int why_set(char *why, size_t n, const char *fmt, ...) _printf_(3, 4);
static int why_set(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -LOGTO_E_CONFIG;
}

static void fmt_duration(char *buf, size_t n, int64_t secs)
{
    static const struct {
        int64_t unit;
        char suffix;
    } units[] = { { DAY, 'd' }, { 3600, 'h' }, { 60, 'm' } };

    for (size_t i = 0; i < ELEMENTSOF(units); i++)
        if (secs != 0 && secs % units[i].unit == 0) {
            snprintf(buf, n, "%" PRId64 "%c", secs / units[i].unit, units[i].suffix);
            return;
        }
    snprintf(buf, n, "%" PRId64 "%s", secs, secs ? "s" : "");
}

static void fmt_duration_ms(char *buf, size_t n, int64_t ms)
{
    if (ms % 1000 == 0)
        fmt_duration(buf, n, ms / 1000);
    else
        snprintf(buf, n, "%" PRId64 "ms", ms);
}

static void fmt_size(char *buf, size_t n, int64_t bytes)
{
    if (bytes != 0 && bytes % (1024 * 1024) == 0)
        snprintf(buf, n, "%" PRId64 "M", bytes / (1024 * 1024));
    else if (bytes != 0 && bytes % 1024 == 0)
        snprintf(buf, n, "%" PRId64 "K", bytes / 1024);
    else
        snprintf(buf, n, "%" PRId64, bytes);
}

static int parse_url(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    bool https_only = r->type == T_HTTPS_URL;
    const char *host;
    char q[100];

    if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else if (!https_only && strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else
        return why_set(why, n, "%s is not an %s URL", quoted(q, s),
                       https_only ? "https://" : "http:// or https://");
    if (strlen(s) > URL_MAX || !visible_ascii(s) || strpbrk(s, "\"\\<>{}|^`"))
        return why_set(why, n, "%s is not a valid URL", quoted(q, s));
    if (strpbrk(s, "?#"))
        return why_set(why, n, "%s must not have a query or fragment", quoted(q, s));
    size_t hostlen = strcspn(host, "/");
    if (hostlen == 0)
        return why_set(why, n, "%s has no host", quoted(q, s));
    if (memchr(host, '@', hostlen))
        return why_set(why, n, "%s must not contain user information", quoted(q, s));
    v->str = strdup(s);
    if (!v->str)
        return -LOGTO_E_NOMEM;
    if (r->flags & F_STRIP_SLASH) {
        size_t len = strlen(v->str);
        while (len > (size_t)(host - s) + hostlen && v->str[len - 1] == '/')
            v->str[--len] = '\0';
    }
    return 0;
}

static int check_path_text(const char *s, const char *extra_bad, char *why, size_t n)
{
    char q[100];

    if (s[0] != '/')
        return why_set(why, n, "%s is not an absolute path", quoted(q, s));
    if (strlen(s) >= PATH_MAX)
        return why_set(why, n, "%s is too long", quoted(q, s));
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || strchr(extra_bad, *c))
            return why_set(why, n, "%s contains a control character or one of \"%s\"", quoted(q, s),
                           extra_bad);
    /* No "." or ".." components: the path means what it says. */
    for (const char *c = s; (c = strchr(c, '/')); c++) {
        size_t len = strcspn(c + 1, "/");
        if ((len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.'))
            return why_set(why, n, "%s must not contain . or .. components", quoted(q, s));
    }
    return 0;
}

static int parse_path(const char *s, struct value *v, char *why, size_t n)
{
    /* ':' would break a passwd line (shell, home). */
    int r = check_path_text(s, ":", why, n);
    if (r < 0)
        return r;
    v->str = strdup(s);
    if (!v->str)
        return -LOGTO_E_NOMEM;
    for (size_t len = strlen(v->str); len > 1 && v->str[len - 1] == '/';)
        v->str[--len] = '\0';
    /* "/a /" would become "/a ": a value no line can hold (values are trimmed), so the dump
     * would not load back to it. */
    if (logto_ascii_space((unsigned char)v->str[strlen(v->str) - 1])) {
        char q[100];
        free(v->str);
        v->str = NULL;
        return why_set(why, n, "%s ends in white space before a slash", quoted(q, s));
    }
    return 0;
}

static int parse_home(const char *s, struct value *v, char *why, size_t n)
{
    int r = check_path_text(s, ":", why, n);
    if (r < 0)
        return r;
    for (const char *c = s; (c = strchr(c, '%')); c += 2)
        if (!c[1] || !strchr("uUs%", c[1]))
            return why_set(why, n, "unknown token \"%%%.1s\" (use %%u, %%U, %%s or %%%%)", c + 1);
    v->str = strdup(s);
    return v->str ? 0 : -LOGTO_E_NOMEM;
}

/* Absolute, at most max bytes, no control character or extra_bad, no "." or ".." component, no
 * empty one (what identity.c's path_normal accepts), not "/" itself; trailing slashes dropped. */
static int parse_clean_path(const char *s, const char *extra_bad, size_t max, struct value *v,
                            char *why, size_t n)
{
    char q[100];
    int r = parse_path(s, v, why, n);

    if (r < 0)
        return r;
    if (strcmp(v->str, "/") == 0 || strstr(v->str, "//") || strlen(v->str) >= max)
        r = why_set(why, n, "%s is not a clean absolute path (no empty components, not \"/\")",
                    quoted(q, s));
    for (const char *c = v->str; r == 0 && *c; c++)
        if (strchr(extra_bad, *c))
            r = why_set(why, n, "%s contains one of \"%s\"", quoted(q, s), extra_bad);
    if (r < 0) {
        free(v->str);
        v->str = NULL;
    }
    return r;
}

/* Same limits as identity.c's for values from the identity provider. */
#define OVERRIDE_SHELL_MAX 256
#define OVERRIDE_HOME_MAX  1024
#define OVERRIDE_GECOS_MAX 255

static int parse_shell(const char *s, struct value *v, char *why, size_t n)
{
    char q[100];

    for (const char *c = s; *c; c++)
        if (!logto_ascii_alnum((unsigned char)*c) && !strchr("/._+-", *c))
            return why_set(why, n, "%s is not a shell path ([A-Za-z0-9/._+-])", quoted(q, s));
    return parse_clean_path(s, "", OVERRIDE_SHELL_MAX, v, why, n);
}

/* Text for a passwd line and a terminal: ':' would end the field; control, bidi and other hidden
 * characters and invalid UTF-8 are what text.h never shows. ',' stays: it separates the GECOS
 * subfields (room, phones) that chfn(1) writes too. */
static int parse_gecos(const char *s, struct value *v, char *why, size_t n)
{
    size_t len = strlen(s);
    _cleanup_free_ char *clean = malloc(len + 1);

    if (!clean)
        return -LOGTO_E_NOMEM;
    if (len > OVERRIDE_GECOS_MAX)
        return why_set(why, n, "longer than %d bytes", OVERRIDE_GECOS_MAX);
    if (strchr(s, ':'))
        return why_set(why, n, "contains \":\" (it would end the passwd field)");
    if (logto_text_clean_n(clean, s, len, 0) != len || memcmp(clean, s, len) != 0)
        return why_set(why, n,
                       "contains a control, bidi or other invisible character, or invalid UTF-8");
    v->str = strdup(s);
    return v->str ? 0 : -LOGTO_E_NOMEM;
}

static int parse_bool_text(const char *s, int64_t *ret)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
        if (logto_ascii_strcasecmp(s, yes[i]) == 0) {
            *ret = 1;
            return 0;
        }
        if (logto_ascii_strcasecmp(s, no[i]) == 0) {
            *ret = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_enum(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    char names[128] = "", q[100];

    for (const struct enum_value *e = r->values; e->name; e++) {
        if (strcmp(s, e->name) == 0) {
            v->num = e->value;
            return 0;
        }
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                 e == r->values ? "" : ", ", e->name);
    }
    return why_set(why, n, "%s is not one of: %s", quoted(q, s), names);
}

static int parse_duration_value(const struct rule *r, const char *s, struct value *v, char *why,
                                size_t n)
{
    bool ms = r->type == T_DURATION_MS;
    size_t len = strlen(s);
    char q[100], lo[32], hi[32];
    int64_t d;

    if (ms && len > 2 && len < 24 && strcmp(s + len - 2, "ms") == 0) {
        char num[24];
        uint64_t u;
        memcpy(num, s, len - 2);
        num[len - 2] = '\0';
        if (logto_parse_u64(num, 0, INT32_MAX, &u) < 0)
            return why_set(why, n, "%s is not a duration (use 30, 30s, 5m)", quoted(q, s));
        d = (int64_t)u;
    } else {
        if (logto_parse_duration(s, &d) < 0)
            return why_set(why, n, "%s is not a duration (use 30, 30s, 5m)", quoted(q, s));
        if (ms)
            d *= 1000;
    }
    if (d < r->min || d > r->max) {
        (ms ? fmt_duration_ms : fmt_duration)(lo, sizeof(lo), r->min);
        (ms ? fmt_duration_ms : fmt_duration)(hi, sizeof(hi), r->max);
        return why_set(why, n, "%s is out of range (%s..%s)", quoted(q, s), lo, hi);
    }
    v->num = d;
    return 0;
}

static int parse_size(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    size_t len = strlen(s);
    char num[24], q[100], lo[32], hi[32];
    uint64_t u, mult = 1;

    if (len == 0 || len >= sizeof(num))
        return why_set(why, n, "%s is not a size (use 65536, 64K, 4M)", quoted(q, s));
    memcpy(num, s, len + 1);
    if (num[len - 1] == 'K' || num[len - 1] == 'k')
        mult = 1024;
    else if (num[len - 1] == 'M' || num[len - 1] == 'm')
        mult = 1024 * 1024;
    if (mult > 1)
        num[len - 1] = '\0';
    if (logto_parse_u64(num, 0, INT32_MAX, &u) < 0)
        return why_set(why, n, "%s is not a size (use 65536, 64K, 4M)", quoted(q, s));
    if ((int64_t)(u * mult) < r->min || (int64_t)(u * mult) > r->max) {
        fmt_size(lo, sizeof(lo), r->min);
        fmt_size(hi, sizeof(hi), r->max);
        return why_set(why, n, "%s is out of range (%s..%s)", quoted(q, s), lo, hi);
    }
    v->num = (int64_t)(u * mult);
    return 0;
}

static int parse_count(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    char q[100];
    uint64_t u;

    if (logto_parse_u64(s, 0, INT32_MAX, &u) < 0)
        return why_set(why, n, "%s is not a whole number", quoted(q, s));
    if ((int64_t)u < r->min || (int64_t)u > r->max)
        return why_set(why, n, "%s is out of range (%" PRId64 "..%" PRId64 ")", quoted(q, s),
                       r->min, r->max);
    v->num = (int64_t)u;
    return 0;
}

/* Drop repeated items, keeping the first of each (order matters for claim chains). */
static void strv_dedupe(char **v)
{
    size_t w = 0;

    for (size_t r = 0; v && v[r]; r++) {
        bool seen = false;
        for (size_t i = 0; i < w && !seen; i++)
            seen = strcmp(v[i], v[r]) == 0;
        if (seen)
            free(v[r]);
        else
            v[w++] = v[r];
    }
    if (v)
        v[w] = NULL;
}

static int parse_list(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    _cleanup_strv_ char **items = logto_strv_split(s, true);
    const char *problem;
    char q[100];

    if (!items)
        return -LOGTO_E_NOMEM;
    for (size_t i = 0; items[i]; i++)
        if (r->check_item && (problem = r->check_item(items[i])))
            return why_set(why, n, "%s %s", quoted(q, items[i]), problem);
    strv_dedupe(items);
    if (r->check_list && (problem = r->check_list(items)))
        return why_set(why, n, "%s", problem);
    v->strv = TAKE_PTR(items);
    return 0;
}

static int parse_groups(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    _cleanup_strv_ char **items = logto_strv_split(s, true);

    if (!items)
        return -LOGTO_E_NOMEM;
    v->num = 0;
    for (size_t i = 0; items[i]; i++) {
        struct value one = { 0 };
        int k = parse_enum(r, items[i], &one, why, n);
        if (k < 0)
            return k;
        v->num |= one.num;
    }
    return 0;
}

static int parse_id_range(const char *s, struct value *v, char *why, size_t n)
{
    const char *dash = strchr(s, '-');
    char lo_text[24], hi_text[24], q[100];
    uint64_t lo, hi;

    if (!dash || (size_t)(dash - s) >= sizeof(lo_text) || strlen(dash + 1) >= sizeof(hi_text))
        return why_set(why, n, "%s is not a range (use MIN-MAX)", quoted(q, s));
    memcpy(lo_text, s, (size_t)(dash - s));
    lo_text[dash - s] = '\0';
    strcpy(hi_text, dash + 1);
    if (logto_parse_u64(logto_strip(lo_text), 0, UINT32_MAX, &lo) < 0 ||
        logto_parse_u64(logto_strip(hi_text), 0, UINT32_MAX, &hi) < 0)
        return why_set(why, n, "%s is not a range (use MIN-MAX)", quoted(q, s));
    if (lo > hi)
        return why_set(why, n, "%s starts after it ends", quoted(q, s));
    if (hi - lo + 1 < ID_RANGE_MIN_WIDTH)
        return why_set(why, n, "%s is narrower than %u IDs", quoted(q, s), ID_RANGE_MIN_WIDTH);
    if (logto_id_range_reserved((uint32_t)lo, (uint32_t)hi))
        return why_set(why, n,
                       "%s overlaps IDs reserved for the system, systemd or containers "
                       "(see logto.conf(5))",
                       quoted(q, s));
    v->num = (int64_t)lo;
    v->num2 = (int64_t)hi;
    return 0;
}

static int parse_prefix(const char *s, struct value *v, char *why, size_t n)
{
    char q[100];

    /* The prefix starts every group name made with it, so it must be a valid name start. */
    if (*s &&
        (strlen(s) >= LOGTO_NAME_MAX || !(logto_ascii_lower((unsigned char)*s) || *s == '_') ||
         !chars_in(s, "_.-") || strpbrk(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")))
        return why_set(why, n,
                       "%s is not a group-name prefix ([a-z_][a-z0-9_.-]*, at most %d "
                       "characters)",
                       quoted(q, s), LOGTO_NAME_MAX - 1);
    v->str = strdup(s);
    return v->str ? 0 : -LOGTO_E_NOMEM;
}

static int parse_string(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    char q[100];

    switch (r->type) {
    case T_TOKEN:
        if (strlen(s) > TOKEN_MAX || !visible_ascii(s) || strpbrk(s, "\"\\"))
            return why_set(why, n, "%s is not a valid client ID", quoted(q, s));
        break;
    case T_KEY_NAME:
        if (strlen(s) > 64 || !chars_in(s, "_.-"))
            return why_set(why, n, "%s is not a custom_data key ([A-Za-z0-9_.-])", quoted(q, s));
        break;
    case T_CLAIM:
        if (!claim_ok(s))
            return why_set(why, n, "%s is not a claim name ([A-Za-z0-9_.:/-])", quoted(q, s));
        break;
    case T_GROUP_NAME:
        if (!logto_name_valid(s))
            return why_set(why, n,
                           "%s is not a group name ([a-z_][a-z0-9_.-]*, at most %d characters)",
                           quoted(q, s), LOGTO_NAME_MAX);
        break;
    default:
        break;
    }
    v->str = strdup(s);
    return v->str ? 0 : -LOGTO_E_NOMEM;
}

/* Parse text for rule r into v: 0, -LOGTO_E_CONFIG with why, or -LOGTO_E_NOMEM. */
static int parse_value(const struct rule *r, const char *s, struct value *v, char *why, size_t n)
{
    *v = (struct value){ 0 };
    if (!*s) {
        if (r->flags & F_OPTIONAL)
            return 0; /* unset */
        if (r->type != T_LIST && r->type != T_PREFIX && r->type != T_GROUPS)
            return why_set(why, n, "empty value");
    }
    switch (r->type) {
    case T_ENUM:
        return parse_enum(r, s, v, why, n);
    case T_HTTPS_URL:
    case T_URL:
        return parse_url(r, s, v, why, n);
    case T_PATH:
    case T_SECRET_FILE:
    case T_CA_FILE:
        return parse_path(s, v, why, n);
    case T_BOOL: {
        char q[100];
        if (parse_bool_text(s, &v->num) < 0)
            return why_set(why, n, "%s is not a boolean (use yes or no)", quoted(q, s));
        return 0;
    }
    case T_DURATION:
    case T_DURATION_MS:
        return parse_duration_value(r, s, v, why, n);
    case T_SIZE:
        return parse_size(r, s, v, why, n);
    case T_COUNT:
        return parse_count(r, s, v, why, n);
    case T_LIST:
        return parse_list(r, s, v, why, n);
    case T_ID_RANGE:
        return parse_id_range(s, v, why, n);
    case T_HOME:
        return parse_home(s, v, why, n);
    case T_PREFIX:
        return parse_prefix(s, v, why, n);
    case T_GROUPS:
        return parse_groups(r, s, v, why, n);
    case T_TOKEN:
    case T_KEY_NAME:
    case T_CLAIM:
    case T_GROUP_NAME:
        return parse_string(r, s, v, why, n);
    case T_SHELL:
        return parse_shell(s, v, why, n);
    case T_USER_HOME:
        return parse_clean_path(s, ":,", OVERRIDE_HOME_MAX, v, why, n);
    case T_GECOS:
        return parse_gecos(s, v, why, n);
    }
    return why_set(why, n, "unsupported type");
}

/* Move v into the field of obj that r describes (the old value is freed). */
static void store_value(const struct rule *r, void *obj, struct value *v)
{
    void *f = field(r, obj);
    struct logto_config *cfg = obj;

    switch (r->storage) {
    case S_STR:
        free(*(char **)f);
        *(char **)f = TAKE_PTR(v->str);
        break;
    case S_STRV:
        logto_strv_free(*(char ***)f);
        *(char ***)f = TAKE_PTR(v->strv);
        break;
    case S_I64:
        *(int64_t *)f = v->num;
        break;
    case S_BOOL:
        *(bool *)f = v->num != 0;
        break;
    case S_NOT_BOOL:
        *(bool *)f = v->num == 0;
        break;
    case S_PROFILE:
        *(enum logto_profile *)f = (enum logto_profile)v->num;
        break;
    case S_RANGE:
        cfg->id_min = (uint32_t)v->num;
        cfg->id_max = (uint32_t)v->num2;
        break;
    case S_GROUPS:
        cfg->groups_from_roles = v->num & G_ROLES;
        cfg->groups_from_orgs = v->num & G_ORGS;
        cfg->groups_from_org_roles = v->num & G_ORG_ROLES;
        break;
    }
    value_done(v);
}

static const char *enum_name(const struct enum_value *values, int64_t value)
{
    for (const struct enum_value *e = values; e->name; e++)
        if (e->value == value)
            return e->name;
    return "";
}

/* The field as configuration text (what parse_value accepts back). NULL on allocation failure. */
static char *format_value(const struct rule *r, const void *obj)
{
    const void *f = cfield(r, obj);
    const struct logto_config *cfg = obj;
    char buf[64] = "";

    switch (r->storage) {
    case S_STR:
        return strdup(*(char *const *)f ? *(char *const *)f : "");
    case S_STRV: {
        char *const *v = *(char **const *)f;
        bool hash = false;
        /* An item may start with '#' ("a,#b"); after a space it would read as a comment. */
        for (size_t i = 0; v && v[i]; i++)
            hash = hash || v[i][0] == '#';
        return logto_strv_join(v, hash ? "," : " ");
    }
    case S_BOOL:
        return strdup(*(const bool *)f ? "yes" : "no");
    case S_NOT_BOOL:
        return strdup(*(const bool *)f ? "no" : "yes");
    case S_PROFILE:
        return strdup(enum_name(r->values, *(const enum logto_profile *)f));
    case S_RANGE:
        return logto_asprintf("%" PRIu32 "-%" PRIu32, cfg->id_min, cfg->id_max);
    case S_GROUPS: {
        bool on[] = { cfg->groups_from_roles, cfg->groups_from_orgs, cfg->groups_from_org_roles };
        for (size_t i = 0; i < ELEMENTSOF(on); i++)
            if (on[i])
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? " " : "",
                         r->values[i].name);
        return strdup(buf);
    }
    case S_I64:
        break;
    }
    int64_t num = *(const int64_t *)f;
    if (num == LOGTO_UNSET)
        return strdup("");
    switch (r->type) {
    case T_ENUM:
        return strdup(enum_name(r->values, num));
    case T_BOOL:
        return strdup(num ? "yes" : "no");
    case T_DURATION:
        fmt_duration(buf, sizeof(buf), num);
        break;
    case T_DURATION_MS:
        fmt_duration_ms(buf, sizeof(buf), num);
        break;
    case T_SIZE:
        fmt_size(buf, sizeof(buf), num);
        break;
    default:
        snprintf(buf, sizeof(buf), "%" PRId64, num);
        break;
    }
    return strdup(buf);
}

static void free_field(const struct rule *r, void *obj)
{
    void *f = field(r, obj);

    if (r->storage == S_STR) {
        free(*(char **)f);
        *(char **)f = NULL;
    } else if (r->storage == S_STRV) {
        logto_strv_free(*(char ***)f);
        *(char ***)f = NULL;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Organizations. */

static void org_group_free(struct logto_org_group *org)
{
    if (!org)
        return;
    free(org->id);
    free(org->group);
    free(org->file);
    free(org);
}

const char *logto_config_org_group(const struct logto_config *cfg, const char *org_id)
{
    for (size_t i = 0; cfg && org_id && i < cfg->n_org_groups; i++)
        if (strcmp(cfg->org_groups[i]->id, org_id) == 0)
            return cfg->org_groups[i]->group;
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Services. */

void logto_service_free(struct logto_service *svc)
{
    if (!svc)
        return;
    for (size_t i = 0; i < N_RULES; i++)
        if (is_service_rule(&schema[i]))
            free_field(&schema[i], svc);
    free(svc->name);
    free(svc->file);
    free(svc);
}

static struct logto_service *service_new(const char *name)
{
    struct logto_service *svc = calloc(1, sizeof(*svc));

    if (!svc)
        return NULL;
    svc->name = strdup(name);
    if (!svc->name) {
        free(svc);
        return NULL;
    }
    for (size_t i = 0; i < N_RULES; i++)
        if (is_service_rule(&schema[i]) && schema[i].storage == S_I64)
            *(int64_t *)field(&schema[i], svc) = LOGTO_UNSET;
    return svc;
}

static bool service_key_set(const struct rule *r, const struct logto_service *svc)
{
    const void *f = cfield(r, svc);
    return r->storage == S_I64 ? *(const int64_t *)f != LOGTO_UNSET : *(char **const *)f != NULL;
}

/* Copy every key src sets over dst. */
static int service_overlay(struct logto_service *dst, const struct logto_service *src)
{
    for (size_t i = 0; src && i < N_RULES; i++) {
        const struct rule *r = &schema[i];
        if (!is_service_rule(r) || !service_key_set(r, src))
            continue;
        if (r->storage == S_I64) {
            *(int64_t *)field(r, dst) = *(const int64_t *)cfield(r, src);
            continue;
        }
        char **copy = logto_strv_copy(*(char **const *)cfield(r, src));
        if (!copy)
            return -LOGTO_E_NOMEM;
        logto_strv_free(*(char ***)field(r, dst));
        *(char ***)field(r, dst) = copy;
    }
    return 0;
}

static const struct logto_service *service_find(const struct logto_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_services; i++)
        if (strcmp(cfg->services[i]->name, name) == 0)
            return cfg->services[i];
    return NULL;
}

/* Built-in defaults, then [service *], then [service name]; no validation. */
static int service_resolve(const struct logto_config *cfg, const char *name,
                           struct logto_service **ret)
{
    struct logto_service *svc = service_new(name);
    const struct logto_service *star = service_find(cfg, "*");
    const struct logto_service *own = strcmp(name, "*") ? service_find(cfg, name) : NULL;
    char why[256];

    if (!svc)
        return -LOGTO_E_NOMEM;
    for (size_t i = 0; i < N_RULES; i++) {
        const struct rule *r = &schema[i];
        const char *def = default_for(r, cfg->profile);
        struct value v;
        if (!is_service_rule(r) || !def)
            continue;
        if (parse_value(r, def, &v, why, sizeof(why)) < 0) {
            logto_service_free(svc);
            return -LOGTO_E_NOMEM; /* built-in defaults are valid (unit-tested) */
        }
        store_value(r, svc, &v);
    }
    if (service_overlay(svc, star) < 0 || service_overlay(svc, own) < 0) {
        logto_service_free(svc);
        return -LOGTO_E_NOMEM;
    }
    const struct logto_service *where = own ? own : star;
    if (where && where->file) {
        svc->file = strdup(where->file);
        if (!svc->file) {
            logto_service_free(svc);
            return -LOGTO_E_NOMEM;
        }
        svc->line = where->line;
    }
    *ret = svc;
    return 0;
}

static bool service_name_valid(const char *name)
{
    return *name && strlen(name) <= SERVICE_NAME_MAX && chars_in(name, "_.+@-") &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Why a password_method cannot be used with this configuration, or NULL. */
static const char *method_problem(const struct logto_config *cfg, int64_t method, bool star)
{
    if (method == LOGTO_PW_GRANT)
        return cfg->profile == LOGTO_PROFILE_GENERIC
                   ? NULL
                   : "grant needs profile generic (Logto has no password grant; use experience "
                     "or pat)";
    if (cfg->profile != LOGTO_PROFILE_LOGTO)
        return "experience, pat and management need profile logto (use grant)";
    if (method == LOGTO_PW_MANAGEMENT && cfg->relay_url)
        return "management checks passwords with the Management API's M2M secret, which a relay "
               "host ([relay] url) never holds: use experience or pat";
    if (method == LOGTO_PW_MANAGEMENT && star)
        return "management bypasses MFA and must be enabled per service, never in [service *]";
    if (method == LOGTO_PW_MANAGEMENT && !cfg->m2m_client_id)
        return "management needs [sync] m2m_client_id and m2m_client_secret_file";
    return NULL;
}

/* Why a resolved flow/method pair cannot work, or NULL. */
static const char *password_app_problem(const struct logto_config *cfg, int64_t flow,
                                        int64_t method)
{
    if ((flow & LOGTO_FLOW_PASSWORD) && (method == LOGTO_PW_EXPERIENCE || method == LOGTO_PW_PAT) &&
        !cfg->password_client_id)
        return method == LOGTO_PW_PAT ? "password_method pat needs [logto] password_client_id"
                                      : "password_method experience needs [logto] "
                                        "password_client_id";
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading files. */

struct origin {
    const char *file; /* one of cfg->sources; NULL: never set */
    int line;
};

struct service_origins {
    struct origin key[N_RULES];
};

struct parser {
    struct logto_config *cfg;
    struct origin origin[N_RULES];
    bool bad[N_RULES];                /* a bad value was reported: do not also call it missing */
    struct service_origins *svc_orig; /* parallel to cfg->services */
    struct service_origins *usr_orig; /* parallel to cfg->user_overrides */

    const char *file; /* position */
    int line;
    const char *section;     /* NULL before the first header and in unknown sections */
    size_t svc;              /* cfg->services index in a [service NAME] section */
    size_t usr;              /* cfg->user_overrides index in a [user NAME] section */
    size_t org;              /* cfg->org_groups index in an [organization ID] section */
    struct origin *org_orig; /* where each org_groups entry's group was set, parallel to it */
    bool skip;               /* in a bad section: its keys were reported with its header */

    char **errors;
    size_t n_errors;
    enum logto_errc first_code;
    bool incomplete; /* a file could not be read: whole-configuration checks would mislead */
    bool thorough;   /* logto_config_check: also the checks of check_system */
};

static int diag(struct parser *p, enum logto_errc code, const char *file, int line, const char *fmt,
                ...) _printf_(5, 6);
static int diag(struct parser *p, enum logto_errc code, const char *file, int line, const char *fmt,
                ...)
{
    char msg[1024];
    char *full;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (file && line > 0)
        full = logto_asprintf("%s:%d: %s", file, line, msg);
    else if (file)
        full = logto_asprintf("%s: %s", file, msg);
    else
        full = strdup(msg);
    if (logto_strv_push_take(&p->errors, full) < 0)
        return -LOGTO_E_NOMEM;
    if (p->n_errors++ == 0)
        p->first_code = code;
    return 0;
}

static const char *main_file(const struct parser *p)
{
    return p->cfg->sources ? p->cfg->sources[0] : NULL;
}

/* An error about key i of a global section, at the place it was set (or the main file). */
static int diag_key_code(struct parser *p, enum logto_errc code, size_t i, const char *fmt, ...)
    _printf_(4, 5);
static int diag_key_code(struct parser *p, enum logto_errc code, size_t i, const char *fmt, ...)
{
    const struct origin *o = &p->origin[i];
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return diag(p, code, o->file ? o->file : main_file(p), o->file ? o->line : 0, "[%s] %s: %s",
                schema[i].section, schema[i].name, msg);
}

#define diag_key(p, i, ...) diag_key_code((p), LOGTO_E_CONFIG, (i), __VA_ARGS__)

/* Room for n + 1 elements of elem_size bytes in the array *arrayp (a section list, or the origins
 * parallel to it), the new last one zeroed. On failure *arrayp is unchanged. */
static int grow_by_one(void *arrayp, size_t n, size_t elem_size)
{
    void *array, *more;

    memcpy(&array, arrayp, sizeof(array));
    more = realloc(array, (n + 1) * elem_size);
    if (!more)
        return -LOGTO_E_NOMEM;
    memset((char *)more + n * elem_size, 0, elem_size);
    memcpy(arrayp, &more, sizeof(more));
    return 0;
}

static int service_slot(struct parser *p, const char *name, size_t *ret)
{
    struct logto_config *cfg = p->cfg;
    struct logto_service *svc;

    for (size_t i = 0; i < cfg->n_services; i++)
        if (strcmp(cfg->services[i]->name, name) == 0) {
            *ret = i;
            return 0;
        }
    svc = service_new(name);
    if (!svc || !(svc->file = strdup(p->file))) {
        logto_service_free(svc);
        return -LOGTO_E_NOMEM;
    }
    svc->line = p->line;
    if (grow_by_one(&cfg->services, cfg->n_services, sizeof(*cfg->services)) < 0 ||
        grow_by_one(&p->svc_orig, cfg->n_services, sizeof(*p->svc_orig)) < 0) {
        logto_service_free(svc);
        return -LOGTO_E_NOMEM;
    }
    cfg->services[cfg->n_services] = svc;
    *ret = cfg->n_services++;
    return 0;
}

static void user_override_free(struct logto_user_override *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < N_RULES; i++)
        if (is_user_rule(&schema[i]))
            free_field(&schema[i], o);
    free(o->name);
    free(o->file);
    free(o);
}

static int user_slot(struct parser *p, const char *name, size_t *ret)
{
    struct logto_config *cfg = p->cfg;
    struct logto_user_override *o;
    size_t n = cfg->n_user_overrides;

    for (size_t i = 0; i < n; i++)
        if (strcmp(cfg->user_overrides[i]->name, name) == 0) {
            *ret = i;
            return 0;
        }
    o = calloc(1, sizeof(*o));
    if (!o || !(o->name = strdup(name)) || !(o->file = strdup(p->file))) {
        user_override_free(o);
        return -LOGTO_E_NOMEM;
    }
    o->line = p->line;
    if (grow_by_one(&cfg->user_overrides, n, sizeof(*cfg->user_overrides)) < 0 ||
        grow_by_one(&p->usr_orig, n, sizeof(*p->usr_orig)) < 0) {
        user_override_free(o);
        return -LOGTO_E_NOMEM;
    }
    cfg->user_overrides[cfg->n_user_overrides] = o;
    *ret = cfg->n_user_overrides++;
    return 0;
}

const struct logto_user_override *logto_config_user_override(const struct logto_config *cfg,
                                                             const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->n_user_overrides; i++)
        if (strcmp(cfg->user_overrides[i]->name, name) == 0)
            return cfg->user_overrides[i];
    return NULL;
}

static int org_slot(struct parser *p, const char *id, size_t *ret)
{
    struct logto_config *cfg = p->cfg;
    struct logto_org_group *org;

    for (size_t i = 0; i < cfg->n_org_groups; i++)
        if (strcmp(cfg->org_groups[i]->id, id) == 0) {
            *ret = i;
            return 0;
        }
    org = calloc(1, sizeof(*org));
    if (!org || !(org->id = strdup(id)) || !(org->file = strdup(p->file))) {
        org_group_free(org);
        return -LOGTO_E_NOMEM;
    }
    org->line = p->line;
    if (grow_by_one(&cfg->org_groups, cfg->n_org_groups, sizeof(*cfg->org_groups)) < 0 ||
        grow_by_one(&p->org_orig, cfg->n_org_groups, sizeof(*p->org_orig)) < 0) {
        org_group_free(org);
        return -LOGTO_E_NOMEM;
    }
    cfg->org_groups[cfg->n_org_groups] = org;
    *ret = cfg->n_org_groups++;
    return 0;
}

static bool only_comment(const char *rest)
{
    /* After "]": nothing, or whitespace then a comment. */
    if (!*rest)
        return true;
    if (!logto_ascii_space((unsigned char)*rest))
        return false;
    while (logto_ascii_space((unsigned char)*rest))
        rest++;
    return !*rest || *rest == '#';
}

static int parse_section(struct parser *p, char *s)
{
    char *end = strchr(s, ']'), *inner, *rest;

    p->section = NULL;
    p->skip = true;
    if (!end)
        return diag(p, LOGTO_E_CONFIG, p->file, p->line, "section header without \"]\"");
    *end = '\0';
    if (!only_comment(end + 1))
        return diag(p, LOGTO_E_CONFIG, p->file, p->line, "unexpected text after \"]\"");
    inner = logto_strip(s + 1);
    rest = inner + strcspn(inner, " \t");
    if (*rest)
        *rest++ = '\0';
    rest = logto_strip(rest);

    if (strcmp(inner, "service") == 0) {
        char q[100];
        if (!*rest)
            return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                        "[service] needs a PAM service name: [service NAME] or [service *]");
        if (strcmp(rest, "*") != 0 && !service_name_valid(rest))
            return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                        "[service]: %s is not a PAM service name", quoted(q, rest));
        int r = service_slot(p, rest, &p->svc);
        if (r < 0)
            return r;
        p->section = "service";
        p->skip = false;
        return 0;
    }
    if (strcmp(inner, "user") == 0) {
        char q[100];
        if (!*rest)
            return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                        "[user] needs the name of a Logto user: [user NAME]");
        if (!logto_name_valid(rest))
            return diag(p, LOGTO_E_CONFIG, p->file, p->line, "[user]: %s is not a valid user name",
                        quoted(q, rest));
        const char *system = logto_name_system_reason(rest);
        if (system)
            return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                        "[user %s]: %s %s, so no Logto user can have it", rest, rest, system);
        int r = user_slot(p, rest, &p->usr);
        if (r < 0)
            return r;
        p->section = "user";
        p->skip = false;
        return 0;
    }
    if (strcmp(inner, "organization") == 0) {
        char q[100];
        if (!*rest)
            return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                        "[organization] needs an organization ID: [organization ID]");
        if (!org_id_ok(rest))
            return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                        "[organization]: %s is not an organization ID ([A-Za-z0-9_.-])",
                        quoted(q, rest));
        int r = org_slot(p, rest, &p->org);
        if (r < 0)
            return r;
        p->section = "organization";
        p->skip = false;
        return 0;
    }
    for (size_t i = 0; !*rest && i < ELEMENTSOF(global_sections); i++)
        if (strcmp(inner, global_sections[i]) == 0) {
            p->section = global_sections[i];
            p->skip = false;
            return 0;
        }
    char clean[64];
    logto_log_sanitize(clean, sizeof(clean), inner);
    return diag(
        p, LOGTO_E_CONFIG, p->file, p->line,
        "unknown section [%s%s%s] (use [logto], [identity], [sync], [publish], [relay], [paths], "
        "[log], [service NAME], [user NAME] or [organization ID])",
        clean, *rest ? " " : "", *rest ? "..." : "");
}

/* Inline comments start at whitespace followed by '#'. */
static void cut_comment(char *value)
{
    for (char *c = value; *c; c++)
        if (*c == '#' && c > value && logto_ascii_space((unsigned char)c[-1])) {
            *c = '\0';
            return;
        }
}

/* Remember where a service's rule lists were set (config check --online names the line). */
static void note_rule_origin(struct logto_service *svc, const char *key, const struct origin *o)
{
    struct logto_origin *at = strcmp(key, "require_roles") == 0       ? &svc->require_roles_at
                              : strcmp(key, "require_orgs") == 0      ? &svc->require_orgs_at
                              : strcmp(key, "require_org_roles") == 0 ? &svc->require_org_roles_at
                                                                      : NULL;
    if (at)
        *at = (struct logto_origin){ o->file, o->line };
}

/* Keys a [user NAME] section refuses by name, with the reason (what identifies a person). */
static bool is_identity_key(const char *key)
{
    static const char *const keys[] = { "name", "uid", "gid", "groups", "sub" };
    for (size_t i = 0; i < ELEMENTSOF(keys); i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

static int parse_assignment(struct parser *p, char *s)
{
    char *eq = strchr(s, '='), *key, *text, label[96], why[512], clean[64];
    struct origin *o;
    struct value v;
    void *obj;
    int i, r;

    if (!eq)
        return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                    "not a \"key = value\" line or a [section] header");
    *eq = '\0';
    key = logto_strip(s);
    text = eq + 1;
    cut_comment(text);
    text = logto_strip(text);
    if (!*key)
        return diag(p, LOGTO_E_CONFIG, p->file, p->line, "missing key before \"=\"");
    if (p->skip)
        return 0;
    logto_log_sanitize(clean, sizeof(clean), key);
    if (!p->section)
        return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                    "%s: key outside of a section (start with [logto])", clean);

    bool service = strcmp(p->section, "service") == 0, user = strcmp(p->section, "user") == 0;
    bool org = strcmp(p->section, "organization") == 0;
    if (service)
        snprintf(label, sizeof(label), "service %s", p->cfg->services[p->svc]->name);
    else if (user)
        snprintf(label, sizeof(label), "user %s", p->cfg->user_overrides[p->usr]->name);
    else if (org) /* the ID passed org_id_ok: plain ASCII */
        snprintf(label, sizeof(label), "organization %.64s", p->cfg->org_groups[p->org]->id);
    else
        snprintf(label, sizeof(label), "%s", p->section);

    i = find_rule(p->section, key);
    if (i < 0 && user && is_identity_key(key))
        return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                    "[%s] %s: cannot be overridden (only shell, home and gecos can: the name, "
                    "UIDs, GIDs and groups come from the identity provider alone, so that every "
                    "host gives one person the same files and groups)",
                    label, clean);
    if (i < 0) {
        int other = find_rule(NULL, key);
        char hint[64] = "";
        if (other >= 0)
            snprintf(hint, sizeof(hint), " (it belongs in [%s%s])", schema[other].section,
                     is_global_rule(&schema[other]) ? ""
                     : is_org_rule(&schema[other])  ? " ID"
                                                    : " NAME");
        return diag(p, LOGTO_E_CONFIG, p->file, p->line, "[%s] unknown key \"%s\"%s", label, clean,
                    hint);
    }
    o = service ? &p->svc_orig[p->svc].key[i]
        : user  ? &p->usr_orig[p->usr].key[i]
        : org   ? &p->org_orig[p->org]
                : &p->origin[i];
    obj = service ? (void *)p->cfg->services[p->svc]
          : user  ? (void *)p->cfg->user_overrides[p->usr]
          : org   ? (void *)p->cfg->org_groups[p->org]
                  : (void *)p->cfg;
    if (o->file == p->file)
        return diag(p, LOGTO_E_CONFIG, p->file, p->line,
                    "[%s] %s: set twice in this file (first on line %d)", label, key, o->line);
    *o = (struct origin){ p->file, p->line };

    r = parse_value(&schema[i], text, &v, why, sizeof(why));
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        if (!service && !user && !org)
            p->bad[i] = true;
        return diag(p, LOGTO_E_CONFIG, p->file, p->line, "[%s] %s: %s", label, key, why);
    }
    store_value(&schema[i], obj, &v);
    if (!service && !user && !org)
        p->bad[i] = false;
    else if (service)
        note_rule_origin(p->cfg->services[p->svc], schema[i].name, o);
    return 0;
}

static int parse_line(struct parser *p, char *line)
{
    char *s = logto_strip(line);

    if (!*s || *s == '#' || *s == ';')
        return 0;
    if (*s == '[')
        return parse_section(p, s);
    return parse_assignment(p, s);
}

static int parse_text(struct parser *p, const char *buf, size_t len)
{
    char line[CONF_LINE_MAX + 1];
    size_t pos = 0;
    int r;

    p->section = NULL;
    p->skip = false;
    for (p->line = 1; pos < len; p->line++) {
        const char *start = buf + pos, *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;

        pos += n + (nl ? 1 : 0);
        if (n > CONF_LINE_MAX)
            r = diag(p, LOGTO_E_CONFIG, p->file, p->line, "line is longer than %d characters",
                     CONF_LINE_MAX);
        else if (memchr(start, '\0', n))
            r = diag(p, LOGTO_E_CONFIG, p->file, p->line, "line contains a NUL byte");
        else {
            memcpy(line, start, n);
            line[n] = '\0';
            r = parse_line(p, line);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* Errors of fileio.h keep their code when it says "unsafe"; anything else is a config error. */
static enum logto_errc file_code(int r)
{
    enum logto_errc c = logto_errc_from(r);
    return c == LOGTO_E_UNSAFE || c == LOGTO_E_NOMEM ? c : LOGTO_E_CONFIG;
}

static int read_one(struct parser *p, int dirfd, const char *name, const char *path)
{
    _cleanup_free_ char *buf = NULL;
    struct logto_error e = { 0 };
    size_t len = 0;
    int r;

    r = logto_file_read_at(dirfd, name, path, LOGTO_FILE_PUBLIC, CONF_FILE_MAX, &buf, &len, &e);
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        p->incomplete = true;
        return diag(p, file_code(r), NULL, 0, "%s", e.message);
    }
    if (logto_strv_push(&p->cfg->sources, path) < 0)
        return -LOGTO_E_NOMEM;
    p->file = p->cfg->sources[logto_strv_length(p->cfg->sources) - 1];
    return parse_text(p, buf, len);
}

static bool dropin_name(const char *name)
{
    size_t len = strlen(name);
    /* Hidden files are editor and package-manager leftovers. */
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

static int list_dropins(int dirfd, char ***ret)
{
    _cleanup_strv_ char **names = calloc(1, sizeof(char *));
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    struct dirent *de;
    DIR *d;

    if (!names) {
        if (fd >= 0)
            close(fd);
        return -LOGTO_E_NOMEM;
    }
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return -LOGTO_E_IO;
    }
    rewinddir(d);
    while ((errno = 0, de = readdir(d)))
        if (dropin_name(de->d_name) && logto_strv_push(&names, de->d_name) < 0) {
            closedir(d);
            return -LOGTO_E_NOMEM;
        }
    int saved = errno;
    closedir(d);
    if (saved)
        return -LOGTO_E_IO;
    logto_strv_sort(names); /* strcmp order: independent of the locale */
    *ret = TAKE_PTR(names);
    return 0;
}

static int read_dropins(struct parser *p, const char *dir)
{
    _cleanup_free_ char *dropdir = logto_asprintf("%s/conf.d", strcmp(dir, "/") ? dir : "");
    _cleanup_strv_ char **names = NULL;
    _cleanup_close_ int fd = -1;
    struct logto_error e = { 0 };
    int r;

    if (!dropdir)
        return -LOGTO_E_NOMEM;
    r = logto_dir_open_trusted(dropdir, false, &fd, &e);
    if (r == -LOGTO_E_NOTFOUND)
        return 0; /* drop-ins are optional */
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        p->incomplete = true;
        return diag(p, file_code(r), NULL, 0, "%s", e.message);
    }
    r = list_dropins(fd, &names);
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        p->incomplete = true;
        return diag(p, LOGTO_E_CONFIG, NULL, 0, "cannot list %s", dropdir);
    }
    for (size_t i = 0; names[i]; i++) {
        _cleanup_free_ char *path = logto_asprintf("%s/%s", dropdir, names[i]);
        if (!path)
            return -LOGTO_E_NOMEM;
        r = read_one(p, fd, names[i], path);
        if (r < 0)
            return r;
    }
    return 0;
}

static int read_files(struct parser *p, const char *path)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_close_ int dirfd = -1;
    struct logto_error e = { 0 };
    const char *base;
    int r;

    r = path && path[0] == '/' ? logto_path_split(path, &dir, &base) : -LOGTO_E_INVAL;
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        p->incomplete = true;
        return diag(p, LOGTO_E_CONFIG, NULL, 0, "%s: the configuration path must be absolute",
                    path ? path : "(null)");
    }
    r = logto_dir_open_trusted(dir, false, &dirfd, &e);
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        p->incomplete = true;
        return diag(p, file_code(r), NULL, 0, "%s", e.message);
    }
    r = read_one(p, dirfd, base, path);
    if (r < 0)
        return r;
    return read_dropins(p, dir);
}

/* Open a file the way it will be used later, to fail at load time rather than at sign-in. */
static int check_file(const char *path, enum logto_file_policy policy, size_t max,
                      struct logto_error *e)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_close_ int dirfd = -1, fd = -1;
    const char *base;
    int r;

    r = logto_path_split(path, &dir, &base);
    if (r == -LOGTO_E_NOMEM)
        return LOGTO_OOM(e);
    if (r < 0)
        return logto_error_set(e, LOGTO_E_CONFIG, "%s is not a file path", path);
    r = logto_dir_open_trusted(dir, false, &dirfd, e);
    if (r < 0)
        return r;
    /* An unprivileged process (logtoctl status, a screen locker's PAM stack) cannot open root's
     * 0600 secrets, but can still vouch that they are safe; they are read only when used. */
    if (policy == LOGTO_FILE_SECRET && geteuid() != 0)
        return logto_file_check_at(dirfd, base, path, policy, max, e);
    return logto_file_open_at(dirfd, base, path, policy, max, &fd, NULL, e);
}

static int apply_defaults(struct parser *p)
{
    char why[256];

    for (size_t i = 0; i < N_RULES; i++) {
        const struct rule *r = &schema[i];
        const char *def = default_for(r, p->cfg->profile);
        struct value v;
        int k;

        if (!is_global_rule(r) || (p->origin[i].file && !p->bad[i]) || !def)
            continue;
        k = parse_value(r, def, &v, why, sizeof(why));
        if (k == -LOGTO_E_NOMEM)
            return k;
        if (k < 0)
            return diag(p, LOGTO_E_CONFIG, NULL, 0, "built-in default of %s: %s", r->name, why);
        store_value(r, p->cfg, &v);
    }
    return 0;
}

static int check_provider(struct parser *p)
{
    struct logto_config *cfg = p->cfg;
    size_t endpoint = rule_index("logto", "endpoint"), issuer = rule_index("logto", "issuer");
    int r = 0;

    if (cfg->profile == LOGTO_PROFILE_GENERIC) {
        static const char *const logto_only[] = { "endpoint", "password_client_id",
                                                  "m2m_client_id" };
        for (size_t k = 0; k < ELEMENTSOF(logto_only) && r >= 0; k++) {
            size_t i = rule_index(NULL, logto_only[k]);
            if (*(char **)field(&schema[i], cfg))
                r = diag_key(p, i, "only used with profile logto");
        }
        if (r >= 0 && !cfg->issuer && !p->bad[issuer])
            r = diag_key(p, issuer, "is required with profile generic");
        return r;
    }
    if (cfg->groups_claim)
        r = diag_key(p, rule_index("identity", "groups_claim"), "only used with profile generic");
    if (r >= 0 && !cfg->endpoint && !p->bad[endpoint])
        return diag_key(p, endpoint, "is required (the Logto URL, e.g. https://auth.example.com)");
    if (r < 0 || !cfg->endpoint)
        return r;
    /* A common mistake: the issuer pasted as the endpoint (the issuer would be .../oidc/oidc). */
    size_t elen = strlen(cfg->endpoint);
    if (elen >= 5 && strcmp(cfg->endpoint + elen - 5, "/oidc") == 0)
        return diag_key(p, endpoint,
                        "\"%s\" ends in /oidc: the endpoint is the Logto tenant's base URL (e.g. "
                        "https://auth.example.com); the issuer is derived as endpoint + /oidc",
                        cfg->endpoint);
    _cleanup_free_ char *derived = logto_asprintf("%s/oidc", cfg->endpoint);
    if (!derived)
        return -LOGTO_E_NOMEM;
    if (cfg->issuer && strcmp(cfg->issuer, derived) != 0)
        return diag_key(p, issuer, "\"%s\" is not endpoint + /oidc (\"%s\"); leave it unset",
                        cfg->issuer, derived);
    if (!cfg->issuer)
        cfg->issuer = TAKE_PTR(derived);
    return 0;
}

static int check_files(struct parser *p)
{
    static const struct {
        const char *name;
        enum logto_file_policy policy;
        size_t max;
    } files[] = {
        { "client_secret_file", LOGTO_FILE_SECRET, SECRET_FILE_MAX },
        { "m2m_client_secret_file", LOGTO_FILE_SECRET, SECRET_FILE_MAX },
        { "sign_key_file", LOGTO_FILE_SECRET, SECRET_FILE_MAX },
        { "public_key_file", LOGTO_FILE_PUBLIC, SECRET_FILE_MAX },
        { "ca_file", LOGTO_FILE_PUBLIC, CA_FILE_MAX },
    };
    int r = 0;

    for (size_t k = 0; k < ELEMENTSOF(files) && r >= 0; k++) {
        size_t i = rule_index(NULL, files[k].name);
        const char *path = *(char **)field(&schema[i], p->cfg);
        struct logto_error e = { 0 };
        int k2 = path ? check_file(path, files[k].policy, files[k].max, &e) : 0;
        if (k2 == -LOGTO_E_NOMEM)
            return k2;
        if (k2 < 0)
            r = diag_key_code(p, file_code(k2), i, "%s", e.message);
    }
    return r;
}

static int check_sync(struct parser *p)
{
    bool id = p->cfg->m2m_client_id, secret = p->cfg->m2m_client_secret_file;

    if (id && !secret)
        return diag_key(p, rule_index("sync", "m2m_client_id"), "needs m2m_client_secret_file too");
    if (secret && !id)
        return diag_key(p, rule_index("sync", "m2m_client_secret_file"), "needs m2m_client_id too");
    if (p->cfg->relay_url && !p->cfg->relay_public_key_file)
        return diag_key(p, rule_index("relay", "url"), "needs public_key_file too");
    if (p->cfg->relay_public_key_file && !p->cfg->relay_url)
        return diag_key(p, rule_index("relay", "public_key_file"), "needs url too");
    /* A relay host holds no fleet secret: root there must not become root everywhere. */
    if (p->cfg->relay_url && (id || secret))
        return diag_key(p, rule_index("sync", id ? "m2m_client_id" : "m2m_client_secret_file"),
                        "a relay host ([relay] url) holds no Management API credential: remove "
                        "m2m_client_id and m2m_client_secret_file (only the publisher needs "
                        "them: they can rewrite any user of the tenant)");
    if (p->cfg->relay_url && p->cfg->publish_sign_key_file)
        return diag_key(p, rule_index("publish", "sign_key_file"),
                        "a relay host ([relay] url) holds no signing key: it decides every relay "
                        "host's users; keep it on the publisher only");
    return 0;
}

static int check_services(struct parser *p)
{
    const struct logto_config *cfg = p->cfg;
    size_t mi = rule_index("service", "password_method"), fi = rule_index("service", "flow");
    int r = 0;

    for (size_t s = 0; s < cfg->n_services && r >= 0; s++) {
        const struct logto_service *svc = cfg->services[s];
        const struct service_origins *o = &p->svc_orig[s];
        bool star = strcmp(svc->name, "*") == 0;
        _cleanup_(logto_service_freep) struct logto_service *eff = NULL;
        const char *problem;

        if (svc->password_method != LOGTO_UNSET &&
            (problem = method_problem(cfg, svc->password_method, star)))
            r = diag(p, LOGTO_E_CONFIG, o->key[mi].file, o->key[mi].line,
                     "[service %s] password_method: %s", svc->name, problem);
        if (r < 0)
            break;
        r = service_resolve(cfg, svc->name, &eff);
        if (r < 0)
            break;
        if ((problem = password_app_problem(cfg, eff->flow, eff->password_method))) {
            const struct origin *at = o->key[fi].file ? &o->key[fi] : &o->key[mi];
            r = diag(p, LOGTO_E_CONFIG, at->file ? at->file : svc->file,
                     at->file ? at->line : svc->line, "[service %s] %s", svc->name, problem);
        }
    }
    return r;
}

/* A CA file must hold at least one PEM certificate, or every TLS connection fails. */
static int check_ca_pem(struct parser *p)
{
    size_t i = rule_index("logto", "ca_file");
    _cleanup_free_ char *buf = NULL;
    struct logto_error e = { 0 };
    const char *begin;
    size_t len;
    int r;

    if (!p->cfg->ca_file)
        return 0;
    r = logto_file_read_trusted(p->cfg->ca_file, LOGTO_FILE_PUBLIC, CA_FILE_MAX, &buf, &len, &e);
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) /* check_files reported it */
        return 0;
    begin = memmem(buf, len, "-----BEGIN CERTIFICATE-----", 27);
    if (!begin)
        begin = memmem(buf, len, "-----BEGIN TRUSTED CERTIFICATE-----", 35);
    if (begin && memmem(begin, len - (size_t)(begin - buf), "-----END ", 9))
        return 0;
    return diag_key(p, i,
                    "%s holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"): give the "
                    "CA certificate in PEM form (openssl x509 -in CERT -outform PEM)",
                    p->cfg->ca_file);
}

/* The directory, or its nearest existing ancestor, must be one the module will trust: the PAM
 * module refuses state and caches under a path another user could change. */
static int check_dir_safe(struct parser *p, const char *section, const char *key)
{
    size_t i = rule_index(section, key);
    const char *dir = *(char **)field(&schema[i], p->cfg);
    _cleanup_free_ char *path = dir ? strdup(dir) : NULL;
    _cleanup_close_ int fd = -1;
    struct logto_error e = { 0 };
    bool missing = false;
    struct stat st;
    int r;

    if (!dir)
        return 0;
    if (!path)
        return -LOGTO_E_NOMEM;
    while (lstat(path, &st) < 0 && errno == ENOENT) {
        char *slash = strrchr(path, '/');
        if (!slash)
            return 0;
        slash[slash == path ? 1 : 0] = '\0';
        missing = true;
    }
    r = logto_dir_open_trusted(path, false, &fd, &e);
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r >= 0)
        return 0;
    return diag_key(p, i,
                    "%s%s: %s; make it and every parent directory owned by root and not writable "
                    "by group or others (chown root; chmod go-w)",
                    dir, missing ? " (not created yet)" : "", e.message);
}

static int check_system(struct parser *p)
{
    int r = check_ca_pem(p);

    if (r >= 0)
        r = check_dir_safe(p, "paths", "state_dir");
    if (r >= 0)
        r = check_dir_safe(p, "paths", "cache_dir");
    return r;
}

/* Why group a's role groups (a-<role>) could be group b, or the other way round; NULL: never. */
static const char *org_groups_overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la == lb)
        return strcmp(a, b) == 0 ? "is already the group of" : NULL;
    if (la > lb)
        return strncmp(a, b, lb) == 0 && a[lb] == '-' ? "could be a role group of" : NULL;
    return strncmp(a, b, la) == 0 && b[la] == '-' ? "has role groups named like the group of"
                                                  : NULL;
}

/* Why an [organization ID] group name may not be used, from the configuration alone (local
 * groups are checked where the groups are made). NULL: it may. */
static const char *org_group_problem(const struct logto_config *cfg, const char *group, char *buf,
                                     size_t n)
{
    const struct {
        const char *prefix, *key;
    } prefixes[] = {
        { cfg->role_group_prefix, "role_group_prefix" },
        { cfg->org_group_prefix, "org_group_prefix" },
        { cfg->org_role_group_prefix, "org_role_group_prefix" },
    };
    char dash[LOGTO_NAME_MAX + 2];
    const char *why = logto_name_system_reason(group);

    snprintf(dash, sizeof(dash), "%s-", group);
    if (why) {
        snprintf(buf, n, "is reserved for the system: it %s", why);
        return buf;
    }
    if ((why = logto_name_system_reason(dash))) {
        snprintf(buf, n, "would name its role groups like the system's: \"%s...\" %s", dash, why);
        return buf;
    }
    if (logto_strv_contains(cfg->reserved_names, group))
        return "is listed in [identity] reserved_names";
    /* Names from IDs and roles start with their prefix: a name that does not is none of them. */
    for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
        const char *prefix = prefixes[i].prefix ? prefixes[i].prefix : "";
        if (i == 0 && !*prefix)
            continue; /* roles compete with every group then; organization groups win (identity.c)
                       */
        if (!*prefix || logto_startswith(group, prefix)) {
            snprintf(buf, n,
                     "starts with [identity] %s \"%s\", so it could be a group made from %s",
                     prefixes[i].key, prefix, i == 0 ? "a role" : "an organization ID");
            return buf;
        }
    }
    return NULL;
}

static int check_org_groups(struct parser *p)
{
    const struct logto_config *cfg = p->cfg;
    int r = 0;

    for (size_t i = 0; i < cfg->n_org_groups && r >= 0; i++) {
        const struct logto_org_group *org = cfg->org_groups[i];
        const struct origin *at = &p->org_orig[i];
        const char *why;
        char buf[256];

        if (!org->group) {
            if (!at->file) /* a bad value was reported where it was set */
                r = diag(p, LOGTO_E_CONFIG, org->file, org->line, "[organization %s] sets no group",
                         org->id);
            continue;
        }
        if ((why = org_group_problem(cfg, org->group, buf, sizeof(buf))))
            r = diag(p, LOGTO_E_CONFIG, at->file, at->line, "[organization %s] group: \"%s\" %s",
                     org->id, org->group, why);
        for (size_t k = 0; k < i && r >= 0; k++) {
            const struct logto_org_group *other = cfg->org_groups[k];
            if (other->group && (why = org_groups_overlap(org->group, other->group)))
                r = diag(p, LOGTO_E_CONFIG, at->file, at->line,
                         "[organization %s] group: \"%s\" %s [organization %s] (\"%s\", %s:%d)",
                         org->id, org->group, why, other->id, other->group, p->org_orig[k].file,
                         p->org_orig[k].line);
        }
    }
    return r;
}

/* Defaults and the checks that need the whole configuration. */
static int finish(struct parser *p)
{
    size_t client_id = rule_index("logto", "client_id");
    int r;

    if (p->incomplete)
        return 0;
    r = apply_defaults(p);
    if (r >= 0)
        r = check_provider(p);
    if (r >= 0 && !p->cfg->client_id && !p->bad[client_id])
        r = diag_key(p, client_id, "is required (the device-flow Native app)");
    if (r >= 0)
        r = check_sync(p);
    if (r >= 0)
        r = check_files(p);
    if (r >= 0)
        r = check_services(p);
    if (r >= 0 && p->thorough)
        r = check_system(p);
    if (r >= 0)
        r = check_org_groups(p);
    return r;
}

static void parser_done(struct parser *p)
{
    logto_config_free(p->cfg);
    logto_strv_free(p->errors);
    free(p->svc_orig);
    free(p->usr_orig);
    free(p->org_orig);
}

/* Returns 0 (errors, if any, in p) or -LOGTO_E_NOMEM. */
static int parse_config(struct parser *p, const char *path)
{
    int r;

    p->cfg = calloc(1, sizeof(*p->cfg));
    if (!p->cfg)
        return -LOGTO_E_NOMEM;
    r = read_files(p, path ? path : LOGTO_DEFAULT_CONFIG);
    if (r >= 0)
        r = finish(p);
    return r < 0 ? r : 0;
}

int logto_config_check(const char *path, struct logto_config **ret, char ***ret_errors)
{
    struct parser p = { .thorough = true };
    int r;

    *ret = NULL;
    if (ret_errors)
        *ret_errors = NULL;
    r = parse_config(&p, path);
    if (r < 0) {
        parser_done(&p);
        return r;
    }
    if (p.n_errors > 0) {
        r = (int)p.n_errors;
        if (ret_errors)
            *ret_errors = TAKE_PTR(p.errors);
        parser_done(&p);
        return r;
    }
    *ret = TAKE_PTR(p.cfg);
    parser_done(&p);
    return 0;
}

/* The end of logto_config_load and logto_config_parse_buffer: the first error, or the config. */
static int load_result(struct parser *p, int r, struct logto_config **ret, struct logto_error *err)
{
    if (r < 0) {
        parser_done(p);
        return LOGTO_OOM(err);
    }
    if (p->n_errors > 0) {
        r = logto_error_set(err, p->first_code, "%s", p->errors[0]);
        parser_done(p);
        return r;
    }
    *ret = TAKE_PTR(p->cfg);
    parser_done(p);
    return 0;
}

int logto_config_parse_buffer(const char *buf, size_t len, const char *name,
                              struct logto_config **ret, struct logto_error *err)
{
    struct parser p = { 0 };
    int r = 0;

    *ret = NULL;
    p.cfg = calloc(1, sizeof(*p.cfg));
    if (!p.cfg || logto_strv_push(&p.cfg->sources, name ? name : "(buffer)") < 0)
        r = -LOGTO_E_NOMEM;
    if (r >= 0 && len > CONF_FILE_MAX) {
        p.incomplete = true;
        r = diag(&p, LOGTO_E_CONFIG, NULL, 0, "%s is too large (%zu bytes, limit %d)",
                 p.cfg->sources[0], len, CONF_FILE_MAX);
    } else if (r >= 0) {
        p.file = p.cfg->sources[0];
        r = parse_text(&p, buf, len);
        if (r >= 0)
            r = finish(&p);
    }
    return load_result(&p, r, ret, err);
}

int logto_config_load(const char *path, struct logto_config **ret, struct logto_error *err)
{
    struct parser p = { 0 };
    int r;

    *ret = NULL;
    r = parse_config(&p, path);
    return load_result(&p, r, ret, err);
}

void logto_config_free(struct logto_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_RULES; i++)
        if (is_global_rule(&schema[i]))
            free_field(&schema[i], cfg);
    for (size_t i = 0; i < cfg->n_services; i++)
        logto_service_free(cfg->services[i]);
    free(cfg->services);
    for (size_t i = 0; i < cfg->n_user_overrides; i++)
        user_override_free(cfg->user_overrides[i]);
    free(cfg->user_overrides);
    for (size_t i = 0; i < cfg->n_org_groups; i++)
        org_group_free(cfg->org_groups[i]);
    free(cfg->org_groups);
    logto_strv_free(cfg->sources);
    free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* Per-service rules with PAM arguments. */

static int parse_pam_arg(const char *arg, struct logto_service *args, struct logto_error *err)
{
    char buf[CONF_LINE_MAX + 1], why[512], q[100];
    size_t len = strlen(arg);
    char *eq, *key, *text;
    struct value v;
    int i, r;

    if (len > CONF_LINE_MAX)
        return logto_error_set(err, LOGTO_E_CONFIG, "PAM argument is longer than %d characters",
                               CONF_LINE_MAX);
    /* Arguments with spaces are written [key=a b] in PAM files. */
    if (len >= 2 && arg[0] == '[' && arg[len - 1] == ']') {
        memcpy(buf, arg + 1, len - 2);
        buf[len - 2] = '\0';
    } else
        memcpy(buf, arg, len + 1);

    if (strcmp(buf, "debug") == 0 || logto_startswith(buf, "config="))
        return 0; /* handled by the PAM module */
    eq = strchr(buf, '=');
    if (!eq)
        return logto_error_set(err, LOGTO_E_CONFIG, "unknown PAM argument %s", quoted(q, arg));
    *eq = '\0';
    key = buf;
    text = logto_strip(eq + 1);
    i = find_rule("service", key);
    if (i < 0) {
        bool global = find_rule(NULL, key) >= 0;
        return logto_error_set(err, LOGTO_E_CONFIG, "unknown PAM argument %s%s", quoted(q, arg),
                               global ? " (set it in logto.conf)" : "");
    }
    r = parse_value(&schema[i], text, &v, why, sizeof(why));
    if (r == -LOGTO_E_NOMEM)
        return LOGTO_OOM(err);
    if (r < 0)
        return logto_error_set(err, LOGTO_E_CONFIG, "PAM argument %s: %s", key, why);
    store_value(&schema[i], args, &v);
    return 0;
}

/* A resolved empty list means "no rule": hand it out as NULL so there is one meaning. */
static void service_normalize(struct logto_service *svc)
{
    for (size_t i = 0; i < N_RULES; i++) {
        char ***v = (char ***)field(&schema[i], svc);
        if (is_service_rule(&schema[i]) && schema[i].storage == S_STRV && *v && !**v) {
            logto_strv_free(*v);
            *v = NULL;
        }
    }
}

int logto_config_service(const struct logto_config *cfg, const char *service, int argc,
                         const char **argv, struct logto_service **ret, struct logto_error *err)
{
    _cleanup_(logto_service_freep) struct logto_service *svc = NULL, *args = NULL;
    const char *problem;
    int r;

    *ret = NULL;
    if (!cfg || !service || !*service)
        return logto_error_set(err, LOGTO_E_INVAL, "no PAM service name");
    args = service_new(service);
    if (!args)
        return LOGTO_OOM(err);
    for (int i = 0; i < argc; i++) {
        if (!argv[i])
            continue;
        r = parse_pam_arg(argv[i], args, err);
        if (r < 0)
            return r;
    }
    if (args->password_method != LOGTO_UNSET &&
        (problem = method_problem(cfg, args->password_method, false)))
        return logto_error_set(err, LOGTO_E_CONFIG, "PAM argument password_method: %s", problem);

    if (service_resolve(cfg, service, &svc) < 0 || service_overlay(svc, args) < 0)
        return LOGTO_OOM(err);
    if ((problem = password_app_problem(cfg, svc->flow, svc->password_method)))
        return logto_error_set(err, LOGTO_E_CONFIG, "service %s: %s", service, problem);
    service_normalize(svc);
    *ret = TAKE_PTR(svc);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Secrets, dump, schema. */

int logto_config_read_secret(const char *path, char **ret, struct logto_error *err)
{
    char *buf = NULL;
    size_t len = 0, size;
    int r;

    r = logto_file_read_trusted(path, LOGTO_FILE_SECRET, SECRET_FILE_MAX, &buf, &len, err);
    if (r < 0)
        return r;
    size = len;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (len == 0 || memchr(buf, '\0', len) || memchr(buf, '\n', len) || memchr(buf, '\r', len)) {
        logto_freezero(buf, size + 1);
        return logto_error_set(err, LOGTO_E_CONFIG, "%s must hold the secret on one line", path);
    }
    *ret = buf;
    return 0;
}

static void dump_section(const struct rule *first, const void *obj, const char *header, FILE *out)
{
    fprintf(out, "\n[%s]\n", header);
    for (const struct rule *r = first; r < schema + N_RULES; r++) {
        if (strcmp(r->section, first->section) != 0)
            break;
        _cleanup_free_ char *text = format_value(r, obj);
        /* A value may start with '#' ("key =#x"); after a space it would read as a comment. */
        fprintf(out, "%s =%s%s\n", r->name, text && *text && *text != '#' ? " " : "",
                text ? text : "");
    }
}

void logto_config_dump(const struct logto_config *cfg, FILE *out)
{
    const struct rule *service_first = NULL, *user_first = NULL,
                      *org_first = &schema[rule_index("organization", "group")];

    if (!cfg)
        return;
    fprintf(out, "# effective configuration: every key, defaults included; secret files by "
                 "path only\n");
    for (size_t i = 0; i < N_RULES; i++) {
        if (is_service_rule(&schema[i]) && !service_first)
            service_first = &schema[i];
        if (is_user_rule(&schema[i]) && !user_first)
            user_first = &schema[i];
        if (!is_global_rule(&schema[i]))
            continue;
        if (i == 0 || strcmp(schema[i - 1].section, schema[i].section) != 0)
            dump_section(&schema[i], cfg, schema[i].section, out);
    }
    /* Services as they take effect: [service *] over the defaults, each named one over that. */
    for (size_t s = 0; service_first && s <= cfg->n_services; s++) {
        const char *name = s == 0 ? "*" : cfg->services[s - 1]->name;
        _cleanup_(logto_service_freep) struct logto_service *eff = NULL;
        char header[SERVICE_NAME_MAX + 16];

        if (s > 0 && strcmp(name, "*") == 0)
            continue;
        if (service_resolve(cfg, name, &eff) < 0)
            continue;
        snprintf(header, sizeof(header), "service %s", name);
        dump_section(service_first, eff, header, out);
    }
    for (size_t u = 0; user_first && u < cfg->n_user_overrides; u++) {
        char header[LOGTO_NAME_MAX + 16];
        snprintf(header, sizeof(header), "user %s", cfg->user_overrides[u]->name);
        dump_section(user_first, cfg->user_overrides[u], header, out);
    }
    for (size_t o = 0; o < cfg->n_org_groups; o++) {
        _cleanup_free_ char *header = logto_asprintf("organization %s", cfg->org_groups[o]->id);
        if (header)
            dump_section(org_first, cfg->org_groups[o], header, out);
    }
}

static struct logto_config_key public_keys[N_RULES];
static char public_types[N_RULES][128];
static char public_defaults[N_RULES][320];
static pthread_once_t public_once = PTHREAD_ONCE_INIT;

static const char *type_name(const struct rule *r, char *buf, size_t n)
{
    static const char *const names[] = {
        [T_ENUM] = "enum",           [T_TOKEN] = "string",
        [T_HTTPS_URL] = "https-url", [T_URL] = "url",
        [T_PATH] = "path",           [T_SECRET_FILE] = "secret-file",
        [T_CA_FILE] = "file",        [T_BOOL] = "bool",
        [T_DURATION] = "duration",   [T_DURATION_MS] = "duration",
        [T_SIZE] = "size",           [T_COUNT] = "number",
        [T_LIST] = "list",           [T_ID_RANGE] = "range",
        [T_HOME] = "pattern",        [T_PREFIX] = "prefix",
        [T_KEY_NAME] = "name",       [T_CLAIM] = "claim",
        [T_GROUPS] = "list",         [T_SHELL] = "path",
        [T_USER_HOME] = "path",      [T_GECOS] = "text",
        [T_GROUP_NAME] = "group",
    };

    if (r->type != T_ENUM && r->type != T_GROUPS)
        return names[r->type];
    snprintf(buf, n, "%s", r->type == T_GROUPS ? "list of " : "");
    for (const struct enum_value *e = r->values; e->name; e++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", e == r->values ? "" : "|", e->name);
    return buf;
}

static void public_init(void)
{
    for (size_t i = 0; i < N_RULES; i++) {
        const struct rule *r = &schema[i];
        const char *def = r->def;

        if (r->flags & F_PROFILE_DEF) {
            snprintf(public_defaults[i], sizeof(public_defaults[i]), "%s; generic: %s",
                     r->def ? r->def : "unset", r->def_generic ? r->def_generic : "unset");
            def = public_defaults[i];
        }
        public_keys[i] = (struct logto_config_key){
            .section = r->section,
            .name = r->name,
            .type = type_name(r, public_types[i], sizeof(public_types[i])),
            .def = def,
            .doc = r->doc,
        };
    }
}

const struct logto_config_key *logto_config_keys(size_t *ret_n)
{
    pthread_once(&public_once, public_init);
    if (ret_n)
        *ret_n = N_RULES;
    return public_keys;
}
