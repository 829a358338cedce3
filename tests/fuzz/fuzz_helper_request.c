/* SPDX-License-Identifier: MIT */
/*
 * fuzz_helper_request: the root helper's request parser (logto_helper_request_parse,
 * helperproto.h), which reads bytes from any local user, and the client's response header
 * parser (logto_helper_response_header) on the same input.
 *
 * Oracles: an accepted request is within the size limit, has an operation, and every value it
 * returns is 1..LOGTO_HELPER_VALUE_MAX printable ASCII bytes (a password: 1..
 * LOGTO_HELPER_PASSWORD_MAX bytes, no NUL; user, service and password all present for
 * op=password, and no token key; user and service for op=account, and no other key); formatted
 * again (logto_helper_token_request, logto_helper_password_request or
 * logto_helper_account_request) it parses back to the same request. Refusal messages hold no
 * control characters. An accepted response header keeps its lengths within the limit.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "helperproto.h"
#include "memory.h"

#include "fuzz.h"

static void check_value(const char *v)
{
    size_t len;

    if (!v)
        return;
    len = strlen(v);
    if (len == 0 || len > LOGTO_HELPER_VALUE_MAX)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            abort();
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* An accepted password request: its parts within bounds, and it formats back to itself. */
static void check_password(const struct logto_helper_request *req)
{
    struct logto_helper_request again;
    struct logto_error err = { 0 };
    char *text = NULL;
    size_t text_len, pw_len;

    if (!req->user || !req->service || !req->password || req->resource || req->organization ||
        req->scope || req->json)
        abort();
    check_value(req->user);
    check_value(req->service);
    pw_len = strlen(req->password);
    if (pw_len == 0 || pw_len > LOGTO_HELPER_PASSWORD_MAX)
        abort();
    if (logto_helper_password_request(req->user, req->service, req->password, &text, &text_len,
                                      &err) < 0)
        return;
    if (logto_helper_request_parse(text, text_len, &again, &err) < 0 ||
        again.op != LOGTO_HELPER_OP_PASSWORD || !same(req->user, again.user) ||
        !same(req->service, again.service) || !same(req->password, again.password))
        abort();
    logto_helper_request_clear(&again);
    logto_free_secret(text);
}

/* An accepted account request: user and service only, and it formats back to itself. */
static void check_account(const struct logto_helper_request *req)
{
    struct logto_helper_request again;
    struct logto_error err = { 0 };
    char *text = NULL;
    size_t text_len;

    if (!req->user || !req->service || req->password || req->resource || req->organization ||
        req->scope || req->json)
        abort();
    check_value(req->user);
    check_value(req->service);
    if (logto_helper_account_request(req->user, req->service, &text, &text_len, &err) < 0)
        abort(); /* every accepted pair formats */
    if (logto_helper_request_parse(text, text_len, &again, &err) < 0 ||
        again.op != LOGTO_HELPER_OP_ACCOUNT || !same(req->user, again.user) ||
        !same(req->service, again.service))
        abort();
    logto_helper_request_clear(&again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_helper_request req, again;
    struct logto_error err = { 0 };
    char *text = NULL;
    size_t text_len, out, errlen, hlen;
    int status;

    if (size > 2 * LOGTO_HELPER_REQUEST_MAX)
        return 0;
    if (logto_helper_request_parse((const char *)data, size, &req, &err) < 0) {
        for (const char *p = err.message; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
    } else {
        if (size > LOGTO_HELPER_REQUEST_MAX || req.op == LOGTO_HELPER_OP_NONE ||
            !logto_helper_request_complete((const char *)data, size))
            abort();
        if (req.op == LOGTO_HELPER_OP_PASSWORD) {
            check_password(&req);
            logto_helper_request_clear(&req);
            goto response;
        }
        if (req.op == LOGTO_HELPER_OP_ACCOUNT) {
            check_account(&req);
            logto_helper_request_clear(&req);
            goto response;
        }
        if (req.service || req.password)
            abort();
        check_value(req.user);
        check_value(req.resource);
        check_value(req.organization);
        check_value(req.scope);
        if (logto_helper_token_request(req.user, req.resource, req.organization, req.scope,
                                       req.json, &text, &text_len, &err) == 0) {
            if (logto_helper_request_parse(text, text_len, &again, &err) < 0)
                abort();
            if (!same(req.user, again.user) || !same(req.resource, again.resource) ||
                !same(req.organization, again.organization) || !same(req.scope, again.scope) ||
                req.json != again.json)
                abort();
            logto_helper_request_clear(&again);
            free(text);
        }
        logto_helper_request_clear(&req);
    }
response:
    if (logto_helper_response_header((const char *)data, size, &status, &out, &errlen, &hlen) ==
        0) {
        if (status < 0 || status > 255 || out + errlen > LOGTO_HELPER_RESPONSE_MAX || hlen > size)
            abort();
    }
    return 0;
}
