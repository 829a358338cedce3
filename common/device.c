/* SPDX-License-Identifier: MIT */
/* The device authorization grant: start, show, poll (RFC 8628). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "json.h"
#include "log.h"
#include "memory.h"
#include "oidc.h"
#include "qr.h"
#include "text.h"
#include "util.h"

#define USER_CODE_MAX 64
#define URI_MAX       2048

void logto_device_auth_clear(struct logto_device_auth *auth)
{
    if (!auth)
        return;
    logto_free_secret(auth->device_code);
    free(auth->user_code);
    free(auth->verification_uri);
    free(auth->verification_uri_complete);
    *auth = (struct logto_device_auth){ 0 };
}

/* ------------------------------------------------------------------ starting */

static int request_form(const struct logto_config *cfg, struct logto_form *form,
                        struct logto_error *err)
{
    _cleanup_free_ char *scope = logto_oidc_scope(cfg);

    if (!scope)
        return LOGTO_OOM(err);
    logto_form_add(form, "scope", scope);
    /* Logto grants organization scopes only together with the organization resource; API
     * resources must be asked for now to be asked for later with the refresh token. */
    logto_oidc_add_resources(cfg, form);
    return form->failed ? LOGTO_OOM(err) : 0;
}

/* A user code is shown to a person: short printable ASCII only. */
static bool user_code_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > USER_CODE_MAX)
        return false;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

/* A verification URI a person is sent to: https, sane, and Logto's own origin for Logto. */
static int check_uri(const struct logto_config *cfg, const char *uri, const char *what,
                     struct logto_error *err)
{
    int r;

    if (strlen(uri) > URI_MAX)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is too long", what);
    r = logto_url_check_https(uri, what, err);
    if (r < 0)
        return r;
    if (cfg && cfg->profile == LOGTO_PROFILE_LOGTO && cfg->endpoint &&
        !logto_url_same_origin(uri, cfg->endpoint))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not on the origin of endpoint %s",
                               what, cfg->endpoint);
    return 0;
}

/* The URI as it will be shown and put in the QR code: non-ASCII bytes percent-encoded (text.h),
 * so a bidi override or a C1 control in it reaches nobody's terminal; then checked. */
static int dup_checked_uri(const struct logto_config *cfg, const json_t *doc, const char *key,
                           unsigned flags, char **ret, struct logto_error *err)
{
    _cleanup_free_ char *shown = NULL;
    const char *uri = NULL;
    bool refused;
    int r = logto_json_get_string(doc, key, flags | LOGTO_JSON_NONEMPTY, &uri, err);

    if (r < 0 || !uri)
        return r;
    shown = logto_text_uri(uri, &refused);
    if (!shown)
        return refused ? logto_error_set(err, LOGTO_E_PROTOCOL,
                                         "%s holds control characters or spaces", key)
                       : LOGTO_OOM(err);
    r = check_uri(cfg, shown, key, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(shown);
    return 0;
}

static int64_t default_interval(const struct logto_config *cfg)
{
    return cfg && cfg->poll_interval > 0 ? cfg->poll_interval : LOGTO_DEVICE_DEFAULT_INTERVAL;
}

/* doc is the answer without its device_code, which is cut out of the text into *device_code
 * (json.h) and taken from there. */
static int parse_answer(const struct logto_ctx *ctx, const json_t *doc, char **device_code,
                        struct logto_device_auth *a, struct logto_error *err)
{
    const char *user_code = NULL;
    int64_t expires_in = 0, interval = default_interval(ctx->cfg);
    int r;

    if (!*device_code)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "field \"device_code\" is missing");
    if ((r = logto_json_get_string(doc, "user_code", LOGTO_JSON_REQUIRED, &user_code, err)) < 0 ||
        (r = logto_json_get_int(doc, "expires_in", LOGTO_JSON_REQUIRED, 1,
                                LOGTO_DEVICE_MAX_EXPIRES_IN, &expires_in, err)) < 0 ||
        (r = logto_json_get_int(doc, "interval", 0, 1, 3600, &interval, err)) < 0 ||
        (r = dup_checked_uri(ctx->cfg, doc, "verification_uri", LOGTO_JSON_REQUIRED,
                             &a->verification_uri, err)) < 0 ||
        (r = dup_checked_uri(ctx->cfg, doc, "verification_uri_complete", 0,
                             &a->verification_uri_complete, err)) < 0)
        return r;
    if (!user_code_ok(user_code))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "user_code is not short printable text");
    a->device_code = TAKE_PTR(*device_code);
    a->user_code = strdup(user_code);
    if (!a->device_code || !a->user_code)
        return LOGTO_OOM(err);
    logto_device_set_lifetime(a, expires_in);
    a->interval = interval > LOGTO_DEVICE_MAX_INTERVAL ? LOGTO_DEVICE_MAX_INTERVAL : interval;
    return 0;
}

int logto_device_start(const struct logto_ctx *ctx, struct logto_http *http,
                       const struct logto_oidc *oidc, const struct logto_client *client,
                       struct logto_device_auth *ret, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_device_auth_ struct logto_device_auth a = { 0 };
    _cleanup_form_ struct logto_form form = { 0 };
    _cleanup_json_ json_t *doc = NULL;
    struct logto_json_secret code = { .key = "device_code" };
    _cleanup_free_ char *shown = NULL;
    int r;

    if (!oidc->device_authorization_endpoint)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED,
                               "the provider does not offer the device authorization grant (its "
                               "discovery document names no device_authorization_endpoint)");
    /* grant_types_supported is advisory: some providers serve grants they do not list. The
     * provider's answer decides. */
    if (!logto_oidc_supports_grant(oidc, LOGTO_DEVICE_GRANT))
        logto_log_debug(&ctx->log, "device-grant-unlisted (discovery omits it; requested anyway)");
    shown = logto_url_for_message(oidc->device_authorization_endpoint);
    if (!shown)
        return LOGTO_OOM(err);
    r = request_form(ctx->cfg, &form, err);
    if (r >= 0)
        r = logto_client_post_form(http, oidc->device_authorization_endpoint, client, &form, &resp,
                                   err);
    if (r < 0)
        return r;
    if (resp.status != 200) {
        const char *hint = ctx->cfg && ctx->cfg->profile == LOGTO_PROFILE_GENERIC
                               ? "; may client_id use the device grant at the identity provider?"
                               : "; is client_id a Native app with the device flow enabled "
                                 "(Logto 1.38 or later)?";
        struct logto_oauth_error oerr = { 0 };
        r = logto_oauth_error_from_response(&resp, shown, &oerr, err);
        /* Logto answers invalid_request ("...device_code is not allowed for this client") for an
         * app that is not a Native app with the device flow on; other providers may say
         * unauthorized_client. The description (sanitised) is in the message; say what to check. */
        if (err &&
            (strcmp(oerr.error, "invalid_request") == 0 ||
             strcmp(oerr.error, "unauthorized_client") == 0 ||
             strcmp(oerr.error, "invalid_client") == 0) &&
            strlen(err->message) + strlen(hint) < sizeof(err->message))
            strcat(err->message, hint);
        return r;
    }
    r = logto_json_parse_object_secrets(resp.body, resp.body_len, resp.body_len + 1,
                                        LOGTO_JSON_MAX_DEPTH, "the device authorization answer",
                                        &code, 1, LOGTO_TOKEN_MAX, &doc, err);
    if (r >= 0)
        r = parse_answer(ctx, doc, &code.value, &a, err);
    logto_json_secrets_clear(&code, 1);
    if (r < 0) {
        logto_error_prefix(err, "%s", shown);
        return r;
    }
    logto_log(&ctx->log, LOG_INFO, "device-flow-started expires_in=%lld interval=%lld",
              (long long)logto_device_seconds_left(&a), (long long)a.interval);
    logto_device_auth_clear(ret);
    *ret = a;
    a = (struct logto_device_auth){ 0 };
    return 0;
}

/* ------------------------------------------------------------------ showing */

static bool want_qr(const struct logto_service *svc, const struct logto_ui *ui)
{
    return ui->terminal && (!svc || svc->qr != 0);
}

static bool want_enter_prompt(const struct logto_service *svc, const struct logto_ui *ui)
{
    int64_t mode = svc ? svc->enter_prompt : LOGTO_AUTO;

    if (mode == LOGTO_YES)
        return true;
    if (mode == LOGTO_NO)
        return false;
    return ui->buffers_info;
}

static char *device_message(const struct logto_device_auth *a, const char *purpose, const char *qr)
{
    const char *p = purpose ? purpose : "", *nl = purpose ? "\n" : "";

    if (a->verification_uri_complete)
        return logto_asprintf("%s%sTo sign in, open\n\n  %s\n\nand confirm the code %s.\n%s%s", p,
                              nl, a->verification_uri_complete, a->user_code, qr ? "\n" : "",
                              qr ? qr : "");
    return logto_asprintf("%s%sTo sign in, open\n\n  %s\n\nand enter the code %s.\n%s%s", p, nl,
                          a->verification_uri, a->user_code, qr ? "\n" : "", qr ? qr : "");
}

static int ask_enter(const struct logto_ui *ui, struct logto_error *err)
{
    _cleanup_secret_ char *answer = NULL;

    if (!ui->prompt)
        return logto_error_set(err, LOGTO_E_INVAL, "the front end cannot prompt");
    if (ui->prompt(ui->data, false, "Press Enter once you have signed in: ", &answer) < 0)
        return logto_error_set(err, LOGTO_E_IO, "the sign-in prompt was not answered");
    return 0;
}

int logto_device_show(const struct logto_ctx *ctx, const struct logto_service *svc,
                      const struct logto_ui *ui, const struct logto_device_auth *auth,
                      struct logto_error *err)
{
    _cleanup_free_ char *qr = NULL, *text = NULL;
    struct logto_error qerr = { 0 };

    if (!ui || !ui->info)
        return logto_error_set(err, LOGTO_E_INVAL, "the front end cannot show messages");
    if (want_qr(svc, ui) &&
        logto_qr_render(auth->verification_uri_complete ? auth->verification_uri_complete
                                                        : auth->verification_uri,
                        &qr, &qerr) < 0)
        logto_log_debug(&ctx->log, "device-flow-no-qr reason=\"%s\"", qerr.message);
    text = device_message(auth, ui->purpose, qr);
    if (!text)
        return LOGTO_OOM(err);
    if (ui->info(ui->data, text) < 0)
        return logto_error_set(err, LOGTO_E_IO, "the sign-in code could not be shown");
    return want_enter_prompt(svc, ui) ? ask_enter(ui, err) : 0;
}

/* ------------------------------------------------------------------ polling */

static void sleep_seconds(int64_t seconds)
{
    logto_sleep_ms(seconds * 1000);
}

void logto_device_set_lifetime(struct logto_device_auth *auth, int64_t expires_in)
{
    auth->deadline_ms = logto_monotonic_ms() + expires_in * 1000;
}

int64_t logto_device_seconds_left(const struct logto_device_auth *auth)
{
    int64_t ms = auth->deadline_ms - logto_monotonic_ms();

    return ms > 0 ? (ms + 999) / 1000 : 0;
}

/* Wait interval seconds, but not past the code's expiry. */
static int wait_for_poll(const struct logto_device_auth *a, int64_t interval,
                         struct logto_error *err)
{
    int64_t left = logto_device_seconds_left(a);

    if (left <= 0)
        return logto_error_set(err, LOGTO_E_TIMEOUT,
                               "the sign-in code expired before the sign-in was finished");
    sleep_seconds(interval < left ? interval : left);
    return 0;
}

static int poll_once(const struct logto_ctx *ctx, struct logto_http *http,
                     const struct logto_oidc *oidc, const struct logto_client *client,
                     const struct logto_device_auth *a, struct logto_tokens *ret,
                     struct logto_oauth_error *oerr, struct logto_error *err)
{
    _cleanup_form_ struct logto_form form = { 0 };

    logto_form_add(&form, "grant_type", LOGTO_DEVICE_GRANT);
    logto_form_add(&form, "device_code", a->device_code);
    return logto_token_request(ctx, http, oidc, client, &form, ret, oerr, err);
}

static int finish(const struct logto_ctx *ctx, struct logto_http *http, struct logto_oidc *oidc,
                  const struct logto_client *client, struct logto_tokens *tokens,
                  struct logto_tokens *ret, struct json_t **ret_claims, struct logto_error *err)
{
    int r = logto_oidc_verify_id_token(ctx, http, oidc, client->client_id, tokens->id_token, NULL,
                                       ret_claims, err);
    if (r < 0)
        return r;
    logto_log(&ctx->log, LOG_INFO, "device-flow-approved");
    logto_tokens_clear(ret);
    *ret = *tokens;
    *tokens = (struct logto_tokens){ 0 };
    return 0;
}

int logto_device_poll(const struct logto_ctx *ctx, struct logto_http *http, struct logto_oidc *oidc,
                      const struct logto_client *client, struct logto_device_auth *auth,
                      struct logto_tokens *ret, struct json_t **ret_claims, struct logto_error *err)
{
    _cleanup_tokens_ struct logto_tokens tokens = { 0 };
    struct logto_oauth_error oerr = { 0 };
    int64_t interval = auth->interval;
    unsigned failures = 0;
    int r;

    for (;;) {
        r = wait_for_poll(auth, interval, err);
        if (r < 0)
            break;
        r = poll_once(ctx, http, oidc, client, auth, &tokens, &oerr, err);
        if (r == 0)
            return finish(ctx, http, oidc, client, &tokens, ret, ret_claims, err);
        if (strcmp(oerr.error, "authorization_pending") == 0) {
            failures = 0;
            interval = auth->interval;
        } else if (strcmp(oerr.error, "slow_down") == 0) {
            failures = 0;
            auth->interval += LOGTO_DEVICE_SLOW_DOWN_STEP;
            interval = auth->interval;
            logto_log(&ctx->log, LOG_INFO, "device-flow-slow-down interval=%lld",
                      (long long)interval);
        } else if (r == -LOGTO_E_UNREACHABLE && ++failures <= LOGTO_DEVICE_NETWORK_RETRIES) {
            interval =
                interval * 2 > LOGTO_DEVICE_MAX_INTERVAL ? LOGTO_DEVICE_MAX_INTERVAL : interval * 2;
            logto_log(&ctx->log, LOG_NOTICE, "device-flow-poll-failed retry=%u interval=%lld",
                      failures, (long long)interval);
        } else {
            break;
        }
    }
    logto_log(&ctx->log, LOG_NOTICE, "device-flow-failed error=%s oauth_error=%s",
              logto_errc_name(logto_errc_from(r)), oerr.error[0] ? oerr.error : "-");
    return r;
}

/* ------------------------------------------------------------------ all of it */

int logto_device_signin(const struct logto_ctx *ctx, struct logto_http *http,
                        struct logto_oidc *oidc, const struct logto_service *svc,
                        const struct logto_ui *ui, struct logto_tokens *ret,
                        struct json_t **ret_claims, struct logto_error *err)
{
    _cleanup_device_auth_ struct logto_device_auth auth = { 0 };
    _cleanup_secret_ char *secret = NULL;
    const struct logto_config *cfg = ctx->cfg;
    struct logto_client client = { .client_id = cfg ? cfg->client_id : NULL };
    int r;

    if (cfg && cfg->client_secret_file) {
        r = logto_config_read_secret(cfg->client_secret_file, &secret, err);
        if (r < 0)
            return r;
        client.client_secret = secret;
    }
    r = logto_device_start(ctx, http, oidc, &client, &auth, err);
    if (r >= 0)
        r = logto_device_show(ctx, svc, ui, &auth, err);
    if (r >= 0)
        r = logto_device_poll(ctx, http, oidc, &client, &auth, ret, ret_claims, err);
    return r;
}
