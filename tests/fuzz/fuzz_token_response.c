/* SPDX-License-Identifier: MIT */
/*
 * fuzz_token_response: token endpoint answers through logto_tokens_from_response (HTTP 200: the
 * token fields; any other status: the OAuth error) and logto_oauth_error_from_response, as the
 * device, refresh, password and M2M flows read them.
 *
 * Input, like an HTTP answer: "STATUS\nContent-Type: application/json\n\nBODY" (status 200
 * when the first line holds none).
 *
 * Oracles: an accepted answer has a Bearer access token and sane lifetimes; a refusal has a
 * message, and the OAuth error code handed back is a short printable word (it goes into logs).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "tokens.h"

#include "fuzz.h"

#define ENDPOINT "https://auth.example.com/oidc/token"

static struct logto_ctx ctx;

static void check_oauth_error(const struct logto_oauth_error *o)
{
    size_t n = strnlen(o->error, sizeof(o->error));

    if (n == sizeof(o->error))
        abort(); /* not terminated */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)o->error[i] < 0x20 || (unsigned char)o->error[i] > 0x7e ||
            o->error[i] == '"' || o->error[i] == '\\')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_http_response resp;
    struct logto_tokens tokens = { 0 };
    struct logto_oauth_error oerr;
    struct logto_error err = { 0 };
    int r;

    if (!ctx.cfg)
        fuzz_ctx_init(&ctx, fuzz_config("[logto]\nendpoint = https://auth.example.com\n"
                                        "client_id = device-app\n"));
    if (size > 4 * 1024 * 1024)
        return 0;
    fuzz_http_response(data, size, &resp);

    r = logto_tokens_from_response(&ctx, &resp, ENDPOINT, &tokens, &oerr, &err);
    if (r == 0) {
        if (resp.status != 200 || !tokens.access_token || !tokens.access_token[0] ||
            !tokens.token_type || strcasecmp(tokens.token_type, "Bearer") != 0 ||
            tokens.expires_in < 0 || tokens.received_at != FUZZ_NOW ||
            (tokens.refresh_token && !tokens.refresh_token[0]))
            abort();
    } else {
        if (!err.message[0] || oerr.status != resp.status)
            abort();
        check_oauth_error(&oerr);
    }
    logto_tokens_clear(&tokens);

    if (resp.status >= 300) {
        memset(&err, 0, sizeof(err));
        r = logto_oauth_error_from_response(&resp, ENDPOINT, &oerr, &err);
        if (r >= 0 || !err.message[0])
            abort();
        check_oauth_error(&oerr);
    }
    logto_http_response_clear(&resp);
    return 0;
}
