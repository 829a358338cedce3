/* SPDX-License-Identifier: MIT */
/*
 * The device authorization grant (RFC 8628; DESIGN.md "Flows"): ask for a code, show the link,
 * the user code and a QR code, poll the token endpoint until the user approves, verify the ID
 * token.
 *
 * Polling: every `interval` seconds from the answer, else the config's poll_interval (Logto
 * sends none: 5 s by default); authorization_pending polls again; slow_down adds 5 s for good;
 * access_denied is LOGTO_E_DENIED; expired_token is LOGTO_E_EXPIRED; reaching the code's
 * expires_in without an answer is LOGTO_E_TIMEOUT. A poll that gets no answer (network, 5xx) is
 * retried after twice the interval, up to LOGTO_DEVICE_NETWORK_RETRIES times in a row (a
 * short outage should not cost the user a fresh code; RFC 8628 3.5), then LOGTO_E_UNREACHABLE.
 * Nothing is polled after success: Logto revokes the grant when a used code is polled again.
 */
#pragma once

#include <stdint.h>

#include "conf.h"
#include "context.h"
#include "error.h"
#include "http.h"
#include "tokens.h"
#include "ui.h"

struct json_t;
struct logto_oidc;

#define LOGTO_DEVICE_GRANT            "urn:ietf:params:oauth:grant-type:device_code"
#define LOGTO_DEVICE_DEFAULT_INTERVAL 5
#define LOGTO_DEVICE_SLOW_DOWN_STEP   5
#define LOGTO_DEVICE_MAX_INTERVAL     60
#define LOGTO_DEVICE_MAX_EXPIRES_IN   3600
#define LOGTO_DEVICE_NETWORK_RETRIES  3

/* A device authorization in progress. */
struct logto_device_auth {
    char *device_code; /* secret */
    char *user_code;
    char *verification_uri;
    char *verification_uri_complete; /* NULL when not sent */
    int64_t deadline_ms;             /* when the code expires: logto_monotonic_ms() + expires_in */
    int64_t interval;                /* seconds between polls */
};

void logto_device_auth_clear(struct logto_device_auth *auth);
#define _cleanup_device_auth_ _cleanup_(logto_device_auth_clear)

/* Set the code's lifetime from now, and the seconds it has left (<= 0: expired). Measured on
 * CLOCK_MONOTONIC: a wall clock stepped forward must not end a sign-in, nor one stepped back
 * keep polling with a dead code. */
void logto_device_set_lifetime(struct logto_device_auth *auth, int64_t expires_in);
int64_t logto_device_seconds_left(const struct logto_device_auth *auth);

/*
 * Ask for a device code with the configured scopes (Logto: with
 * resource=urn:logto:resource:organizations when organization scopes are asked for).
 */
int logto_device_start(const struct logto_ctx *ctx, struct logto_http *http,
                       const struct logto_oidc *oidc, const struct logto_client *client,
                       struct logto_device_auth *ret, struct logto_error *err);

/*
 * Show one message with the link and the user code, plus a QR code when svc allows it (qr) and
 * ui is a terminal. Then, when svc->enter_prompt says so (yes; or auto and ui buffers info
 * text, as OpenSSH does), ask an echo-off "press Enter" prompt so the message is seen before
 * polling starts. svc may be NULL (QR on, prompt auto).
 */
int logto_device_show(const struct logto_ctx *ctx, const struct logto_service *svc,
                      const struct logto_ui *ui, const struct logto_device_auth *auth,
                      struct logto_error *err);

/* Poll until the user has signed in, then verify the ID token: tokens in *ret, the verified
 * claims in *ret_claims. */
int logto_device_poll(const struct logto_ctx *ctx, struct logto_http *http, struct logto_oidc *oidc,
                      const struct logto_client *client, struct logto_device_auth *auth,
                      struct logto_tokens *ret, struct json_t **ret_claims,
                      struct logto_error *err);

/* The whole flow with the configured client (client_id, client_secret_file). */
int logto_device_signin(const struct logto_ctx *ctx, struct logto_http *http,
                        struct logto_oidc *oidc, const struct logto_service *svc,
                        const struct logto_ui *ui, struct logto_tokens *ret,
                        struct json_t **ret_claims, struct logto_error *err);
