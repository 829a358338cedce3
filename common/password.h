/* SPDX-License-Identifier: MIT */
/*
 * Password flows (DESIGN.md "Flows", logto-protocol.md §3). One entry point, four methods:
 *
 *   experience  Logto's Experience API behind an authorization-code + PKCE request made with
 *               password_client_id (§3.3): real user tokens, TOTP one-time codes asked through
 *               the UI, Logto's sign-in lockout respected. A fresh cookie jar per sign-in.
 *   pat         a personal access token typed as the password, exchanged at the token endpoint
 *               (§3.4); the claims come from userinfo. No refresh token, no ID token.
 *   management  the Management API password check (§3.2) with the M2M app: opt-in only, since it
 *               bypasses MFA and lockout. Claims are built from the user object, roles and
 *               organizations (logto_mgmt_user_claims). No user tokens at all.
 *   grant       the OAuth password grant, for generic providers that offer it.
 *
 * The password is never copied except into request bodies, which are wiped after sending, and
 * never reaches a log line or an error message. Errors: LOGTO_E_DENIED (wrong user name or
 * password, wrong one-time code, expired password, invalid PAT), LOGTO_E_LOCKED, LOGTO_E_SUSPENDED,
 * LOGTO_E_MFA (a second factor we cannot give), LOGTO_E_CAPTCHA, LOGTO_E_UNSUPPORTED (the IdP
 * does not offer the method), LOGTO_E_CONFIG, LOGTO_E_PROTOCOL, LOGTO_E_TOKEN,
 * LOGTO_E_UNREACHABLE (no answer, timeouts, 5xx: the only one offline fallbacks may act on).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "conf.h"
#include "context.h"
#include "error.h"
#include "tokens.h"
#include "ui.h"

#define LOGTO_PASSWORD_MAX_HOPS    10   /* redirects followed after the Experience API submit */
#define LOGTO_PASSWORD_MAX_LEN     4096 /* longer "passwords" are refused before any request */
#define LOGTO_PASSWORD_MESSAGE_MAX 160  /* bytes of an IdP's message kept in ours */
#define LOGTO_PAT_TOKEN_TYPE       "urn:logto:token-type:personal_access_token"
#define LOGTO_TOKEN_EXCHANGE       "urn:ietf:params:oauth:grant-type:token-exchange"

struct logto_password_result {
    const char *method;         /* "experience", "pat", "management", "grant" (static) */
    struct logto_tokens tokens; /* empty for "management"; no refresh/ID token for "pat" */
    json_t *claims;             /* verified: the ID token's payload (experience, grant),
                                   userinfo (pat), Management API equivalent (management) */
};

void logto_password_result_free(struct logto_password_result *res);
static inline void logto_password_result_freep(struct logto_password_result **res)
{
    logto_password_result_free(*res);
}

/* The static name of a method ("experience", ...), or NULL for an unknown value. */
const char *logto_password_method_name(enum logto_password_method method);

/*
 * Who signs in at Logto's Experience API: the user's Logto identifier as Logto stores it
 * (usernames are case-sensitive there: "Grace_Hopper", not the folded "grace_hopper"), type
 * "username", or "email" with the e-mail address for users without a username.
 */
struct logto_password_login {
    const char *type;  /* "username" or "email"; NULL: look it up by sub */
    const char *value; /* exact */
    const char *sub;   /* without type: the subject holding the name on this host, whose
                          identifier the Management API gives (needs [sync]) */
};

/*
 * Check user's password with method. login (experience only; NULL: the user name itself, as a
 * username) is what the Experience API is sent. ui is used for the one-time code prompt
 * ("One-time code: ", echo off) when the IdP demands TOTP and for the note that 2-step
 * verification can be set up (when Logto suggests it and it is skipped); it may be NULL (then
 * MFA fails with LOGTO_E_MFA).
 */
int logto_password_signin(const struct logto_ctx *ctx, enum logto_password_method method,
                          const char *user, const struct logto_password_login *login,
                          const char *password, const struct logto_ui *ui,
                          struct logto_password_result **ret, struct logto_error *err);

/* ---- pure helpers (exposed for tests) ---- */

/* Is location the redirect_uri (followed by nothing, a query or a fragment)? */
bool logto_password_is_callback(const char *location, const char *redirect_uri);

/*
 * Parse the authorization response at location (a redirect to redirect_uri): state must equal
 * expected_state, iss (when present, RFC 9207) must equal issuer, and the code must be present
 * once. An error=access_denied answer is LOGTO_E_DENIED, other errors LOGTO_E_PROTOCOL. Hostile
 * input (bad escapes, NUL or control characters, repeated parameters, oversize values) is
 * LOGTO_E_PROTOCOL. *ret_code is a secret: wipe it (logto_free_secret).
 */
int logto_password_parse_callback(const char *location, const char *redirect_uri,
                                  const char *expected_state, const char *issuer, char **ret_code,
                                  struct logto_error *err);

/*
 * Map an Experience API error answer (HTTP status and Logto's `code`, message as sent) to
 * -LOGTO_E_* with a message for the user. Known codes get our own sentence (the lockout's
 * message only lends when it ends: "try again in 59 minutes"); user.missing_mfa and an
 * unskippable user.suggest_mfa are LOGTO_E_MFA, user.sign_in_method_not_enabled is
 * LOGTO_E_CONFIG (the tenant must enable password sign-in with identifier_type, Logto's
 * identifier type "username" or "email"; NULL: the message names neither); any other 4xx with a
 * code is LOGTO_E_DENIED with Logto's message, sanitised (printable ASCII, at most
 * LOGTO_PASSWORD_MESSAGE_MAX bytes). 5xx is LOGTO_E_UNREACHABLE; a 4xx without a code, or a
 * lost session, LOGTO_E_PROTOCOL.
 */
int logto_password_experience_error(long status, const char *code, const char *message,
                                    const char *identifier_type, struct logto_error *err);
