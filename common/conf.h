/* SPDX-License-Identifier: MIT */
/*
 * Configuration: /etc/logto/logto.conf plus /etc/logto/conf.d/ *.conf in name order (INI:
 * "key = value", '#' comments, [sections]). An unknown section or key, a bad value, or an
 * unsafe file is an error naming file, line and key. PAM arguments override service keys per
 * stack line. Every key is described once, in the schema table of config.c, which also drives
 * `logtoctl config check` output and the man page test.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define LOGTO_DEFAULT_CONFIG LOGTO_CONF_DIR "/logto.conf"

#define LOGTO_HOST_LOCKOUT_MAX 100 /* largest host_lockout_attempts */

enum logto_profile {
    LOGTO_PROFILE_LOGTO,   /* issuer = endpoint + "/oidc"; Logto claims and extras */
    LOGTO_PROFILE_GENERIC, /* any OIDC provider, found through discovery at `issuer` */
};

enum logto_flow {
    LOGTO_FLOW_DEVICE = 1,   /* device authorization grant (URL, code, QR) */
    LOGTO_FLOW_PASSWORD = 2, /* a password prompt, checked by password_method */
    LOGTO_FLOW_BOTH = 3,     /* password prompt; an empty answer starts the device flow */
};

enum logto_password_method {
    LOGTO_PW_EXPERIENCE = 1, /* Logto Experience API (MFA by TOTP, lockout respected) */
    LOGTO_PW_PAT,            /* a personal access token typed as the password */
    LOGTO_PW_MANAGEMENT,     /* Management API password check: needs M2M secret, no MFA */
    LOGTO_PW_GRANT,          /* OAuth password grant (generic providers that offer it) */
};

enum logto_tristate { LOGTO_AUTO = -1, LOGTO_NO = 0, LOGTO_YES = 1 };

/* Where a key was set: file is one of cfg->sources (NULL: not set in any file). */
struct logto_origin {
    const char *file;
    int line;
};

/* One [service NAME] section. Unset values are LOGTO_UNSET (ints) or NULL (lists). */
#define LOGTO_UNSET INT64_MIN
struct logto_service {
    char *name;                  /* PAM service name; "*" for the default section */
    int64_t flow;                /* enum logto_flow */
    int64_t password_method;     /* enum logto_password_method */
    char **require_roles;        /* any of these role names */
    char **require_orgs;         /* member of any of these organization IDs */
    char **require_org_roles;    /* any of these "orgId:role" */
    char **allow_users;          /* if set, only these users */
    char **deny_users;           /* never these users */
    int64_t qr;                  /* bool: draw a QR code for the device flow */
    int64_t enter_prompt;        /* enum logto_tristate: ask "press Enter" before polling */
    int64_t claims_max_age;      /* seconds before cached claims are refreshed */
    int64_t offline_grace;       /* seconds cached credentials/claims serve when the IdP is down */
    int64_t offline_delay_after; /* wrong offline passwords in a row before waits start */
    int64_t offline_delay;       /* seconds of the first wait; doubles per further failure */
    int64_t offline_lock_after;  /* wrong offline passwords in a row that end offline sign-in */
    int64_t revoke_on_close;     /* bool: revoke tokens in close_session */
    int64_t allow_any_user;      /* bool: with no rule set, admit every user of the tenant */
    char *file;                  /* where the section was defined (for messages) */
    int line;
    /* Where the rule lists were set, for logtoctl config check --online (sections of
     * cfg->services only; resolved services leave them empty). */
    struct logto_origin require_roles_at, require_orgs_at, require_org_roles_at;
};

/*
 * One [user NAME] section: what the host's administrator puts in that Logto user's passwd entry
 * instead of what the identity mapping gives (NULL: not overridden), like `sss_override user-add`.
 * Name, UID, GID and groups are never overridden: they decide whose files and groups these are.
 */
struct logto_user_override {
    char *name; /* a valid user name */
    char *shell, *home, *gecos;
    char *file; /* where the section was first defined (for `logtoctl user`) */
    int line;
};

/* [organization ID]: the group name this host's administrator gave an organization. */
struct logto_org_group {
    char *id;    /* the organization ID, as in the section header */
    char *group; /* the organization's group; its role groups are group-<role>. NULL: unset */
    char *file;  /* where the section was defined (for messages) */
    int line;
};

struct logto_config {
    /* [logto] */
    enum logto_profile profile;
    char *endpoint;           /* Logto: https://auth.example.com (issuer = endpoint + /oidc) */
    char *issuer;             /* generic: the issuer URL; Logto: derived */
    char *client_id;          /* device-flow app (Native, device flow enabled) */
    char *client_secret_file; /* generic confidential clients only (0600 file) */
    char *password_client_id; /* Native app used for Experience API and PAT exchange */
    char *redirect_uri;       /* its registered redirect URI (never loaded, only matched) */
    char *ca_file;            /* extra trust anchor; TLS verification is always on */
    char **scopes;            /* requested scopes (profile-dependent default) */
    char **resources;         /* API resource indicators requested at sign-in (RFC 8707) */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t poll_interval; /* device flow: seconds between polls when the IdP gives none */
    int64_t max_response_size;
    int64_t host_lockout_attempts; /* failed password attempts per user per window on this host */
    int64_t host_lockout_window;   /* seconds */
    int64_t max_device_flows;      /* device flows waiting for approval, per host */
    int64_t max_device_flows_per_user; /* ... per user name */

    /* [identity] */
    char **name_claims;      /* claim chain for the user name; "email" takes the local part */
    char **email_domains;    /* "email" in the chain names users only in these domains */
    char *uid_key;           /* custom_data key holding an explicit UID */
    char *gid_key;           /* custom_data key holding an explicit primary GID */
    char *shell_key;         /* custom_data key holding a login shell */
    char *ssh_keys_key;      /* custom_data key holding SSH public keys */
    char *gecos_claim;       /* claim used for the gecos field */
    uint32_t id_min, id_max; /* range for hashed UIDs/GIDs */
    char *home_pattern;      /* e.g. /home/%u (%u name, %U uid, %s sub) */
    char *default_shell;
    char *role_group_prefix;
    char *org_group_prefix;
    char *org_role_group_prefix;
    char **reserved_names; /* never served as a user or group name, beyond the built-in ones */
    char *groups_claim;    /* generic: claim holding group names */
    bool groups_from_roles, groups_from_orgs, groups_from_org_roles;

    /* [sync] */
    char *m2m_client_id;
    char *m2m_client_secret_file;
    char *management_resource;   /* default https://default.logto.app/api */
    int64_t lookup_rate;         /* Management API lookups per minute before sign-in (per host) */
    int64_t lookup_burst;        /* ... at most this many at once */
    int64_t lookup_cache_ttl;    /* seconds a lookup's answer (found or not) is reused */
    int64_t request_interval_ms; /* sync: least time between two Management API requests */
    int64_t rate_limit_budget;   /* sync: seconds it may wait out 429s (and 503 + Retry-After) */
    bool no_enumerate;           /* enumerate = no: the writers (sync, sign-in) set the snapshot's
                                  * LOGTO_SNAPSHOT_F_NO_ENUMERATE, so getpwent/getgrent list no entry */

    /* [publish] (logtoctl publish; relay.h) */
    char *publish_sign_key_file; /* Ed25519 private key, PEM (root, 0600) */
    int64_t publish_validity;    /* seconds a published manifest stays valid (not_after) */

    /* [relay] (sync from a signed directory instead of the Management API; relay.h) */
    char *relay_url;             /* https base where `logtoctl publish DIR` is served */
    char *relay_public_key_file; /* the publisher's Ed25519 public key, PEM (pinned) */

    /* [paths] */
    char *state_dir;
    char *cache_dir;

    /* [log] */
    bool debug;

    /* [service ...] sections, in file order */
    struct logto_service **services;
    size_t n_services;

    /* [user NAME] sections, in file order */
    struct logto_user_override **user_overrides;
    size_t n_user_overrides;

    /* [organization ID] sections, in file order */
    struct logto_org_group **org_groups;
    size_t n_org_groups;

    /* files that were read, in order (NULL-terminated) */
    char **sources;
};

/*
 * Load path (NULL: LOGTO_DEFAULT_CONFIG) and its conf.d drop-ins (the directory "conf.d" next
 * to it). Fails on the first error; logto_config_check collects them all.
 */
int logto_config_load(const char *path, struct logto_config **ret, struct logto_error *err);

/* Like logto_config_load on a file called name (for messages; NULL: "(buffer)") that holds
 * buf[0..len) and has no drop-ins: the same checks, including those of the files the text names.
 * For tests and the fuzzer. */
int logto_config_parse_buffer(const char *buf, size_t len, const char *name,
                              struct logto_config **ret, struct logto_error *err);

/* Like load, but collects every error message ("file:line: key: what") into *ret_errors.
 * Returns the number of errors (0: *ret is the loaded config). It also runs the checks that
 * only `logtoctl config check` and `status` make (they look at the running system, not only the
 * text): an endpoint that ends in /oidc, a ca_file without a PEM certificate, a state_dir or
 * cache_dir (or the nearest existing parent) that is not owned by root or is writable by group
 * or others. */
int logto_config_check(const char *path, struct logto_config **ret, char ***ret_errors);

void logto_config_free(struct logto_config *cfg);
static inline void logto_config_freep(struct logto_config **cfg)
{
    logto_config_free(*cfg);
}

/* How messages for people and administrators name the provider: "Logto", or under the generic
 * profile the identity provider (never "Logto" for a provider that is not). Every such text
 * takes its words from here. */
enum logto_idp_form {
    LOGTO_IDP_NOUN,  /* "Logto" | "the identity provider" ("refused by %s") */
    LOGTO_IDP_LABEL, /* "Logto" | "identity-provider" ("the %s user", "the %s account") */
    LOGTO_IDP_IN,    /* "in Logto" | "at the identity provider" ("rename them %s") */
};
static inline const char *logto_idp_text(const struct logto_config *cfg, enum logto_idp_form form)
{
    bool generic = cfg && cfg->profile == LOGTO_PROFILE_GENERIC;

    switch (form) {
    case LOGTO_IDP_LABEL:
        return generic ? "identity-provider" : "Logto";
    case LOGTO_IDP_IN:
        return generic ? "at the identity provider" : "in Logto";
    case LOGTO_IDP_NOUN:
    default:
        return generic ? "the identity provider" : "Logto";
    }
}
static inline const char *logto_idp_name(const struct logto_config *cfg)
{
    return logto_idp_text(cfg, LOGTO_IDP_NOUN);
}

/*
 * The effective rules for a PAM service: built-in defaults, then [service *], then
 * [service NAME], then the PAM module arguments ("key=value", "debug", "config=" is skipped).
 * The result is fully resolved (no LOGTO_UNSET). Caller frees with logto_service_free.
 */
int logto_config_service(const struct logto_config *cfg, const char *service, int argc,
                         const char **argv, struct logto_service **ret, struct logto_error *err);
void logto_service_free(struct logto_service *svc);
static inline void logto_service_freep(struct logto_service **svc)
{
    logto_service_free(*svc);
}

/* The [user NAME] section for name, or NULL. The identity mapping applies it (identity.h). */
const struct logto_user_override *logto_config_user_override(const struct logto_config *cfg,
                                                             const char *name);

/* Read a secret from a file that must be root-owned and 0600/0400; trailing newline removed.
 * The caller wipes and frees it (logto_free_secret). */
int logto_config_read_secret(const char *path, char **ret, struct logto_error *err);

/* Print the effective configuration as INI, secrets masked (only file names are shown). */
void logto_config_dump(const struct logto_config *cfg, FILE *out);

/* The group name [organization ID] gives org_id, or NULL: the ID form (org_group_prefix). */
const char *logto_config_org_group(const struct logto_config *cfg, const char *org_id);

/* The schema: every key, for documentation checks. */
struct logto_config_key {
    /* "logto", "identity", "sync", "paths", "log", "service", "user", "organization" */
    const char *section;
    const char *name;
    const char *type; /* "string", "url", "path", "secret-file", "bool", "duration", ... */
    const char *def;  /* default as text, or NULL */
    const char *doc;  /* one line */
};
const struct logto_config_key *logto_config_keys(size_t *ret_n);
