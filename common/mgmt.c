/* SPDX-License-Identifier: MIT */
/* Logto Management API client: M2M token (memory + disk cache), paginated listings, users. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fileio.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "memory.h"
#include "mgmt.h"
#include "tokens.h"
#include "util.h"

struct logto_mgmt {
    const struct logto_ctx *ctx;
    struct logto_http *http;
    char *endpoint;  /* cfg->endpoint, without a trailing slash */
    char *token_url; /* issuer + /token (Logto never moves oidc-provider's routes, §1.1) */
    char *access_token;
    int64_t expires_at;
    bool token_cached; /* the token came from a cache: a 401 may just mean it went stale */
    unsigned requests, token_requests;
    logto_mgmt_progress_fn progress; /* after every page of a listing (interactive tools) */
    void *progress_data;
    /* Patience (logto_mgmt_set_patience): off unless a long walk asks for it. */
    bool patient;
    int64_t interval_ms, budget_ms; /* least time between requests; all rate-limit waits */
    int64_t waited_ms, last_request_ms;
    unsigned backoffs; /* waits without Retry-After so far (the backoff's exponent) */
    bool walk_changed; /* a listing's Total-Number moved between its first and last page */
};

/* ------------------------------------------------------------------ pure helpers */

bool logto_mgmt_id_valid(const char *id)
{
    size_t n;

    if (!id)
        return false;
    n = strlen(id);
    return n >= 1 && n <= 128 &&
           strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int logto_mgmt_parse_total(const char *value, uint64_t *ret, struct logto_error *err)
{
    uint64_t n = 0;
    size_t len;

    if (!value)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "no Total-Number header");
    len = strlen(value);
    /* Canonical decimal: digits only, no sign, no leading zero (except "0"), at most 7 digits. */
    if (len == 0 || len > 7 || strspn(value, "0123456789") != len || (len > 1 && value[0] == '0'))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "Total-Number header is not a count");
    for (size_t i = 0; i < len; i++)
        n = n * 10 + (uint64_t)(value[i] - '0');
    if (n > LOGTO_MGMT_MAX_ITEMS)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "Total-Number %" PRIu64 " is more than the %d items we accept", n,
                               LOGTO_MGMT_MAX_ITEMS);
    *ret = n;
    return 0;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int logto_mgmt_parse_link(const char *value, const char *rel, char **ret, struct logto_error *err)
{
    const char *p = value;

    *ret = NULL;
    if (!value)
        return 0;
    for (;;) {
        const char *target, *target_end;
        bool match = false;

        p = skip_ows(p);
        if (*p == '\0')
            return 0;
        if (*p != '<')
            goto bad;
        target = p + 1;
        target_end = strchr(target, '>');
        if (!target_end)
            goto bad;
        p = target_end + 1;
        /* Parameters: ; name=value or ; name="value" */
        for (;;) {
            const char *name, *val;
            size_t name_len, val_len;

            p = skip_ows(p);
            if (*p != ';')
                break;
            p = skip_ows(p + 1);
            name = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            name_len = (size_t)(p - name);
            if (name_len == 0)
                goto bad;
            p = skip_ows(p);
            if (*p != '=')
                continue; /* a parameter without a value */
            p = skip_ows(p + 1);
            if (*p == '"') {
                val = ++p;
                while (*p && *p != '"')
                    p++;
                if (*p != '"')
                    goto bad;
                val_len = (size_t)(p - val);
                p++;
            } else {
                val = p;
                while (*p && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
                    p++;
                val_len = (size_t)(p - val);
            }
            if (name_len == 3 && logto_ascii_strncasecmp(name, "rel", 3) == 0) {
                /* rel may hold several space-separated relation types. */
                size_t rl = strlen(rel);
                for (size_t i = 0; i < val_len;) {
                    size_t j = i;
                    while (j < val_len && val[j] != ' ')
                        j++;
                    if (j - i == rl && logto_ascii_strncasecmp(val + i, rel, rl) == 0)
                        match = true;
                    i = j + 1;
                }
            }
        }
        p = skip_ows(p);
        if (*p == ',')
            p++;
        else if (*p != '\0')
            goto bad;
        if (match) {
            *ret = strndup(target, (size_t)(target_end - target));
            return *ret ? 0 : LOGTO_OOM(err);
        }
    }
bad:
    return logto_error_set(err, LOGTO_E_PROTOCOL, "Link header is malformed");
}

char *logto_mgmt_build_url(const char *endpoint, const char *path, unsigned page,
                           unsigned page_size)
{
    if (page == 0)
        return logto_asprintf("%s/api%s", endpoint, path);
    return logto_asprintf("%s/api%s%spage=%u&page_size=%u", endpoint, path,
                          strchr(path, '?') ? "&" : "?", page, page_size);
}

int logto_mgmt_status_error(long status, const char *code, const char *what,
                            struct logto_error *err)
{
    char shown[80] = "";

    if (code)
        snprintf(shown, sizeof(shown), " (%s)", code);
    if (status == 401 || status == 403)
        return logto_error_set(err, LOGTO_E_DENIED,
                               "the Management API refused %s with HTTP %ld%s: the M2M app needs "
                               "the Management API permission `all`",
                               what, status, shown);
    if (status == 404)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "%s: not found (HTTP 404%s)", what, shown);
    if (status == 400 && code && strcmp(code, "guard.invalid_pagination") == 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "%s: the Management API refused our pagination%s", what, shown);
    if (status >= 500)
        return logto_error_set(err, LOGTO_E_UNREACHABLE, "%s answered HTTP %ld%s", what, status,
                               shown);
    return logto_error_set(err, LOGTO_E_PROTOCOL, "%s answered HTTP %ld%s", what, status, shown);
}

/* Logto's `code` from an error body, if it is a plain identifier (it goes into messages). */
static const char *error_code(const struct logto_http_response *resp, json_t **holder)
{
    const char *code = NULL;
    size_t n;

    *holder = NULL;
    if (!resp->body || !logto_http_response_is_json(resp))
        return NULL;
    if (logto_http_response_json(resp, "error body", holder, NULL) < 0)
        return NULL;
    if (logto_json_get_string(*holder, "code", 0, &code, NULL) < 0 || !code)
        return NULL;
    n = strlen(code);
    if (n == 0 || n > 64 ||
        strspn(code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") != n)
        return NULL;
    return code;
}

static int answer_error(const struct logto_http_response *resp, const char *what,
                        struct logto_error *err)
{
    _cleanup_json_ json_t *holder = NULL;
    const char *code = error_code(resp, &holder);
    return logto_mgmt_status_error(resp->status, code, what, err);
}

/* ------------------------------------------------------------------ JSON arrays */

/* The response body as a JSON array (json.h parses objects only), with the same limits. */
static int parse_array(const struct logto_http_response *resp, const char *what, json_t **ret,
                       struct logto_error *err)
{
    json_error_t jerr;
    json_t *json;

    if (!resp->body || resp->body_len == 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: the answer is empty", what);
    if (logto_json_depth(resp->body, resp->body_len, LOGTO_JSON_MAX_DEPTH) > LOGTO_JSON_MAX_DEPTH)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: the answer is nested too deeply", what);
    json = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: the answer is not valid JSON", what);
    if (!json_is_array(json)) {
        json_decref(json);
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: the answer is not a JSON array", what);
    }
    *ret = json;
    return 0;
}

/* ------------------------------------------------------------------ item checks */

enum item_kind {
    ITEM_USER = LOGTO_MGMT_ITEM_USER,
    ITEM_ROLE = LOGTO_MGMT_ITEM_ROLE,
    ITEM_ORG = LOGTO_MGMT_ITEM_ORG,
    ITEM_ORG_USER = LOGTO_MGMT_ITEM_ORG_USER,
    ITEM_USER_ORG = LOGTO_MGMT_ITEM_USER_ORG,
};

static int check_org_roles(const json_t *item, struct logto_error *err)
{
    json_t *roles = NULL, *v;
    size_t i;
    int r = logto_json_get_array(item, "organizationRoles", LOGTO_JSON_REQUIRED, &roles, err);

    if (r < 0)
        return r;
    json_array_foreach(roles, i, v)
    {
        const char *name = NULL;
        if (!json_is_object(v))
            return logto_error_set(err, LOGTO_E_PROTOCOL,
                                   "organizationRoles[%zu] is not an "
                                   "object",
                                   i);
        r = logto_json_get_string(v, "name", LOGTO_JSON_REQUIRED | LOGTO_JSON_NONEMPTY, &name, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int check_user(const json_t *item, struct logto_error *err)
{
    json_t *v = json_object_get(item, "username");
    bool b;
    json_t *o;
    int r;

    if (v && !json_is_string(v) && !json_is_null(v))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "field \"username\" is not a string");
    r = logto_json_get_bool(item, "isSuspended", 0, &b, err);
    if (r >= 0)
        r = logto_json_get_object(item, "customData", LOGTO_JSON_NULL_UNSET, &o, err);
    return r;
}

static int check_item(enum item_kind kind, const json_t *item, size_t index,
                      struct logto_error *err)
{
    const char *id = NULL, *s = NULL;
    int r;

    if (!json_is_object(item))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "item %zu is not an object", index);
    r = logto_json_get_string(item, "id", LOGTO_JSON_REQUIRED, &id, err);
    if (r < 0)
        goto fail;
    if (!logto_mgmt_id_valid(id)) {
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "item %zu has an invalid \"id\"", index);
        goto fail;
    }
    switch (kind) {
    case ITEM_USER:
        r = check_user(item, err);
        break;
    case ITEM_ORG_USER:
        r = check_user(item, err);
        if (r >= 0)
            r = check_org_roles(item, err);
        break;
    case ITEM_ROLE:
        r = logto_json_get_string(item, "name", LOGTO_JSON_REQUIRED | LOGTO_JSON_NONEMPTY, &s, err);
        break;
    case ITEM_ORG:
        r = logto_json_get_string(item, "name", LOGTO_JSON_NULL_UNSET, &s, err);
        break;
    case ITEM_USER_ORG:
        r = logto_json_get_string(item, "name", LOGTO_JSON_NULL_UNSET, &s, err);
        if (r >= 0)
            r = check_org_roles(item, err);
        break;
    }
    if (r >= 0)
        return 0;
fail:
    logto_error_prefix(err, "item %zu", index);
    return r;
}

int logto_mgmt_parse_page(const struct logto_http_response *resp, enum logto_mgmt_item_kind kind,
                          unsigned page, const char *what, json_t **ret_items, uint64_t *ret_total,
                          uint64_t *ret_pages, char **ret_next, struct logto_error *err)
{
    _cleanup_json_ json_t *items = NULL;
    uint64_t total = 0, pages = 0;
    size_t n, i;
    json_t *item;
    int r;

    if (kind > LOGTO_MGMT_ITEM_USER_ORG)
        return logto_error_set(err, LOGTO_E_INVAL, "unknown kind of listing");
    if (resp->status != 200)
        return answer_error(resp, what, err);
    r = parse_array(resp, what, &items, err);
    if (r < 0)
        return r;
    n = json_array_size(items);
    if (n > LOGTO_MGMT_PAGE_SIZE)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "%s: page %u has %zu items, more than the %d asked for", what, page,
                               n, LOGTO_MGMT_PAGE_SIZE);
    _cleanup_free_ char *next = NULL;
    if (resp->total_number) {
        r = logto_mgmt_parse_total(resp->total_number, &total, err);
        pages = total == 0 ? 1 : (total + LOGTO_MGMT_PAGE_SIZE - 1) / LOGTO_MGMT_PAGE_SIZE;
    } else
        r = logto_mgmt_parse_link(resp->link, "next", &next, err);
    if (r < 0) {
        logto_error_prefix(err, "%s", what);
        return r;
    }
    json_array_foreach(items, i, item)
    {
        r = check_item((enum item_kind)kind, item, (size_t)(page - 1) * LOGTO_MGMT_PAGE_SIZE + i,
                       err);
        if (r < 0) {
            logto_error_prefix(err, "%s", what);
            return r;
        }
    }
    *ret_items = TAKE_PTR(items);
    *ret_total = total;
    *ret_pages = pages;
    *ret_next = TAKE_PTR(next);
    return 0;
}

/* ------------------------------------------------------------------ rate limits */

int64_t logto_mgmt_backoff_ms(unsigned attempt, uint32_t random)
{
    int64_t cap = (int64_t)LOGTO_MGMT_RETRY_WAIT_MAX * 1000;
    int64_t full = attempt >= 16 ? cap : (int64_t)1000 << attempt;

    if (full > cap)
        full = cap;
    /* Half fixed, half random: hosts that were refused together do not come back together. */
    return full / 2 + (int64_t)(random % (uint32_t)(full / 2 + 1));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits_at(const char *s, size_t at, size_t n, unsigned *ret)
{
    unsigned v = 0;

    for (size_t i = at; i < at + n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *ret = v;
    return true;
}

int64_t logto_mgmt_parse_retry_after(const char *value, int64_t now)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    unsigned day, year, hour, min, sec, month = 0;
    size_t len;
    int64_t at;

    if (!value)
        return -1;
    len = strlen(value);
    if (len >= 1 && len <= 9 && strspn(value, "0123456789") == len)
        return strtoll(value, NULL, 10);
    /* IMF-fixdate (RFC 9110 5.6.7), the form servers must send: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (len != 29 || value[3] != ',' || value[4] != ' ' || value[7] != ' ' || value[11] != ' ' ||
        value[16] != ' ' || value[19] != ':' || value[22] != ':' || strcmp(value + 25, " GMT") != 0)
        return -1;
    for (unsigned i = 0; i < 12; i++)
        if (memcmp(value + 8, months + 3 * i, 3) == 0)
            month = i + 1;
    if (!month || !digits_at(value, 5, 2, &day) || !digits_at(value, 12, 4, &year) ||
        !digits_at(value, 17, 2, &hour) || !digits_at(value, 20, 2, &min) ||
        !digits_at(value, 23, 2, &sec) || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    at = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    return at > now ? at - now : 0;
}

void logto_mgmt_set_patience(struct logto_mgmt *m, int64_t interval_ms, int64_t budget_ms)
{
    m->patient = true;
    m->interval_ms = interval_ms > 0 ? interval_ms : 0;
    m->budget_ms = budget_ms > 0 ? budget_ms : 0;
}

/* Keep at least interval_ms between the starts of two requests. */
static void pace(struct logto_mgmt *m)
{
    if (m->interval_ms > 0 && m->last_request_ms > 0) {
        int64_t due = m->last_request_ms + m->interval_ms, now = logto_monotonic_ms();
        if (due > now)
            logto_sleep_ms(due - now);
    }
    m->last_request_ms = logto_monotonic_ms();
}

static bool rate_limited(const struct logto_mgmt *m, const struct logto_http_response *resp)
{
    return m->patient && (resp->status == 429 || (resp->status == 503 && resp->retry_after));
}

/* Wait out a rate-limit answer to what, within the budget; else the error that names it. */
static int wait_out(struct logto_mgmt *m, const struct logto_http_response *resp, const char *what,
                    struct logto_error *err)
{
    int64_t after = logto_mgmt_parse_retry_after(resp->retry_after, logto_now(m->ctx));
    int64_t left = m->budget_ms - m->waited_ms, wait_ms;
    uint32_t random = 0;

    if (after >= 0) {
        /* At least a second: "Retry-After: 0" (or a past date) must not make a busy loop. */
        int64_t asked_ms = (after < 1 ? 1 : after) * 1000;
        wait_ms = asked_ms > LOGTO_MGMT_RETRY_WAIT_MAX * 1000 ? LOGTO_MGMT_RETRY_WAIT_MAX * 1000
                                                              : asked_ms;
        if (asked_ms > left)
            wait_ms = -1; /* the server will not take us back within the budget */
    } else {
        if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != (ssize_t)sizeof(random))
            random = (uint32_t)logto_monotonic_ms();
        wait_ms = logto_mgmt_backoff_ms(m->backoffs, random);
        if (wait_ms > left)
            wait_ms = left > 0 ? left : -1;
    }
    if (wait_ms < 0) {
        char asked[64] = "";
        if (after >= 0)
            snprintf(asked, sizeof(asked), ", Retry-After asks for %" PRId64 " s", after);
        logto_log(&m->ctx->log, LOG_WARNING,
                  "mgmt-rate-limit-exhausted status=%ld what=\"%s\" retry_after=%" PRId64
                  " waited_ms=%" PRId64,
                  resp->status, what, after, m->waited_ms);
        return logto_error_set(
            err, LOGTO_E_UNREACHABLE,
            "%s: the Management API's rate limit (HTTP %ld%s) outlasts the %" PRId64
            " s this sync may wait ([sync] rate_limit_budget; waited %" PRId64 " s)",
            what, resp->status, asked, m->budget_ms / 1000, m->waited_ms / 1000);
    }
    logto_log(&m->ctx->log, LOG_WARNING,
              "mgmt-rate-limited status=%ld what=\"%s\" retry_after=%" PRId64 " wait_ms=%" PRId64
              " waited_ms=%" PRId64,
              resp->status, what, after, wait_ms, m->waited_ms);
    if (after < 0)
        m->backoffs++;
    logto_sleep_ms(wait_ms);
    m->waited_ms += wait_ms;
    return 0;
}

/* ------------------------------------------------------------------ session */

int logto_mgmt_new(const struct logto_ctx *ctx, struct logto_mgmt **ret, struct logto_error *err)
{
    const struct logto_config *cfg = ctx->cfg;
    struct logto_mgmt *m;
    size_t n;
    int r;

    if (!cfg || cfg->profile != LOGTO_PROFILE_LOGTO || !cfg->endpoint || !cfg->issuer)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "the Management API needs profile logto and an endpoint");
    if (!cfg->m2m_client_id || !cfg->m2m_client_secret_file)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "the Management API needs [sync] m2m_client_id and "
                               "m2m_client_secret_file");
    if (!cfg->management_resource)
        return logto_error_set(err, LOGTO_E_CONFIG, "[sync] management_resource is not set");
    m = calloc(1, sizeof(*m));
    if (!m)
        return LOGTO_OOM(err);
    m->ctx = ctx;
    m->endpoint = strdup(cfg->endpoint);
    m->token_url = logto_asprintf("%s/token", cfg->issuer);
    if (!m->endpoint || !m->token_url) {
        logto_mgmt_free(m);
        return LOGTO_OOM(err);
    }
    n = strlen(m->endpoint);
    while (n > 0 && m->endpoint[n - 1] == '/')
        m->endpoint[--n] = '\0';
    r = logto_http_new(ctx, 0, &m->http, err);
    if (r < 0) {
        logto_mgmt_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

static void drop_token(struct logto_mgmt *m)
{
    logto_free_secret(m->access_token);
    m->access_token = NULL;
    m->expires_at = 0;
    m->token_cached = false;
}

void logto_mgmt_free(struct logto_mgmt *m)
{
    if (!m)
        return;
    drop_token(m);
    logto_http_free(m->http);
    free(m->endpoint);
    free(m->token_url);
    free(m);
}

unsigned logto_mgmt_request_count(const struct logto_mgmt *m)
{
    return m ? m->requests : 0;
}

unsigned logto_mgmt_token_request_count(const struct logto_mgmt *m)
{
    return m ? m->token_requests : 0;
}

void logto_mgmt_set_progress(struct logto_mgmt *m, logto_mgmt_progress_fn fn, void *userdata)
{
    m->progress = fn;
    m->progress_data = userdata;
}

/* ------------------------------------------------------------------ token cache on disk */

static bool token_usable(const struct logto_mgmt *m, int64_t expires_at)
{
    return expires_at - LOGTO_MGMT_TOKEN_MARGIN > logto_now(m->ctx);
}

static int open_state_dir(const struct logto_mgmt *m, int *ret_fd, struct logto_error *err)
{
    const char *dir = m->ctx->cfg->state_dir;

    if (!dir)
        return logto_error_set(err, LOGTO_E_CONFIG, "no state_dir");
    return logto_dir_open_trusted(dir, false, ret_fd, err);
}

/* Wipe every string inside a JSON value (before it is freed: jansson does not). */
static void json_wipe(json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_string(j))
        logto_erase((char *)(uintptr_t)json_string_value(j), json_string_length(j));
    else if (json_is_object(j)) {
        json_object_foreach(j, k, v) json_wipe(v);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) json_wipe(v);
    }
}

void logto_json_wipe_decref(json_t *j)
{
    if (!j)
        return;
    /* Only the last reference wipes: others may still need the values. */
    if (j->refcount == 1)
        json_wipe(j);
    json_decref(j);
}

static void cache_path(const struct logto_mgmt *m, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", m->ctx->cfg->state_dir, LOGTO_MGMT_TOKEN_FILE);
}

/* 1 if a usable token for our issuer, client and resource was loaded, 0 if not. Problems with
 * the file are logged and ignored: the token endpoint is always there as a fallback. */
static int load_cached_token(struct logto_mgmt *m)
{
    const struct logto_config *cfg = m->ctx->cfg;
    _cleanup_close_ int dirfd = -1;
    _cleanup_json_ json_t *doc = NULL;
    struct logto_json_secret token = { .key = "access_token" };
    struct logto_error e = { 0 };
    char *buf = NULL, path[4096];
    size_t len = 0;
    const char *issuer = NULL, *client = NULL, *resource = NULL;
    int64_t expires_at = 0, version = 0;
    int r;

    if (!cfg->state_dir)
        return 0;
    cache_path(m, path, sizeof(path));
    if (open_state_dir(m, &dirfd, &e) < 0) {
        logto_log_debug(&m->ctx->log, "mgmt-token-cache skipped=yes reason=\"%s\"", e.message);
        return 0;
    }
    r = logto_file_read_at(dirfd, LOGTO_MGMT_TOKEN_FILE, path, LOGTO_FILE_SECRET,
                           LOGTO_MGMT_TOKEN_FILE_MAX, &buf, &len, &e);
    if (r < 0) {
        if (e.code != LOGTO_E_NOTFOUND)
            logto_log(&m->ctx->log, LOG_WARNING, "mgmt-token-cache-ignored reason=\"%s\"",
                      e.message);
        return 0;
    }
    r = logto_json_parse_object_secrets(buf, len, LOGTO_MGMT_TOKEN_FILE_MAX, 4, path, &token, 1,
                                        LOGTO_TOKEN_MAX, &doc, &e);
    logto_freezero(buf, len);
    if (r >= 0)
        r = logto_json_get_int(doc, "version", LOGTO_JSON_REQUIRED, 1, 1, &version, &e);
    if (r >= 0)
        r = logto_json_get_string(doc, "issuer", LOGTO_JSON_REQUIRED, &issuer, &e);
    if (r >= 0)
        r = logto_json_get_string(doc, "client_id", LOGTO_JSON_REQUIRED, &client, &e);
    if (r >= 0)
        r = logto_json_get_string(doc, "resource", LOGTO_JSON_REQUIRED, &resource, &e);
    if (r >= 0 && !token.value)
        r = logto_error_set(&e, LOGTO_E_PROTOCOL, "field \"access_token\" is missing");
    if (r >= 0)
        r = logto_json_get_int(doc, "expires_at", LOGTO_JSON_REQUIRED, 1, INT64_MAX / 2,
                               &expires_at, &e);
    if (r < 0) {
        logto_json_secrets_clear(&token, 1);
        logto_log(&m->ctx->log, LOG_WARNING, "mgmt-token-cache-ignored reason=\"%s\"", e.message);
        return 0;
    }
    /* Never hand a token to another tenant, app or API than it was issued for. */
    if (strcmp(issuer, cfg->issuer) != 0 || strcmp(client, cfg->m2m_client_id) != 0 ||
        strcmp(resource, cfg->management_resource) != 0) {
        logto_json_secrets_clear(&token, 1);
        logto_log_debug(&m->ctx->log, "mgmt-token-cache-ignored reason=\"other client\"");
        return 0;
    }
    if (!token_usable(m, expires_at)) {
        logto_json_secrets_clear(&token, 1);
        return 0;
    }
    drop_token(m);
    m->access_token = TAKE_PTR(token.value);
    m->expires_at = expires_at;
    m->token_cached = true;
    logto_log_debug(&m->ctx->log, "mgmt-token source=disk expires_at=%" PRId64, expires_at);
    return 1;
}

static void store_cached_token(struct logto_mgmt *m)
{
    const struct logto_config *cfg = m->ctx->cfg;
    static const char *const keys[] = { "access_token" };
    const char *values[] = { m->access_token };
    _cleanup_close_ int dirfd = -1;
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_secret_ char *text = NULL;
    struct logto_error e = { 0 };
    char path[4096];
    size_t len = 0;

    if (!cfg->state_dir)
        return;
    cache_path(m, path, sizeof(path));
    if (open_state_dir(m, &dirfd, &e) < 0) {
        logto_log_debug(&m->ctx->log, "mgmt-token-cache skipped=yes reason=\"%s\"", e.message);
        return;
    }
    doc = json_pack("{s:i, s:s, s:s, s:s, s:I}", "version", 1, "issuer", cfg->issuer, "client_id",
                    cfg->m2m_client_id, "resource", cfg->management_resource, "expires_at",
                    (json_int_t)m->expires_at);
    if (!doc || logto_json_dump_secrets(doc, keys, values, 1, &text, &len, &e) < 0) {
        logto_log(&m->ctx->log, LOG_WARNING, "mgmt-token-cache-write-failed reason=\"%s\"",
                  doc ? e.message : "out of memory");
        return;
    }
    if (logto_file_write_at(dirfd, LOGTO_MGMT_TOKEN_FILE, path, text, len, 0600, &e) < 0)
        logto_log(&m->ctx->log, LOG_WARNING, "mgmt-token-cache-write-failed reason=\"%s\"",
                  e.message);
}

int logto_mgmt_forget_token(struct logto_mgmt *m, struct logto_error *err)
{
    _cleanup_close_ int dirfd = -1;
    int r;

    drop_token(m);
    if (!m->ctx->cfg->state_dir)
        return 0;
    r = open_state_dir(m, &dirfd, err);
    if (r < 0)
        return r;
    if (unlinkat(dirfd, LOGTO_MGMT_TOKEN_FILE, 0) < 0 && errno != ENOENT)
        return logto_error_set(err, LOGTO_E_IO, "cannot remove %s/%s: %s", m->ctx->cfg->state_dir,
                               LOGTO_MGMT_TOKEN_FILE, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------------ token request */

static int request_token(struct logto_mgmt *m, struct logto_error *err)
{
    const struct logto_config *cfg = m->ctx->cfg;
    _cleanup_secret_ char *secret = NULL;
    _cleanup_form_ struct logto_form form = { 0 };
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_tokens_ struct logto_tokens tokens = { 0 };
    _cleanup_free_ char *shown = logto_url_for_message(m->token_url);
    struct logto_client client = { .client_id = cfg->m2m_client_id };
    int r;

    if (!shown)
        return LOGTO_OOM(err);
    r = logto_config_read_secret(cfg->m2m_client_secret_file, &secret, err);
    if (r < 0)
        return r;
    client.client_secret = secret;
    if (logto_form_add(&form, "grant_type", "client_credentials") < 0 ||
        logto_form_add(&form, "resource", cfg->management_resource) < 0 ||
        logto_form_add(&form, "scope", "all") < 0)
        return LOGTO_OOM(err);
    for (;;) {
        pace(m);
        m->requests++;
        m->token_requests++;
        r = logto_client_post_form(m->http, m->token_url, &client, &form, &resp, err);
        if (!rate_limited(m, &resp))
            break;
        r = wait_out(m, &resp, "POST /oidc/token", err);
        if (r < 0)
            break;
    }
    logto_free_secret(TAKE_PTR(secret));
    client.client_secret = NULL;
    if (r >= 0)
        r = logto_tokens_from_response(m->ctx, &resp, shown, &tokens, NULL, err);
    if (r < 0) {
        logto_error_prefix(err, "M2M token for the Management API");
        return r;
    }
    if (tokens.expires_in <= 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the M2M token answer has no expires_in: refusing to cache it");
    if (strlen(tokens.access_token) > 16384)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the M2M access token is too long");
    drop_token(m);
    m->access_token = TAKE_PTR(tokens.access_token);
    m->expires_at = tokens.received_at + tokens.expires_in;
    m->token_cached = false;
    logto_log_debug(&m->ctx->log, "mgmt-token source=token-endpoint expires_in=%" PRId64,
                    tokens.expires_in);
    store_cached_token(m);
    return 0;
}

int logto_mgmt_authenticate(struct logto_mgmt *m, struct logto_error *err)
{
    if (m->access_token && token_usable(m, m->expires_at))
        return 0;
    drop_token(m);
    if (load_cached_token(m) > 0)
        return 0;
    return request_token(m, err);
}

/* ------------------------------------------------------------------ requests */

/*
 * One API call with the M2M token. A 401 to a token that came from a cache (memory or disk)
 * drops it and retries once with a new one. resp holds the final answer (any status < 500).
 */
/* A request with the M2M token (renewed once if the cached one is refused). body may carry a
 * secret member secret_key (json.h: never serialised by jansson). */
static int api_send(struct logto_mgmt *m, const char *method, const char *url, const json_t *body,
                    const char *secret_key, const char *secret, struct logto_http_response *resp,
                    struct logto_error *err)
{
    bool renewed = false;

    for (;;) {
        bool cached;
        int r = logto_mgmt_authenticate(m, err);
        if (r < 0)
            return r;
        cached = m->token_cached;
        pace(m);
        m->requests++;
        if (body)
            r = logto_http_send_json_secrets(m->http, method, url, body, &secret_key, &secret,
                                             secret_key ? 1 : 0, m->access_token, resp, err);
        else {
            struct logto_http_request req = { .method = method,
                                              .url = url,
                                              .bearer = m->access_token };
            r = logto_http_send(m->http, &req, resp, err);
        }
        if (rate_limited(m, resp)) {
            /* The same request again: a listing resumes at the page that was refused. */
            char what[256];
            const char *path = url + strlen(m->endpoint);
            snprintf(what, sizeof(what), "%s %.*s", method, (int)strcspn(path, "?"), path);
            r = wait_out(m, resp, what, err);
            if (r < 0)
                return r;
            continue;
        }
        if (r < 0)
            return r;
        if (resp->status == 401 && cached && !renewed) {
            renewed = true;
            logto_log_debug(&m->ctx->log, "mgmt-token-rejected source=cache");
            (void)logto_mgmt_forget_token(m, NULL);
            continue;
        }
        return 0;
    }
}

static int api_call(struct logto_mgmt *m, const char *method, const char *url, const json_t *body,
                    struct logto_http_response *resp, struct logto_error *err)
{
    return api_send(m, method, url, body, NULL, NULL, resp, err);
}

/* A display form of the request path for messages: "GET /api/users/{id}/roles". */
static void what_of(char *buf, size_t n, const char *method, const char *path)
{
    size_t q = strcspn(path, "?");
    snprintf(buf, n, "%s /api%.*s", method, (int)(q > 200 ? 200 : q), path);
}

typedef int (*item_fn)(json_t *item, void *userdata, struct logto_error *err);

/* Walk every page of a paginated listing; fn sees each checked, first-seen item. */
static int list_each(struct logto_mgmt *m, const char *path, enum item_kind kind, item_fn fn,
                     void *userdata, struct logto_error *err)
{
    _cleanup_json_ json_t *seen = json_object();
    uint64_t pages = 0, total = 0; /* from Total-Number; 0: unknown */
    int64_t first_total = -1;      /* Total-Number of page 1, if it had one */
    bool saw_link = false;
    char what[256];
    int r;

    what_of(what, sizeof(what), "GET", path);
    if (!seen)
        return LOGTO_OOM(err);
    for (unsigned page = 1;; page++) {
        _cleanup_http_response_ struct logto_http_response resp = { 0 };
        _cleanup_json_ json_t *items = NULL;
        _cleanup_free_ char *url = NULL, *next = NULL;
        size_t n, fresh = 0, i;
        json_t *item;

        if (page > LOGTO_MGMT_MAX_PAGES)
            return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: more than %d pages", what,
                                   LOGTO_MGMT_MAX_PAGES);
        url = logto_mgmt_build_url(m->endpoint, path, page, LOGTO_MGMT_PAGE_SIZE);
        if (!url)
            return LOGTO_OOM(err);
        r = api_call(m, "GET", url, NULL, &resp, err);
        if (r < 0)
            return r;
        r = logto_mgmt_parse_page(&resp, (enum logto_mgmt_item_kind)kind, page, what, &items,
                                  &total, &pages, &next, err);
        if (r < 0)
            return r;
        if (page == 1 && resp.total_number)
            first_total = (int64_t)total;
        n = json_array_size(items);
        json_array_foreach(items, i, item)
        {
            const char *id = json_string_value(json_object_get(item, "id"));
            if (json_object_get(seen, id))
                continue; /* the list shifted under us: keep the first copy */
            if (json_object_size(seen) >= LOGTO_MGMT_MAX_ITEMS)
                return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: more than %d items", what,
                                       LOGTO_MGMT_MAX_ITEMS);
            if (json_object_set_new(seen, id, json_true()) < 0)
                return LOGTO_OOM(err);
            fresh++;
            r = fn(item, userdata, err);
            if (r < 0)
                return r;
        }
        if (m->progress)
            m->progress(m->progress_data, path, json_object_size(seen),
                        resp.total_number ? (size_t)total : 0);
        if (n == LOGTO_MGMT_PAGE_SIZE && fresh == 0)
            return logto_error_set(err, LOGTO_E_PROTOCOL,
                                   "%s: page %u repeats items already listed (pagination loop)",
                                   what, page);
        if (n < LOGTO_MGMT_PAGE_SIZE)
            break; /* a short page is the last one */
        if (pages > 0) {
            if (page >= pages)
                break; /* Total-Number says this was the last page */
            continue;
        }
        /* No Total-Number: a Link header without rel="next" ends the listing; with neither
         * header ever seen, go on until a short page (bounded by LOGTO_MGMT_MAX_PAGES). */
        if (resp.link)
            saw_link = true;
        if (saw_link && !next)
            break;
    }
    /* Items added or removed while we paged shift the pages: what we saw may miss some. */
    if (first_total >= 0 && pages > 0 && (uint64_t)first_total != total) {
        logto_log(&m->ctx->log, LOG_NOTICE,
                  "mgmt-listing-changed what=\"%s\" total_first=%" PRId64 " total_last=%" PRIu64,
                  what, first_total, total);
        m->walk_changed = true;
    }
    return 0;
}

static int append_item(json_t *item, void *userdata, struct logto_error *err)
{
    return json_array_append(userdata, item) < 0 ? LOGTO_OOM(err) : 0;
}

static int list_all(struct logto_mgmt *m, const char *path, enum item_kind kind, json_t **ret,
                    struct logto_error *err)
{
    _cleanup_json_ json_t *all = json_array();
    int r;

    if (!all)
        return LOGTO_OOM(err);
    r = list_each(m, path, kind, append_item, all, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(all);
    return 0;
}

static int check_id_arg(const char *id, const char *what, struct logto_error *err)
{
    if (!logto_mgmt_id_valid(id))
        return logto_error_set(err, LOGTO_E_INVAL, "%s is not a valid Logto ID", what);
    return 0;
}

int logto_mgmt_list_users(struct logto_mgmt *m, json_t **ret, struct logto_error *err)
{
    return list_all(m, "/users", ITEM_USER, ret, err);
}

int logto_mgmt_list_roles(struct logto_mgmt *m, json_t **ret, struct logto_error *err)
{
    return list_all(m, "/roles?type=User", ITEM_ROLE, ret, err);
}

int logto_mgmt_list_role_users(struct logto_mgmt *m, const char *role_id, json_t **ret,
                               struct logto_error *err)
{
    char path[256];
    int r = check_id_arg(role_id, "role ID", err);

    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "/roles/%s/users", role_id);
    return list_all(m, path, ITEM_USER, ret, err);
}

int logto_mgmt_list_organizations(struct logto_mgmt *m, json_t **ret, struct logto_error *err)
{
    return list_all(m, "/organizations", ITEM_ORG, ret, err);
}

int logto_mgmt_list_organization_roles(struct logto_mgmt *m, json_t **ret, struct logto_error *err)
{
    return list_all(m, "/organization-roles", ITEM_ROLE, ret, err);
}

int logto_mgmt_list_organization_users(struct logto_mgmt *m, const char *org_id, json_t **ret,
                                       struct logto_error *err)
{
    char path[256];
    int r = check_id_arg(org_id, "organization ID", err);

    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "/organizations/%s/users", org_id);
    return list_all(m, path, ITEM_ORG_USER, ret, err);
}

int logto_mgmt_user_roles(struct logto_mgmt *m, const char *user_id, json_t **ret,
                          struct logto_error *err)
{
    char path[256];
    int r = check_id_arg(user_id, "user ID", err);

    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "/users/%s/roles", user_id);
    return list_all(m, path, ITEM_ROLE, ret, err);
}

/* One non-paginated GET whose answer is an object (array_kind < 0) or an array of items. */
static int get_json(struct logto_mgmt *m, const char *path, int array_kind, json_t **ret,
                    struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_free_ char *url = logto_mgmt_build_url(m->endpoint, path, 0, 0);
    _cleanup_json_ json_t *doc = NULL;
    char what[256];
    size_t i;
    json_t *item;
    int r;

    what_of(what, sizeof(what), "GET", path);
    if (!url)
        return LOGTO_OOM(err);
    r = api_call(m, "GET", url, NULL, &resp, err);
    if (r < 0)
        return r;
    if (resp.status != 200)
        return answer_error(&resp, what, err);
    if (array_kind < 0) {
        r = logto_http_response_json(&resp, what, &doc, err);
        if (r < 0)
            return r;
    } else {
        r = parse_array(&resp, what, &doc, err);
        if (r < 0)
            return r;
        if (json_array_size(doc) > LOGTO_MGMT_MAX_ITEMS)
            return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: too many items", what);
        json_array_foreach(doc, i, item)
        {
            r = check_item((enum item_kind)array_kind, item, i, err);
            if (r < 0) {
                logto_error_prefix(err, "%s", what);
                return r;
            }
        }
    }
    *ret = TAKE_PTR(doc);
    return 0;
}

int logto_mgmt_get_application(struct logto_mgmt *m, const char *app_id, json_t **ret,
                               struct logto_error *err)
{
    char path[256];
    int r = check_id_arg(app_id, "application ID", err);

    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "/applications/%s", app_id);
    r = get_json(m, path, -1, ret, err);
    if (r >= 0 && !json_is_object(*ret)) {
        json_decref(*ret);
        *ret = NULL;
        return logto_error_set(err, LOGTO_E_PROTOCOL, "GET /api/applications/{id}: not an object");
    }
    return r;
}

int logto_mgmt_user_organizations(struct logto_mgmt *m, const char *user_id, json_t **ret,
                                  struct logto_error *err)
{
    char path[256];
    int r = check_id_arg(user_id, "user ID", err);

    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "/users/%s/organizations", user_id);
    return get_json(m, path, ITEM_USER_ORG, ret, err);
}

int logto_mgmt_get_user(struct logto_mgmt *m, const char *user_id, json_t **ret,
                        struct logto_error *err)
{
    _cleanup_json_ json_t *user = NULL;
    const char *id = NULL;
    char path[256];
    int r = check_id_arg(user_id, "user ID", err);

    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "/users/%s", user_id);
    r = get_json(m, path, -1, &user, err);
    if (r < 0)
        return r;
    r = check_item(ITEM_USER, user, 0, err);
    if (r >= 0 && logto_json_get_string(user, "id", 0, &id, err) >= 0 && strcmp(id, user_id) != 0)
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "GET /api/users/{id} returned another user");
    if (r < 0)
        return r;
    *ret = TAKE_PTR(user);
    return 0;
}

int logto_mgmt_search_exact(struct logto_mgmt *m, const char *field, const char *value,
                            json_t **ret, struct logto_error *err)
{
    _cleanup_json_ json_t *found = NULL;
    _cleanup_free_ char *esc = NULL, *path = NULL;
    json_t *item;
    size_t i;
    int r;

    if (!value || !value[0] || strlen(value) > 256)
        return logto_error_set(err, LOGTO_E_INVAL, "no %s to look up", field);
    esc = logto_form_escape(value);
    path = esc ? logto_asprintf("/users?search.%s=%s&mode.%s=exact", field, esc, field) : NULL;
    if (!path)
        return LOGTO_OOM(err);
    r = list_all(m, path, ITEM_USER, &found, err);
    if (r < 0)
        return r;
    /* Check what the server matched: exact, ignoring case. Anything else is not what we asked
     * for. */
    json_array_foreach(found, i, item)
    {
        const char *v = json_string_value(json_object_get(item, field));
        if (!v || logto_ascii_strcasecmp(v, value) != 0)
            return logto_error_set(err, LOGTO_E_PROTOCOL,
                                   "the user search by %s returned a user with another %s", field,
                                   field);
    }
    *ret = TAKE_PTR(found);
    return 0;
}

int logto_mgmt_find_user(struct logto_mgmt *m, const char *name, json_t **ret,
                         struct logto_error *err)
{
    _cleanup_json_ json_t *found = NULL;
    json_t *exact = NULL, *item;
    size_t i;
    int r;

    if (!name || !name[0] || strlen(name) > 256)
        return logto_error_set(err, LOGTO_E_INVAL, "no user name to look up");
    r = logto_mgmt_search_exact(m, "username", name, &found, err);
    if (r < 0)
        return r;
    /* Usernames are unique exactly, not ignoring case (Logto's default username policy is
     * case-sensitive): `alice` and `Alice` may both exist. The identical one is the user; else
     * the only one; several that differ only in case name nobody (owners.h). */
    json_array_foreach(found, i, item)
    {
        if (strcmp(json_string_value(json_object_get(item, "username")), name) != 0)
            continue;
        if (exact)
            return logto_error_set(err, LOGTO_E_PROTOCOL,
                                   "the user search returned the user name twice");
        exact = item;
    }
    if (!exact && json_array_size(found) > 1)
        return logto_error_set(err, LOGTO_E_COLLISION,
                               "%zu Logto users have user names that differ from %s only in case, "
                               "and none is identical to it: the name belongs to nobody",
                               json_array_size(found), name);
    if (!exact)
        exact = json_array_get(found, 0);
    if (!exact)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "no user with that user name");
    *ret = json_incref(exact);
    return 0;
}

int logto_mgmt_verify_password(struct logto_mgmt *m, const char *user_id, const char *password,
                               struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_json_ json_t *body = NULL;
    _cleanup_free_ char *url = NULL;
    char path[256], what[256];
    int r = check_id_arg(user_id, "user ID", err);

    if (r < 0)
        return r;
    if (!password || !password[0])
        return logto_error_set(err, LOGTO_E_DENIED, "empty password");
    snprintf(path, sizeof(path), "/users/%s/password/verify", user_id);
    what_of(what, sizeof(what), "POST", "/users/{id}/password/verify");
    url = logto_mgmt_build_url(m->endpoint, path, 0, 0);
    body = json_object(); /* the password is added outside jansson */
    if (!url || !body)
        return LOGTO_OOM(err);
    r = api_send(m, "POST", url, body, "password", password, &resp, err);
    if (r < 0)
        return r;
    switch (resp.status) {
    case 204:
    case 200:
        return 0;
    case 422:
        return logto_error_set(err, LOGTO_E_DENIED, "wrong user name or password");
    case 404:
        return logto_error_set(err, LOGTO_E_NOTFOUND, "no such user");
    default:
        return answer_error(&resp, what, err);
    }
}

int logto_mgmt_patch_custom_data(struct logto_mgmt *m, const char *user_id,
                                 const json_t *custom_data, json_t **ret, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_json_ json_t *body = NULL, *merged = NULL;
    _cleanup_free_ char *url = NULL;
    char path[256], what[256];
    int r = check_id_arg(user_id, "user ID", err);

    if (r < 0)
        return r;
    if (!json_is_object(custom_data))
        return logto_error_set(err, LOGTO_E_INVAL, "custom data must be a JSON object");
    snprintf(path, sizeof(path), "/users/%s/custom-data", user_id);
    what_of(what, sizeof(what), "PATCH", "/users/{id}/custom-data");
    url = logto_mgmt_build_url(m->endpoint, path, 0, 0);
    body = json_pack("{s:o}", "customData", json_deep_copy(custom_data));
    if (!url || !body)
        return LOGTO_OOM(err);
    r = api_call(m, "PATCH", url, body, &resp, err);
    if (r < 0)
        return r;
    if (resp.status != 200 && resp.status != 204)
        return answer_error(&resp, what, err);
    if (!ret)
        return 0;
    if (resp.status == 204 || !resp.body || resp.body_len == 0) {
        *ret = NULL;
        return 0;
    }
    r = logto_http_response_json(&resp, what, &merged, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(merged);
    return 0;
}

/* ------------------------------------------------------------------ claims */

static int set_copy(json_t *obj, const char *key, json_t *v)
{
    return json_object_set(obj, key, v ? v : json_null());
}

int logto_mgmt_user_claims(const json_t *user, const json_t *roles, const json_t *orgs,
                           json_t **ret, struct logto_error *err)
{
    _cleanup_json_ json_t *claims = json_object();
    const char *id = NULL;
    json_t *v, *item;
    size_t i;
    int r;

    if (!claims)
        return LOGTO_OOM(err);
    r = check_item(ITEM_USER, user, 0, err);
    if (r < 0)
        return r;
    (void)logto_json_get_string(user, "id", 0, &id, err);
    if (json_object_set_new(claims, "sub", json_string(id)) < 0)
        return LOGTO_OOM(err);
    /* Logto (scope.ts getUserClaimsData): name/picture are null when unset. */
    if (set_copy(claims, "username", json_object_get(user, "username")) < 0 ||
        set_copy(claims, "name", json_object_get(user, "name")) < 0 ||
        set_copy(claims, "picture", json_object_get(user, "avatar")) < 0)
        return LOGTO_OOM(err);
    v = json_object_get(user, "primaryEmail");
    if (json_is_string(v) && (json_object_set(claims, "email", v) < 0 ||
                              json_object_set_new(claims, "email_verified", json_true()) < 0))
        return LOGTO_OOM(err);
    v = json_object_get(user, "primaryPhone");
    if (json_is_string(v) &&
        (json_object_set(claims, "phone_number", v) < 0 ||
         json_object_set_new(claims, "phone_number_verified", json_true()) < 0))
        return LOGTO_OOM(err);
    v = json_object_get(user, "customData");
    if (json_is_object(v) && json_object_set(claims, "custom_data", v) < 0)
        return LOGTO_OOM(err);
    v = json_object_get(user, "createdAt");
    if (json_is_integer(v) && json_object_set(claims, "created_at", v) < 0)
        return LOGTO_OOM(err);
    v = json_object_get(user, "updatedAt");
    if (json_is_integer(v) && json_object_set(claims, "updated_at", v) < 0)
        return LOGTO_OOM(err);

    if (roles) {
        _cleanup_json_ json_t *names = json_array();
        if (!json_is_array(roles))
            return logto_error_set(err, LOGTO_E_INVAL, "roles is not an array");
        if (!names)
            return LOGTO_OOM(err);
        json_array_foreach(roles, i, item)
        {
            r = check_item(ITEM_ROLE, item, i, err);
            if (r < 0)
                return r;
            if (json_array_append(names, json_object_get(item, "name")) < 0)
                return LOGTO_OOM(err);
        }
        if (json_object_set(claims, "roles", names) < 0)
            return LOGTO_OOM(err);
    }
    if (orgs) {
        _cleanup_json_ json_t *ids = json_array(), *org_roles = json_array(), *data = json_array();
        if (!json_is_array(orgs))
            return logto_error_set(err, LOGTO_E_INVAL, "organizations is not an array");
        if (!ids || !org_roles || !data)
            return LOGTO_OOM(err);
        json_array_foreach(orgs, i, item)
        {
            const char *org_id;
            json_t *role;
            size_t j;
            r = check_item(ITEM_USER_ORG, item, i, err);
            if (r < 0)
                return r;
            org_id = json_string_value(json_object_get(item, "id"));
            if (json_array_append(ids, json_object_get(item, "id")) < 0 ||
                json_array_append_new(data, json_pack("{s:s, s:O?, s:O?}", "id", org_id, "name",
                                                      json_object_get(item, "name"), "description",
                                                      json_object_get(item, "description"))) < 0)
                return LOGTO_OOM(err);
            json_array_foreach(json_object_get(item, "organizationRoles"), j, role)
            {
                _cleanup_free_ char *pair = logto_asprintf(
                    "%s:%s", org_id, json_string_value(json_object_get(role, "name")));
                if (!pair || json_array_append_new(org_roles, json_string(pair)) < 0)
                    return LOGTO_OOM(err);
            }
        }
        if (json_object_set(claims, "organizations", ids) < 0 ||
            json_object_set(claims, "organization_roles", org_roles) < 0 ||
            json_object_set(claims, "organization_data", data) < 0)
            return LOGTO_OOM(err);
    }
    *ret = TAKE_PTR(claims);
    return 0;
}

/* ------------------------------------------------------------------ directory */

void logto_mgmt_directory_free(struct logto_mgmt_directory *dir)
{
    if (!dir)
        return;
    for (size_t i = 0; i < dir->n_users; i++) {
        struct logto_mgmt_dir_user *u = &dir->users[i];
        json_decref(u->user);
        logto_strv_free(u->roles);
        for (size_t k = 0; k < u->n_orgs; k++) {
            free(u->orgs[k].id);
            free(u->orgs[k].name);
            logto_strv_free(u->orgs[k].roles);
        }
        free(u->orgs);
    }
    free(dir->users);
    json_decref(dir->roles);
    json_decref(dir->organizations);
    free(dir);
}

struct fetch_state {
    struct logto_mgmt_directory *dir;
    json_t *index; /* user ID -> position in dir->users */
    const char *role_name;
    const char *org_id, *org_name;
    unsigned skipped;
};

static struct logto_mgmt_dir_user *find_dir_user(struct fetch_state *st, const json_t *item)
{
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *pos = id ? json_object_get(st->index, id) : NULL;

    if (!pos) {
        st->skipped++;
        return NULL;
    }
    return &st->dir->users[json_integer_value(pos)];
}

static int add_user(json_t *item, void *userdata, struct logto_error *err)
{
    struct fetch_state *st = userdata;
    struct logto_mgmt_directory *dir = st->dir;
    struct logto_mgmt_dir_user *u;

    /* dir->users was sized from the listing before this runs. */
    u = &dir->users[dir->n_users];
    *u = (struct logto_mgmt_dir_user){ 0 };
    u->roles = calloc(1, sizeof(char *));
    if (!u->roles)
        return LOGTO_OOM(err);
    u->user = json_incref(item);
    u->id = json_string_value(json_object_get(item, "id"));
    if (json_object_set_new(st->index, u->id, json_integer((json_int_t)dir->n_users)) < 0) {
        json_decref(u->user);
        free(u->roles);
        return LOGTO_OOM(err);
    }
    dir->n_users++;
    return 0;
}

static int add_role_member(json_t *item, void *userdata, struct logto_error *err)
{
    struct fetch_state *st = userdata;
    struct logto_mgmt_dir_user *u = find_dir_user(st, item);

    if (!u || logto_strv_contains(u->roles, st->role_name))
        return 0;
    return logto_strv_push(&u->roles, st->role_name) < 0 ? LOGTO_OOM(err) : 0;
}

static int add_org_member(json_t *item, void *userdata, struct logto_error *err)
{
    struct fetch_state *st = userdata;
    struct logto_mgmt_dir_user *u = find_dir_user(st, item);
    struct logto_mgmt_membership *ms, *mb;
    json_t *role;
    size_t j;

    if (!u)
        return 0;
    ms = realloc(u->orgs, (u->n_orgs + 1) * sizeof(*ms));
    if (!ms)
        return LOGTO_OOM(err);
    u->orgs = ms;
    mb = &u->orgs[u->n_orgs];
    *mb = (struct logto_mgmt_membership){ 0 };
    mb->id = strdup(st->org_id);
    mb->name = st->org_name ? strdup(st->org_name) : NULL;
    mb->roles = calloc(1, sizeof(char *));
    if (!mb->id || (st->org_name && !mb->name) || !mb->roles)
        goto oom;
    json_array_foreach(json_object_get(item, "organizationRoles"), j, role)
    {
        const char *name = json_string_value(json_object_get(role, "name"));
        if (!logto_strv_contains(mb->roles, name) && logto_strv_push(&mb->roles, name) < 0)
            goto oom;
    }
    logto_strv_sort(mb->roles);
    u->n_orgs++;
    return 0;
oom:
    free(mb->id);
    free(mb->name);
    logto_strv_free(mb->roles);
    return LOGTO_OOM(err);
}

static int walk_directory(struct logto_mgmt *m, struct logto_mgmt_directory **ret,
                          struct logto_error *err)
{
    _cleanup_(logto_mgmt_directory_freep) struct logto_mgmt_directory *dir = NULL;
    _cleanup_json_ json_t *users = NULL, *index = json_object();
    struct fetch_state st = { 0 };
    json_t *item;
    size_t i;
    int r;

    dir = calloc(1, sizeof(*dir));
    if (!dir || !index)
        return LOGTO_OOM(err);
    st.dir = dir;
    st.index = index;

    r = logto_mgmt_list_users(m, &users, err);
    if (r < 0)
        return r;
    dir->users = calloc(json_array_size(users) + 1, sizeof(*dir->users));
    if (!dir->users)
        return LOGTO_OOM(err);
    json_array_foreach(users, i, item)
    {
        r = add_user(item, &st, err);
        if (r < 0)
            return r;
    }

    r = logto_mgmt_list_roles(m, &dir->roles, err);
    if (r < 0)
        return r;
    json_array_foreach(dir->roles, i, item)
    {
        char path[256];
        st.role_name = json_string_value(json_object_get(item, "name"));
        snprintf(path, sizeof(path), "/roles/%s/users",
                 json_string_value(json_object_get(item, "id")));
        r = list_each(m, path, ITEM_USER, add_role_member, &st, err);
        if (r < 0)
            return r;
    }

    r = logto_mgmt_list_organizations(m, &dir->organizations, err);
    if (r < 0)
        return r;
    json_array_foreach(dir->organizations, i, item)
    {
        char path[256];
        st.org_id = json_string_value(json_object_get(item, "id"));
        st.org_name = json_string_value(json_object_get(item, "name"));
        snprintf(path, sizeof(path), "/organizations/%s/users", st.org_id);
        r = list_each(m, path, ITEM_ORG_USER, add_org_member, &st, err);
        if (r < 0)
            return r;
    }

    for (i = 0; i < dir->n_users; i++)
        logto_strv_sort(dir->users[i].roles);
    if (st.skipped)
        logto_log_debug(&m->ctx->log, "mgmt-directory skipped_members=%u", st.skipped);
    *ret = TAKE_PTR(dir);
    return 0;
}

int logto_mgmt_fetch_directory(struct logto_mgmt *m, struct logto_mgmt_directory **ret,
                               struct logto_error *err)
{
    _cleanup_(logto_mgmt_directory_freep) struct logto_mgmt_directory *dir = NULL;
    unsigned before = m->requests;

    for (unsigned walk = 1;; walk++) {
        int r;

        m->walk_changed = false;
        r = walk_directory(m, &dir, err);
        if (r < 0)
            return r;
        if (!m->walk_changed)
            break;
        if (walk >= LOGTO_MGMT_MAX_WALKS)
            return logto_error_set(err, LOGTO_E_BUSY,
                                   "the directory changed while it was read, in each of %d walks "
                                   "(a listing's Total-Number moved): try again later",
                                   LOGTO_MGMT_MAX_WALKS);
        logto_log(&m->ctx->log, LOG_WARNING, "mgmt-directory-rewalk walk=%u", walk + 1);
        logto_mgmt_directory_free(TAKE_PTR(dir));
    }
    dir->requests = m->requests - before;
    logto_log(&m->ctx->log, LOG_INFO,
              "mgmt-directory users=%zu roles=%zu organizations=%zu requests=%u", dir->n_users,
              json_array_size(dir->roles), json_array_size(dir->organizations), dir->requests);
    *ret = TAKE_PTR(dir);
    return 0;
}
