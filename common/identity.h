/* SPDX-License-Identifier: MIT */
/*
 * Identity mapping: verified claims (or a Management API user) -> a POSIX identity, under the
 * hard rules of DESIGN.md "Identity mapping". Everything from the IdP is checked here before
 * it can become a name, an ID, a path or a group.
 *
 * Names. The first claim of cfg->name_claims that gives an acceptable name gives the name
 * (default: `username`, then `email`; generic profile: `preferred_username`, then `email`). For
 * `email` the local part is used, and only when email_verified is true and the address's domain
 * is listed in cfg->email_domains (exact, case-insensitive; empty by default, which turns e-mail
 * names off): anyone can choose an address. For a Logto Management API user, a primaryEmail
 * counts as verified, as Logto's own email_verified claim does (Boolean(primaryEmail)). ASCII
 * upper case is folded to lower case; the result must be a portable name (logto_name_valid) or
 * the identity is refused, naming the claim. A present but invalid claim never falls through to
 * the next one; an e-mail that may not give a name does, and when no claim gives one the
 * refusal names each claim and why (the key to change included). The identity records how the
 * name was obtained (name_rank): a claim identical to the name, one that differs in case, or an
 * e-mail; the ownership rule (owners.h) uses it.
 *
 * UIDs. custom_data[cfg->uid_key] when present (a JSON integer or a canonical decimal string,
 * 1..2^31-1, not logto_id_reserved), else the deterministic hash
 *
 *     h   = first 8 bytes of SHA-256("logto-uid:" || sub), read as a big-endian uint64
 *     uid = id_min + h mod (id_max - id_min + 1)
 *
 * with the range from cfg->id_min..id_max (default 1879048192..2147352575 = 0x70000000 up to
 * just below systemd's foreign range: above system IDs, Debian's reserved block, systemd's
 * dynamic users and nspawn's container ranges). Every host, and any other tool, computes the
 * same UID for the same sub. A hashed UID that lands on a reserved ID (a misconfigured range) is
 * refused. The primary GID is custom_data[cfg->gid_key] (same checks) or the UID.
 *
 * Derived groups get GIDs from the same formula with other domain strings, into the same range:
 *   role            "logto-gid:role:"    || role name
 *   organization    "logto-gid:org:"     || organization ID
 *   org role        "logto-gid:orgrole:" || "orgId:role"
 *   groups claim    "logto-gid:claim:"   || value            (generic providers)
 *
 * Collisions are refused, never resolved by arrival order: a name or UID that exists in the
 * local files is refused (logto_identity_check_local); two identities with the same name, UID or
 * GID are both refused (logto_identity_find_collisions); derived groups whose names or GIDs clash
 * are all skipped (logto_identity_groups).
 *
 * IDs from custom_data never displace anything. Someone chose them (in Logto a user can edit
 * their own custom_data through the Account API), so a chosen UID or GID must be unused in both
 * ID spaces: not a local UID or GID, not another Logto user's UID or GID, not the GID of any
 * group (role, organization, organization role, another user's private group). Otherwise THAT
 * user is refused with a reason, and the groups and the other users stay served: in sync (all
 * users at once) and at sign-in (logto_identity_evict_yielding, logto_identity_check_directory),
 * whoever arrived first. Two users whose chosen IDs are equal are both refused.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "context.h"
#include "directory.h"
#include "error.h"

/* Defaults used when the configuration leaves a field unset (zero / NULL). */
#define LOGTO_ID_MIN_DEFAULT       1879048192u /* 0x70000000 */
#define LOGTO_ID_MAX_DEFAULT       2147352575u /* below systemd's foreign range */
#define LOGTO_HOME_PATTERN_DEFAULT "/home/%u"
#define LOGTO_SHELL_DEFAULT        "/bin/sh"
#define LOGTO_GECOS_CLAIM_DEFAULT  "name"
#define LOGTO_SHELLS_PATH          "/etc/shells"

/* Caps on what one identity may carry; more is refused, not truncated. */
#define LOGTO_IDENTITY_MAX_VALUES   1024 /* roles, organizations, organization roles, groups */
#define LOGTO_IDENTITY_MAX_VALUE    256  /* bytes per role name, org ID, "orgId:role", group */
#define LOGTO_IDENTITY_MAX_SUB      255
#define LOGTO_IDENTITY_MAX_GECOS    255 /* bytes, cut on a UTF-8 character boundary */
#define LOGTO_IDENTITY_MAX_SSH_KEYS 64
#define LOGTO_IDENTITY_MAX_SSH_KEY  16384

struct logto_org_name {
    char *id;   /* organization ID (validated) */
    char *name; /* display name: control characters removed, capped; never used to decide */
};

/* How the name was obtained, strongest first (owners.h decides ownership by it). */
enum logto_name_rank {
    LOGTO_NAME_EXACT,  /* a name claim byte for byte identical to the name */
    LOGTO_NAME_FOLDED, /* a name claim that differs from the name in upper/lower case */
    LOGTO_NAME_EMAIL,  /* the local part of a verified e-mail in a listed domain */
};

/* Where a passwd field came from: the configuration's default (home pattern, default_shell, an
 * empty GECOS), the identity provider (custom_data, gecos_claim), or a [user NAME] override. */
enum logto_field_origin { LOGTO_ORIGIN_DEFAULT, LOGTO_ORIGIN_IDP, LOGTO_ORIGIN_OVERRIDE };
const char *logto_origin_name(enum logto_field_origin origin); /* "default", "idp", "override" */

struct logto_identity {
    char *sub; /* the IdP's user ID: printable ASCII, no ':' */
    char *name;
    uint32_t uid, gid;
    char *gecos, *home, *shell;
    char **roles;     /* Logto role names (unique per tenant), sorted, unique */
    char **orgs;      /* organization IDs, sorted, unique */
    char **org_roles; /* "orgId:role", sorted, unique */
    char **groups;    /* generic providers: values of cfg->groups_claim, sorted, unique */
    struct logto_org_name *org_names; /* from organization_data, for display only */
    size_t n_org_names;
    char **ssh_keys; /* from custom_data[cfg->ssh_keys_key] */
    bool suspended;
    /* The UID, the GID came from custom_data. Such an ID was chosen by someone, unless it is one
     * of the user's own hash sequence (uid_hashed: sync persisted it): chosen IDs yield to every
     * ID nobody chose (local, hashed, derived groups); see logto_identity_uid_chosen. */
    bool uid_custom, gid_custom;

    /* Provenance, for `logtoctl user` and log lines. */
    char *name_from;  /* e.g. "claim username", "field primaryEmail (local part)" */
    char *uid_from;   /* e.g. "custom_data.uidNumber" or "hash of sub (1879048192-2147352575)" */
    char *gid_from;   /* e.g. "custom_data.gidNumber" or "uid (private group)" */
    char *shell_from; /* "custom_data.loginShell" or "default_shell" (+ why it was not used) */
    char *gecos_from; /* "claim name", "(none)" */
    char *home_from;  /* "home pattern /home/%u" */
    /* ... and in one word each; an override names its section ("[user alice] at FILE:LINE"). */
    enum logto_field_origin home_origin, shell_origin, gecos_origin;

    /* The UID is value uid_probe of sub's own hash sequence (logto_identity_uid_of_sub):
     * computed here (probe 0), or persisted in custom_data by sync (then uid_custom too). */
    bool uid_hashed;
    unsigned uid_probe;
    enum logto_name_rank name_rank;
    char *name_claim; /* the claim's value the name came from (control characters replaced) */
};

void logto_identity_free(struct logto_identity *id);

/* Whether the UID, or the primary GID, is one somebody chose in custom_data (not derived from
 * sub): such an ID must be unused in both ID spaces, and it is the one that yields. */
static inline bool logto_identity_uid_chosen(const struct logto_identity *id)
{
    return id->uid_custom && !id->uid_hashed;
}
static inline bool logto_identity_gid_chosen(const struct logto_identity *id)
{
    return id->gid == id->uid ? logto_identity_uid_chosen(id) : id->gid_custom;
}

/*
 * The UID sequence of a subject: k = 0 is the hash of "logto-uid:" || sub, k = 1..
 * LOGTO_UID_PROBES the hash of "logto-uid:" || sub || "#" || k, each into the ID range of cfg
 * (where sync moves a user whose hash another user holds, logto_sync_resolve_uids).
 */
#define LOGTO_UID_PROBES 64
int logto_identity_uid_of_sub(const struct logto_config *cfg, const char *sub, unsigned k,
                              uint32_t *ret, struct logto_error *err);
/* Whether uid is one of sub's sequence (then nobody chose it: it was computed or persisted);
 * *ret_k (may be NULL) is its place in the sequence, the first when it is there twice. */
bool logto_identity_uid_derived(const struct logto_config *cfg, const char *sub, uint32_t uid,
                                unsigned *ret_k);
static inline void logto_identity_freep(struct logto_identity **id)
{
    logto_identity_free(*id);
}

/*
 * Map verified ID-token claims merged with userinfo (custom_data, organization_data live there)
 * to an identity. Refuses (LOGTO_E_IDENTITY, the claim named in err) anything that does not map
 * cleanly: wrong JSON types, bad names, bad or reserved IDs, too many values. Does not consult
 * the local files: call logto_identity_check_local before serving or signing in.
 */
int logto_identity_from_claims(const struct logto_ctx *ctx, const json_t *claims,
                               struct logto_identity **ret, struct logto_error *err);

/* One organization membership as the Management API reports it (§5.2, §5.4). */
struct logto_org_membership {
    const char *id;           /* organization ID */
    const char *name;         /* display name, may be NULL */
    const char *const *roles; /* organization role names, NULL-terminated, may be NULL */
};

/*
 * The same mapping from a Management API user object (id, username, primaryEmail, name,
 * customData, isSuspended, profile) plus its role names and organization memberships, so that
 * sync and sign-in produce identical identities: the object is translated field by field into
 * the claims Logto would issue (username, email, name, custom_data, roles, organizations,
 * organization_roles, organization_data) and mapped by the same code. Logto profile only.
 */
int logto_identity_from_mgmt(const struct logto_ctx *ctx, const json_t *user,
                             const char *const *roles, const struct logto_org_membership *orgs,
                             size_t n_orgs, struct logto_identity **ret, struct logto_error *err);

/*
 * Refuse (LOGTO_E_COLLISION) an identity whose name or UID exists in the local passwd file,
 * whose name exists in the local group file (it would shadow the private group), or whose
 * primary GID exists in the local group file. Files are read directly, never through NSS; an
 * unreadable file fails closed.
 */
int logto_identity_check_local(const struct logto_ctx *ctx, const struct logto_identity *id,
                               struct logto_error *err);
/* The same against local account files loaded once (localdb.h), for callers that check many
 * identities (sync). */
struct logto_localdb;
int logto_identity_check_local_db(const struct logto_localdb *db, const struct logto_identity *id,
                                  struct logto_error *err);

/*
 * Refuse (LOGTO_E_COLLISION) an identity whose name, UID or primary GID is already held in dir by
 * another sub, whose private group has the name or GID of any group in dir (another user's
 * private group, or a role, organization or organization-role group: those keep their names and
 * GIDs, so a user named like a role, or whose gidNumber is a role group's GID, is refused and the
 * group stays), or whose UID or GID from custom_data is in use in dir in either ID space (another
 * user's UID or GID, any group's GID). Sign-in calls this against the snapshot after
 * logto_identity_evict_yielding and refuses the newcomer with a logged collision; a host with
 * sync sees all users at once (logto_identity_find_collisions and sync's own checks).
 */
int logto_identity_check_directory(const struct logto_directory *dir,
                                   const struct logto_identity *id, struct logto_error *err);

/*
 * Sign-in, before logto_identity_check_directory: remove from dir (logto_directory_remove_user,
 * logged as "directory-evict user=... sub=... by=... reason=...") the users who must yield to the
 * signing-in identity id, whose groups (logto_identity_groups) are `groups`: users whose private
 * group has the name or GID of one of id's role or organization groups, and users whose UID or
 * GID came from custom_data and equals a hashed UID or GID of id (a snapshot user's UID is
 * custom when it is not the hash of its sub). So a chosen ID never displaces anything, whoever
 * signed in first. Returns the number of users removed, or a negative error.
 */
int logto_identity_evict_yielding(const struct logto_ctx *ctx, struct logto_directory *dir,
                                  const struct logto_identity *id,
                                  const struct logto_dir_group *groups, size_t n_groups,
                                  struct logto_error *err);

/*
 * The groups the user belongs to, each with the user as its only member: the private group
 * first, then one per role (cfg->groups_from_roles), organization ID (groups_from_orgs),
 * organization role (groups_from_org_roles) and, for generic providers, groups-claim value
 * (cfg->groups_claim set). Names are prefix + logto_group_name_sanitize(value); "orgId:role"
 * becomes "orgId-role" first. Skipped, with an `identity-skip-group` log line each: values that
 * cannot become a valid name; ALL derived groups whose names or GIDs clash with each other
 * (never first come, first served); groups whose name or GID exists in the local group file
 * (local groups always win); reserved GIDs. A private group that clashes with one of the user's
 * own derived groups refuses the user (LOGTO_E_COLLISION): the derived group keeps its name.
 * Authorization never looks at these names: it uses role names and organization IDs.
 */
int logto_identity_groups(const struct logto_ctx *ctx, const struct logto_identity *id,
                          struct logto_dir_group **ret_groups, size_t *ret_n,
                          struct logto_error *err);
/* The same with the local account files loaded once (sync). */
int logto_identity_groups_db(const struct logto_ctx *ctx, const struct logto_localdb *db,
                             const struct logto_identity *id, struct logto_dir_group **ret_groups,
                             size_t *ret_n, struct logto_error *err);
void logto_identity_groups_free(struct logto_dir_group *groups, size_t n);
/* The private group and every derived group the user would get, before any clash or local
 * check, without log lines (values that give no valid name are left out): what sync checks
 * chosen IDs against. */
int logto_identity_candidate_groups(const struct logto_ctx *ctx, const struct logto_identity *id,
                                    struct logto_dir_group **ret_groups, size_t *ret_n,
                                    struct logto_error *err);

/*
 * The clash policy for groups, for one user (logto_identity_groups uses it) or for the groups of
 * many users (sync): groups that share a name or a GID but are not the same group (kind, source,
 * name and GID all equal) clash. Derived groups are marked when they clash with another derived
 * group; a private group is marked whenever it clashes (with another user's private group, or
 * with a derived group, which keeps its name and GID: a role or organization is named by the
 * tenant's administrators, a user name or a chosen GID by anyone, and a user who became the
 * group "admin" would match every "%admin" sudoers line). Callers refuse the owners of marked
 * private groups. ret_why[i] (n entries) gets a reason for each marked group, NULL for the
 * others. Returns the number marked.
 */
int logto_identity_group_clashes(const struct logto_dir_group *groups, size_t n,
                                 const char **ret_why, struct logto_error *err);

/* The hash above, exposed for `logtoctl` and tests: domain is "logto-uid:", "logto-gid:role:"... */
int logto_identity_hash_id(const char *domain, const char *value, uint32_t id_min, uint32_t id_max,
                           uint32_t *ret, struct logto_error *err);

/*
 * Collision policy for callers holding many identities (sync). Every pair (a < b) with the same
 * sub, name, UID or primary GID is reported; the caller refuses BOTH identities of each pair
 * (report and skip), never keeping whichever arrived first. The result is sorted by (a, b).
 */
enum logto_collision_kind {
    LOGTO_COLLISION_SUB,
    LOGTO_COLLISION_NAME,
    LOGTO_COLLISION_UID,
    LOGTO_COLLISION_GID,
};

struct logto_identity_collision {
    size_t a, b; /* indexes into the input array, a < b */
    enum logto_collision_kind kind;
};

const char *logto_collision_kind_name(enum logto_collision_kind kind);

int logto_identity_find_collisions(const struct logto_identity *const *ids, size_t n,
                                   struct logto_identity_collision **ret, size_t *ret_n,
                                   struct logto_error *err);
