/* SPDX-License-Identifier: MIT */
/*
 * HTTPS requests over libcurl. A struct logto_http is one operation's session (a login, a
 * refresh, a sync): one easy handle, so the TLS connection is reused within the operation, and
 * optionally one in-memory cookie jar. TLS verification is always on and cannot be turned off;
 * ca_file only adds a trust anchor. https only, no automatic redirects, bounded response size,
 * bounded time. Response bodies are wiped when freed and never logged.
 *
 * Errors: no complete HTTP answer (DNS, connect, TLS, timeout, a body cut off by the peer) or
 * an HTTP 5xx answer is LOGTO_E_UNREACHABLE; an answer larger than max_response_size is
 * LOGTO_E_PROTOCOL. Any other status is returned to the caller in resp->status, who decides
 * what it means.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "error.h"

struct json_t;
struct logto_http;

#define LOGTO_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define LOGTO_HTTP_DEFAULT_TIMEOUT_MS         15000
#define LOGTO_HTTP_DEFAULT_MAX_RESPONSE       (1024 * 1024)

/* Flags for logto_http_new. */
#define LOGTO_HTTP_COOKIES (1u << 0) /* keep cookies across requests (one jar per session) */

/*
 * A session configured from ctx->cfg (ca_file, connect_timeout_ms, timeout_ms,
 * max_response_size; unset values take the defaults above). ctx must outlive the session.
 */
int logto_http_new(const struct logto_ctx *ctx, unsigned flags, struct logto_http **ret,
                   struct logto_error *err);
void logto_http_free(struct logto_http *http);
/* Change the session's answer size cap (e.g. for a large static file). */
int logto_http_set_max_response(struct logto_http *http, size_t max, struct logto_error *err);
static inline void logto_http_freep(struct logto_http **http)
{
    logto_http_free(*http);
}
#define _cleanup_http_ _cleanup_(logto_http_freep)

struct logto_http_response {
    long status;
    char *body; /* NUL-terminated (the NUL is not counted); wiped on clear */
    size_t body_len;
    /* Captured headers of the final response, or NULL. */
    char *content_type;
    char *location;
    char *total_number;
    char *link;
    char *etag;
    /* Seconds or an HTTP date (mgmt.h parses it). After a 5xx (LOGTO_E_UNREACHABLE) the
     * response keeps only status and retry_after. */
    char *retry_after;
};

/* Wipe the body and free everything; the struct can be reused. */
void logto_http_response_clear(struct logto_http_response *resp);
#define _cleanup_http_response_ _cleanup_(logto_http_response_clear)

struct logto_http_request {
    const char *method; /* NULL: GET without a body, POST with one */
    const char *url;    /* absolute https URL */
    const char *body;   /* may be a secret: never copied, never logged */
    size_t body_len;
    const char *content_type; /* of the body */
    const char *bearer;       /* Authorization: Bearer <bearer> */
    const char *basic_user;   /* client_secret_basic (RFC 6749 2.3.1), with basic_password */
    const char *basic_password;
    const char *if_none_match; /* If-None-Match: a stored ETag (a 304 answer has no body) */
};

/* Send one request on the session's connection and fill resp (cleared first). */
int logto_http_send(struct logto_http *http, const struct logto_http_request *req,
                    struct logto_http_response *resp, struct logto_error *err);

/* An application/x-www-form-urlencoded body, built by appending fields. Wiped on clear. */
struct logto_form {
    char *buf;
    size_t len, cap;
    bool failed; /* an append ran out of memory; the form must not be sent */
};
/* Append name=value, both escaped. Returns 0 or -LOGTO_E_NOMEM (and sets form->failed). */
int logto_form_add(struct logto_form *form, const char *name, const char *value);
void logto_form_clear(struct logto_form *form);
#define _cleanup_form_ _cleanup_(logto_form_clear)

/* application/x-www-form-urlencoded escaping of s; NULL on allocation failure. */
char *logto_form_escape(const char *s);

/* The credentials of "Authorization: Basic <...>" for client_secret_basic: base64 of the
 * form-urlencoded user, ':', the form-urlencoded password (RFC 6749 2.3.1). A secret: the
 * caller wipes it (logto_free_secret). NULL on allocation failure. */
char *logto_http_basic_credentials(const char *user, const char *password);

/* Shortcuts for logto_http_send. bearer and basic_* may be NULL. */
int logto_http_get(struct logto_http *http, const char *url, const char *bearer,
                   struct logto_http_response *resp, struct logto_error *err);
int logto_http_post_form(struct logto_http *http, const char *url, const struct logto_form *form,
                         const char *basic_user, const char *basic_password,
                         struct logto_http_response *resp, struct logto_error *err);
/* method: "POST", "PUT", "PATCH"... body: serialised compactly (the buffer is wiped after). */
int logto_http_send_json(struct logto_http *http, const char *method, const char *url,
                         const struct json_t *body, const char *bearer,
                         struct logto_http_response *resp, struct logto_error *err);
/* The same with secret members (a password, a one-time code) added to body outside jansson
 * (logto_json_dump_secrets): keys[i] = values[i]. */
int logto_http_send_json_secrets(struct logto_http *http, const char *method, const char *url,
                                 const struct json_t *body, const char *const *keys,
                                 const char *const *values, size_t n, const char *bearer,
                                 struct logto_http_response *resp, struct logto_error *err);

/* The body as a JSON object (see logto_json_parse_object); what names it in messages. */
int logto_http_response_json(const struct logto_http_response *resp, const char *what,
                             struct json_t **ret, struct logto_error *err);

/* True if the response says its body is JSON (application/json or application/<x>+json). */
bool logto_http_response_is_json(const struct logto_http_response *resp);

/*
 * The absolute URL resp->location points to, resolved against the request that produced it.
 * Refused unless it is https and on the same origin (scheme, host, port) as that request.
 */
int logto_http_location(struct logto_http *http, const struct logto_http_response *resp,
                        char **ret_url, struct logto_error *err);
/* The same for an explicit base URL. */
int logto_url_resolve_same_origin(const char *base, const char *location, char **ret_url,
                                  struct logto_error *err);

/* URL helpers (libcurl's URL parser). what names the URL in messages. */
int logto_url_check_https(const char *url, const char *what, struct logto_error *err);
bool logto_url_same_origin(const char *a, const char *b);
/* "scheme://host[:port]/path" without user info, query or fragment, for messages and logs;
 * "(invalid URL)" if url cannot be parsed. Caller frees; NULL only on allocation failure. */
char *logto_url_for_message(const char *url);
