/* SPDX-License-Identifier: MIT */
/*
 * Logto Management API client (logto-protocol.md §3.2, §5), Logto profile only.
 *
 * Authentication: a machine-to-machine app (cfg->m2m_client_id, secret read from
 * cfg->m2m_client_secret_file and wiped after use) gets a client_credentials token for
 * cfg->management_resource with scope `all` (client_secret_basic). The token is kept in memory
 * for the session and on disk in <state_dir>/m2m-token.json (root, 0600, written atomically,
 * read only through the checked-file helpers) until LOGTO_MGMT_TOKEN_MARGIN seconds before it
 * expires. A cached token is used only for the same issuer, client ID and resource; when the API
 * answers 401 to a cached token, it is dropped and a new one is requested once.
 *
 * Listings ask for page_size=100 and read Total-Number, so N items cost ceil(N/100) requests
 * (at least one). A page that is short ends the listing; without Total-Number, a Link header
 * without rel="next" ends it too (URLs from Link are never followed: we build our own). A server
 * that lies is refused with LOGTO_E_PROTOCOL: more than LOGTO_MGMT_MAX_ITEMS items or
 * LOGTO_MGMT_MAX_PAGES pages, a page larger than asked for, a full page of items already seen (a
 * loop), items without a valid ID. An item seen twice (the list shifted while we paged) is kept
 * once.
 *
 * Results are jansson values owned by the caller (json_decref). Every item is checked before it
 * is returned: an object with a valid "id" (logto_mgmt_id_valid) and, per listing:
 *   users           "username" string or null, "isSuspended" bool (if present),
 *                   "customData" object (if present)
 *   roles           "name" non-empty string
 *   organizations   "name" string
 *   org users       as users, plus "organizationRoles": array of objects with a "name" string
 *
 * Errors: 401/403 -> LOGTO_E_DENIED ("the M2M app needs the Management API permission `all`"),
 * 404 -> LOGTO_E_NOTFOUND, other unexpected answers -> LOGTO_E_PROTOCOL, no answer or 5xx ->
 * LOGTO_E_UNREACHABLE. Messages name the endpoint path and the `code` Logto sent, never a body.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "context.h"
#include "error.h"

#define LOGTO_MGMT_PAGE_SIZE      100
#define LOGTO_MGMT_MAX_ITEMS      1000000
#define LOGTO_MGMT_MAX_PAGES      (LOGTO_MGMT_MAX_ITEMS / LOGTO_MGMT_PAGE_SIZE + 10)
#define LOGTO_MGMT_TOKEN_MARGIN   60 /* seconds before expiry a token is no longer used */
#define LOGTO_MGMT_TOKEN_FILE     "m2m-token.json"
#define LOGTO_MGMT_TOKEN_FILE_MAX (64 * 1024)

struct logto_mgmt;

/*
 * A Management API session (one HTTPS connection, reused). Needs the Logto profile, endpoint,
 * m2m_client_id and m2m_client_secret_file; LOGTO_E_CONFIG names what is missing. ctx must
 * outlive the session. No request is made yet.
 */
int logto_mgmt_new(const struct logto_ctx *ctx, struct logto_mgmt **ret, struct logto_error *err);
void logto_mgmt_free(struct logto_mgmt *m);
static inline void logto_mgmt_freep(struct logto_mgmt **m)
{
    logto_mgmt_free(*m);
}
#define _cleanup_mgmt_ _cleanup_(logto_mgmt_freep)

/* HTTP requests this session has sent so far (token requests included), and token requests. */
unsigned logto_mgmt_request_count(const struct logto_mgmt *m);
unsigned logto_mgmt_token_request_count(const struct logto_mgmt *m);

/* Progress of paginated listings, for interactive tools: fn runs after every page with the
 * listing's path as requested (e.g. "/users", "/roles/<id>/users", query included), the distinct
 * items seen so far and the total the server announced (0: unknown). NULL turns it off. */
typedef void (*logto_mgmt_progress_fn)(void *userdata, const char *path, size_t done, size_t total);
void logto_mgmt_set_progress(struct logto_mgmt *m, logto_mgmt_progress_fn fn, void *userdata);

/*
 * Patience for long walks (logtoctl sync; sessions start without it, so a lookup before a
 * sign-in never waits): at least interval_ms between two requests (the token request
 * included), and an answer 429, or 503 with Retry-After, to any request (token request
 * included) is waited out and the same request sent again, so a listing resumes at the page that
 * was refused. The wait is what Retry-After asks (seconds or an HTTP date), at least 1 and at
 * most LOGTO_MGMT_RETRY_WAIT_MAX seconds at a time; without it, an exponential backoff with jitter
 * (1 s, 2 s, 4 s, ... up to the same cap). The waits of a session add up to at most
 * budget_ms: an answer asking for more than is left fails at once with LOGTO_E_UNREACHABLE and
 * a message that names the rate limit. Every wait is logged (mgmt-rate-limited status= what=
 * wait_ms= waited_ms=; never a body). Without patience, 429 is LOGTO_E_PROTOCOL as before.
 */
#define LOGTO_MGMT_RETRY_WAIT_MAX 60
#define LOGTO_MGMT_MAX_WALKS      3
void logto_mgmt_set_patience(struct logto_mgmt *m, int64_t interval_ms, int64_t budget_ms);

/* Milliseconds to wait before retry number attempt (0-based) without Retry-After: 1 s doubled
 * per attempt, capped at LOGTO_MGMT_RETRY_WAIT_MAX s, of which the upper half is jittered by
 * random (any value). */
int64_t logto_mgmt_backoff_ms(unsigned attempt, uint32_t random);

/* Seconds a Retry-After value asks us to wait at wall-clock time now: delta-seconds (digits
 * only, at most 9) or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"; a date in the past is
 * 0). -1 when value is NULL or neither form. */
int64_t logto_mgmt_parse_retry_after(const char *value, int64_t now);

/* Make sure the session holds a usable M2M token (memory, then disk, then the token endpoint).
 * Called by every API function; exposed for `logtoctl` checks. */
int logto_mgmt_authenticate(struct logto_mgmt *m, struct logto_error *err);

/* Forget the cached token, in memory and on disk (e.g. after rotating the M2M secret). */
int logto_mgmt_forget_token(struct logto_mgmt *m, struct logto_error *err);

/* ---- listings: *ret is a new JSON array of checked objects ---- */
int logto_mgmt_list_users(struct logto_mgmt *m, json_t **ret, struct logto_error *err);
int logto_mgmt_list_roles(struct logto_mgmt *m, json_t **ret,
                          struct logto_error *err); /* type=User */
int logto_mgmt_list_role_users(struct logto_mgmt *m, const char *role_id, json_t **ret,
                               struct logto_error *err);
int logto_mgmt_list_organizations(struct logto_mgmt *m, json_t **ret, struct logto_error *err);
/* The organization roles (templates shared by every organization): objects with "name". */
int logto_mgmt_list_organization_roles(struct logto_mgmt *m, json_t **ret, struct logto_error *err);
/* GET /api/applications/{id}: the application object, unchecked beyond being an object
 * (logtoctl config check reads type, oidcClientMetadata and customClientMetadata). */
int logto_mgmt_get_application(struct logto_mgmt *m, const char *app_id, json_t **ret,
                               struct logto_error *err);
/* Users of an organization, each with "organizationRoles". */
int logto_mgmt_list_organization_users(struct logto_mgmt *m, const char *org_id, json_t **ret,
                                       struct logto_error *err);
/* A user's global roles (paginated) and organizations (one request; each org object carries
 * "organizationRoles"). */
int logto_mgmt_user_roles(struct logto_mgmt *m, const char *user_id, json_t **ret,
                          struct logto_error *err);
int logto_mgmt_user_organizations(struct logto_mgmt *m, const char *user_id, json_t **ret,
                                  struct logto_error *err);

/* ---- single users ---- */
/* The users whose field ("username", "primaryEmail") equals value ignoring case
 * (search.<field> + mode exact): *ret a JSON array, possibly empty. LOGTO_E_PROTOCOL when the
 * server returns a user that does not match. */
int logto_mgmt_search_exact(struct logto_mgmt *m, const char *field, const char *value,
                            json_t **ret, struct logto_error *err);
/* The user with the user name name: the one whose username is identical to it, else the only
 * one whose username equals it ignoring case. LOGTO_E_NOTFOUND if none; LOGTO_E_COLLISION when
 * several differ from it only in case and none is identical (owners.h: the name is nobody's). */
int logto_mgmt_find_user(struct logto_mgmt *m, const char *name, json_t **ret,
                         struct logto_error *err);
int logto_mgmt_get_user(struct logto_mgmt *m, const char *user_id, json_t **ret,
                        struct logto_error *err);
/* POST /api/users/{id}/password/verify: 0 (204), LOGTO_E_DENIED (422: wrong password or none
 * set), LOGTO_E_NOTFOUND (404). The request body is wiped. No lockout and no suspension check
 * happen on the server: the caller checks isSuspended. */
int logto_mgmt_verify_password(struct logto_mgmt *m, const char *user_id, const char *password,
                               struct logto_error *err);
/* PATCH /api/users/{id}/custom-data {"customData":{...}}: Logto merges the top-level keys.
 * *ret (optional) receives the merged custom data. */
int logto_mgmt_patch_custom_data(struct logto_mgmt *m, const char *user_id,
                                 const json_t *custom_data, json_t **ret, struct logto_error *err);

/* ---- everything a sync needs ---- */
struct logto_mgmt_membership {
    char *id;     /* organization ID (checked) */
    char *name;   /* display name, may be NULL */
    char **roles; /* organization role names, sorted, unique; never NULL */
};

struct logto_mgmt_dir_user {
    json_t *user;   /* the user object from GET /api/users (a reference owned here) */
    const char *id; /* borrowed from user */
    char **roles;   /* global role names, sorted, unique; never NULL */
    struct logto_mgmt_membership *orgs; /* in the order the organizations were listed */
    size_t n_orgs;
};

struct logto_mgmt_directory {
    struct logto_mgmt_dir_user *users; /* in API order (newest first) */
    size_t n_users;
    json_t *roles;         /* role objects (type User) */
    json_t *organizations; /* organization objects */
    unsigned requests;     /* HTTP requests the fetch made, the token request included */
};

/*
 * Users, roles with their members, organizations with their members and organization roles,
 * in the fewest requests (a listing whose Total-Number at its last page differs from the one at
 * its first page means the directory changed under the walk: the whole walk is done again, at
 * most LOGTO_MGMT_MAX_WALKS times in all, logged as mgmt-directory-rewalk, then LOGTO_E_BUSY):
 * ceil(U/100) + ceil(R/100) + sum over roles of ceil(members/100) + ceil(O/100) + sum over
 * organizations of ceil(members/100) (every listing at least one), plus one token request unless a
 * cached token was used. Members that are not in the user list (they appeared while we paged) are
 * left out.
 */
int logto_mgmt_fetch_directory(struct logto_mgmt *m, struct logto_mgmt_directory **ret,
                               struct logto_error *err);
void logto_mgmt_directory_free(struct logto_mgmt_directory *dir);
static inline void logto_mgmt_directory_freep(struct logto_mgmt_directory **dir)
{
    logto_mgmt_directory_free(*dir);
}

/*
 * The claims an ID token + userinfo would carry for a Management API user (logto-protocol.md
 * §4.2), so the identity mapping treats both alike: sub, username, name, picture, email,
 * email_verified, phone_number, phone_number_verified, custom_data, created_at, updated_at,
 * roles (names), organizations (IDs), organization_roles ("orgId:role"), organization_data.
 * roles: array of role objects; orgs: array of organization objects with "organizationRoles"
 * (either may be NULL: the claim is then omitted).
 */
int logto_mgmt_user_claims(const json_t *user, const json_t *roles, const json_t *orgs,
                           json_t **ret, struct logto_error *err);

/* ---- pure helpers (exposed for tests) ---- */

/* How the items of a listing are checked (see the top of this file). */
enum logto_mgmt_item_kind {
    LOGTO_MGMT_ITEM_USER,     /* users, role members */
    LOGTO_MGMT_ITEM_ROLE,     /* roles, a user's roles */
    LOGTO_MGMT_ITEM_ORG,      /* organizations */
    LOGTO_MGMT_ITEM_ORG_USER, /* organization members, with organizationRoles */
    LOGTO_MGMT_ITEM_USER_ORG, /* a user's organizations, with organizationRoles */
};

/*
 * One answer of a paginated listing (pages count from 1), checked as the listings check it: a
 * status other than 200 is the error logto_mgmt_status_error gives; else the body must be a JSON
 * array of at most LOGTO_MGMT_PAGE_SIZE items that pass the checks of kind. *ret_total is the
 * Total-Number and *ret_pages the page count it implies (both 0 without the header: then
 * *ret_next is the Link rel="next" target, or NULL). what names the listing in messages.
 */
struct logto_http_response;
int logto_mgmt_parse_page(const struct logto_http_response *resp, enum logto_mgmt_item_kind kind,
                          unsigned page, const char *what, json_t **ret_items, uint64_t *ret_total,
                          uint64_t *ret_pages, char **ret_next, struct logto_error *err);

/* Drop a reference to a JSON value that holds secrets (a request body with a password, a token
 * document): the strings inside are wiped first when this is the last reference. */
void logto_json_wipe_decref(json_t *j);
static inline void logto_json_wipe_decrefp(json_t **j)
{
    logto_json_wipe_decref(*j);
}
#define _cleanup_json_secret_ _cleanup_(logto_json_wipe_decrefp)

/* A Logto entity ID we put into a URL path: 1..128 of [A-Za-z0-9_-]. */
bool logto_mgmt_id_valid(const char *id);

/* Total-Number header: a canonical decimal 0..LOGTO_MGMT_MAX_ITEMS. 0 or -LOGTO_E_PROTOCOL. */
int logto_mgmt_parse_total(const char *value, uint64_t *ret, struct logto_error *err);

/* The target of the Link header entry with rel="<rel>" (RFC 8288), or NULL in *ret if there is
 * none. -LOGTO_E_PROTOCOL if the header is malformed. Caller frees. */
int logto_mgmt_parse_link(const char *value, const char *rel, char **ret, struct logto_error *err);

/* base + "/api" + path (path starts with '/'; may carry a query) + "page=N&page_size=S" when
 * page > 0. NULL on allocation failure. */
char *logto_mgmt_build_url(const char *endpoint, const char *path, unsigned page,
                           unsigned page_size);

/*
 * The error for an unexpected Management API answer: status and Logto's `code` (may be NULL)
 * to -LOGTO_E_*, with what (the endpoint path) in the message.
 */
int logto_mgmt_status_error(long status, const char *code, const char *what,
                            struct logto_error *err);
