/* SPDX-License-Identifier: MIT */
/* HTTPS sessions over libcurl: trust, limits, request helpers, error mapping. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "fileio.h"
#include "http.h"
#include "json.h"
#include "memory.h"
#include "util.h"

#define CA_FILE_MAX      (1024 * 1024)
#define CA_BUNDLE_MAX    (16 * 1024 * 1024)
#define HEADER_VALUE_MAX 8192

struct logto_http {
    const struct logto_ctx *ctx;
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
    size_t max_response;
    char *last_url; /* the last request's URL: the base for Location */

    /* State of the request in flight. */
    struct logto_http_response *resp;
    size_t body_cap;
    bool too_big;
    bool oom;
};

/* ------------------------------------------------------------------ global initialisation */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    /* Thread-safe since libcurl 7.84 (configure requires it). Never cleaned up: the host
     * process may use libcurl too, and the PAM module is never unloaded (-z nodelete). */
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int http_global_init(struct logto_error *err)
{
    /* libcurl appends TLS session keys to $SSLKEYLOGFILE. In a setuid process (sudo, su) that
     * variable belongs to the calling user: refuse rather than hand them our keys and a root
     * file write. */
    if (getauxval(AT_SECURE) && getenv("SSLKEYLOGFILE"))
        return logto_error_set(err, LOGTO_E_UNSAFE,
                               "SSLKEYLOGFILE is set in a setuid process; refusing to use TLS");
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK)
        return logto_error_set(err, LOGTO_E_IO, "cannot initialise libcurl");
    return 0;
}

/* ------------------------------------------------------------------ URLs */

static bool has_control_or_space(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

static void curl_url_cleanupp(CURLU **u)
{
    if (*u)
        curl_url_cleanup(*u);
}

static void curl_freep(char **p)
{
    if (*p)
        curl_free(*p);
}

/* Parse url into a CURLU; NULL if it is not an absolute URL. */
static CURLU *url_parse(const char *url)
{
    CURLU *u;

    if (!url || has_control_or_space(url))
        return NULL;
    u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        curl_url_cleanup(u);
        return NULL;
    }
    return u;
}

static bool url_has_part(CURLU *u, CURLUPart part)
{
    _cleanup_(curl_freep) char *v = NULL;
    return curl_url_get(u, part, &v, 0) == CURLUE_OK && v && v[0];
}

int logto_url_check_https(const char *url, const char *what, struct logto_error *err)
{
    _cleanup_(curl_url_cleanupp) CURLU *u = url_parse(url);
    _cleanup_(curl_freep) char *scheme = NULL;

    if (!u)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not a valid URL", what);
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        logto_ascii_strcasecmp(scheme, "https") != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not an https URL", what);
    if (!url_has_part(u, CURLUPART_HOST))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s has no host", what);
    if (url_has_part(u, CURLUPART_USER) || url_has_part(u, CURLUPART_PASSWORD))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s carries user credentials", what);
    if (url_has_part(u, CURLUPART_FRAGMENT))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s has a fragment", what);
    return 0;
}

/* "scheme://host:port" with the default port filled in, lower case; NULL if unparsable. */
static char *url_origin(const char *url)
{
    _cleanup_(curl_url_cleanupp) CURLU *u = url_parse(url);
    _cleanup_(curl_freep) char *scheme = NULL, *host = NULL, *port = NULL;
    char *origin;

    if (!u || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        return NULL;
    origin = logto_asprintf("%s://%s:%s", scheme, host, port);
    for (char *p = origin; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return origin;
}

bool logto_url_same_origin(const char *a, const char *b)
{
    _cleanup_free_ char *oa = url_origin(a), *ob = url_origin(b);
    return oa && ob && strcmp(oa, ob) == 0;
}

char *logto_url_for_message(const char *url)
{
    _cleanup_(curl_url_cleanupp) CURLU *u = url_parse(url);
    _cleanup_(curl_freep) char *out = NULL;

    if (!u)
        return strdup("(invalid URL)");
    /* Query strings and user info may carry secrets (codes, tokens): drop them. */
    if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
        return strdup("(invalid URL)");
    return strdup(out);
}

/* ------------------------------------------------------------------ forms and encodings */

static bool form_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*' ||
           c == '-' || c == '.' || c == '_';
}

char *logto_form_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out, *p;

    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    out = p = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (form_unreserved(c)) {
            *p++ = (char)c;
        } else if (c == ' ') {
            *p++ = '+';
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

/* Grow a buffer that may hold secrets: the old copy is wiped, never left behind by realloc. */
static int secret_reserve(char **buf, size_t *cap, size_t len, size_t need)
{
    size_t ncap = *cap ? *cap : 256;
    char *nbuf;

    if (need <= *cap)
        return 0;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return -1;
        ncap *= 2;
    }
    nbuf = malloc(ncap);
    if (!nbuf)
        return -1;
    if (*buf) {
        memcpy(nbuf, *buf, len);
        logto_freezero(*buf, *cap);
    }
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

static int form_append(struct logto_form *form, const char *s)
{
    size_t n = strlen(s);

    if (secret_reserve(&form->buf, &form->cap, form->len, form->len + n + 1) < 0)
        return -1;
    memcpy(form->buf + form->len, s, n + 1);
    form->len += n;
    return 0;
}

int logto_form_add(struct logto_form *form, const char *name, const char *value)
{
    _cleanup_secret_ char *ename = NULL, *evalue = NULL;

    if (form->failed)
        return -LOGTO_E_NOMEM;
    ename = logto_form_escape(name);
    evalue = logto_form_escape(value ? value : "");
    if (!ename || !evalue || (form->len > 0 && form_append(form, "&") < 0) ||
        form_append(form, ename) < 0 || form_append(form, "=") < 0 ||
        form_append(form, evalue) < 0) {
        form->failed = true;
        return -LOGTO_E_NOMEM;
    }
    return 0;
}

void logto_form_clear(struct logto_form *form)
{
    if (form->buf)
        logto_freezero(form->buf, form->cap);
    *form = (struct logto_form){ 0 };
}

char *logto_http_basic_credentials(const char *user, const char *password)
{
    _cleanup_secret_ char *euser = logto_form_escape(user);
    _cleanup_secret_ char *epass = logto_form_escape(password);
    _cleanup_secret_ char *joined = NULL;
    size_t len, b64len;
    char *out;

    if (!euser || !epass)
        return NULL;
    joined = logto_asprintf("%s:%s", euser, epass);
    if (!joined)
        return NULL;
    len = strlen(joined);
    b64len = 4 * ((len + 2) / 3);
    out = malloc(b64len + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)joined, (int)len);
    return out;
}

/* ------------------------------------------------------------------ responses */

static void clear_captured_headers(struct logto_http_response *resp)
{
    free(resp->content_type);
    free(resp->location);
    free(resp->total_number);
    free(resp->link);
    free(resp->etag);
    free(resp->retry_after);
    resp->content_type = resp->location = resp->total_number = resp->link = resp->etag = NULL;
    resp->retry_after = NULL;
}

void logto_http_response_clear(struct logto_http_response *resp)
{
    if (!resp)
        return;
    if (resp->body)
        logto_erase(resp->body, resp->body_len);
    free(resp->body);
    clear_captured_headers(resp);
    *resp = (struct logto_http_response){ 0 };
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct logto_http *http = userdata;
    struct logto_http_response *resp = http->resp;
    size_t n = size * nmemb;

    if (n > http->max_response - resp->body_len) {
        http->too_big = true;
        return 0;
    }
    if (secret_reserve(&resp->body, &http->body_cap, resp->body_len, resp->body_len + n + 1) < 0) {
        http->oom = true;
        return 0;
    }
    memcpy(resp->body + resp->body_len, data, n);
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
    return n;
}

/* The slot for a header we keep, or NULL. */
static char **header_slot(struct logto_http_response *resp, const char *line, size_t len,
                          size_t *ret_name_len)
{
    static const struct {
        const char *name;
        size_t offset;
    } kept[] = {
        { "Content-Type", offsetof(struct logto_http_response, content_type) },
        { "Location", offsetof(struct logto_http_response, location) },
        { "Total-Number", offsetof(struct logto_http_response, total_number) },
        { "Link", offsetof(struct logto_http_response, link) },
        { "ETag", offsetof(struct logto_http_response, etag) },
        { "Retry-After", offsetof(struct logto_http_response, retry_after) },
    };

    for (size_t i = 0; i < ELEMENTSOF(kept); i++) {
        size_t n = strlen(kept[i].name);
        if (len > n && line[n] == ':' && logto_ascii_strncasecmp(line, kept[i].name, n) == 0) {
            *ret_name_len = n;
            return (char **)((char *)resp + kept[i].offset);
        }
    }
    return NULL;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct logto_http *http = userdata;
    size_t n = size * nmemb, name_len, start, end;
    char **slot;

    /* A status line starts a new response (after a 100 Continue, say). */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        clear_captured_headers(http->resp);
        return n;
    }
    slot = header_slot(http->resp, data, n, &name_len);
    if (!slot)
        return n;
    start = name_len + 1;
    end = n;
    while (start < end && (data[start] == ' ' || data[start] == '\t'))
        start++;
    while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' ' ||
                           data[end - 1] == '\t'))
        end--;
    if (end - start > HEADER_VALUE_MAX)
        return n; /* not one we can use: treat as absent */
    free(*slot);
    *slot = strndup(data + start, end - start);
    if (!*slot) {
        http->oom = true;
        return 0;
    }
    return n;
}

bool logto_http_response_is_json(const struct logto_http_response *resp)
{
    const char *ct = resp->content_type;
    size_t n;

    if (!ct)
        return false;
    n = strcspn(ct, "; \t");
    if (n == strlen("application/json") && logto_ascii_strncasecmp(ct, "application/json", n) == 0)
        return true;
    return n > strlen("application/+json") &&
           logto_ascii_strncasecmp(ct, "application/", 12) == 0 &&
           logto_ascii_strncasecmp(ct + n - 5, "+json", 5) == 0;
}

int logto_http_response_json(const struct logto_http_response *resp, const char *what,
                             struct json_t **ret, struct logto_error *err)
{
    return logto_json_parse_object(resp->body, resp->body_len, resp->body_len + 1,
                                   LOGTO_JSON_MAX_DEPTH, what, (json_t **)ret, err);
}

/* ------------------------------------------------------------------ sessions */

/* libcurl's default CA bundle, read as libcurl itself would (it is often a symlink into the
 * distribution's trust store). Missing is fine: libcurl's CA directory may still serve. */
static int read_system_bundle(const char *path, char **ret, size_t *ret_len,
                              struct logto_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t len = 0;

    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CA_BUNDLE_MAX)
        return logto_error_set(err, LOGTO_E_IO, "cannot use the system CA bundle %s", path);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return LOGTO_OOM(err);
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return logto_error_set(err, LOGTO_E_IO, "cannot read the system CA bundle %s", path);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

/* Trust the system bundle and ca_file: CURLOPT_CAINFO would replace the system bundle, so
 * both go into one in-memory blob (portable across TLS backends; libcurl's default CA path
 * stays in effect as well). */
static int add_trust_anchor(struct logto_http *http, const char *ca_file, struct logto_error *err)
{
    _cleanup_free_ char *ca = NULL, *bundle = NULL, *blob_data = NULL;
    size_t ca_len = 0, bundle_len = 0;
    char *bundle_path = NULL;
    struct curl_blob blob;
    int r;

    r = logto_file_read_trusted(ca_file, LOGTO_FILE_PUBLIC, CA_FILE_MAX, &ca, &ca_len, err);
    if (r < 0) {
        logto_error_prefix(err, "ca_file");
        return r;
    }
    if (!strstr(ca, "-----BEGIN CERTIFICATE-----"))
        return logto_error_set(err, LOGTO_E_CONFIG, "ca_file %s holds no PEM certificate", ca_file);
    if (curl_easy_getinfo(http->curl, CURLINFO_CAINFO, &bundle_path) == CURLE_OK && bundle_path) {
        r = read_system_bundle(bundle_path, &bundle, &bundle_len, err);
        if (r < 0)
            return r;
    }
    blob_data = malloc(bundle_len + ca_len + 2);
    if (!blob_data)
        return LOGTO_OOM(err);
    memcpy(blob_data, bundle ? bundle : "", bundle_len);
    blob_data[bundle_len] = '\n';
    memcpy(blob_data + bundle_len + 1, ca, ca_len + 1);
    blob = (struct curl_blob){ blob_data, bundle_len + 1 + ca_len, CURL_BLOB_COPY };
    if (curl_easy_setopt(http->curl, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED,
                               "this libcurl cannot load ca_file %s (no CURLOPT_CAINFO_BLOB)",
                               ca_file);
    return 0;
}

static int64_t cfg_or(int64_t value, int64_t def)
{
    return value > 0 ? value : def;
}

static int set_session_options(struct logto_http *http, unsigned flags, struct logto_error *err)
{
    const struct logto_config *cfg = http->ctx ? http->ctx->cfg : NULL;
    CURL *c = http->curl;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(c, opt, val);                                                    \
    } while (0)
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
    SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
    SET(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    /* No proxy from the environment: in sudo or su it is the calling user's. */
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        (long)cfg_or(cfg ? cfg->connect_timeout_ms : 0, LOGTO_HTTP_DEFAULT_CONNECT_TIMEOUT_MS));
    SET(CURLOPT_TIMEOUT_MS, (long)cfg_or(cfg ? cfg->timeout_ms : 0, LOGTO_HTTP_DEFAULT_TIMEOUT_MS));
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)http->max_response);
    SET(CURLOPT_ERRORBUFFER, http->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, http);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, http);
    SET(CURLOPT_USERAGENT, "nss-pam-logto/" PACKAGE_VERSION);
    if (flags & LOGTO_HTTP_COOKIES)
        SET(CURLOPT_COOKIEFILE, ""); /* in-memory jar, never written to disk */
#undef SET
    if (rc != CURLE_OK)
        return logto_error_set(err, LOGTO_E_UNSUPPORTED, "libcurl refused an option: %s",
                               curl_easy_strerror(rc));
    if (cfg && cfg->ca_file)
        return add_trust_anchor(http, cfg->ca_file, err);
    return 0;
}

int logto_http_new(const struct logto_ctx *ctx, unsigned flags, struct logto_http **ret,
                   struct logto_error *err)
{
    const struct logto_config *cfg = ctx ? ctx->cfg : NULL;
    struct logto_http *http;
    int r;

    r = http_global_init(err);
    if (r < 0)
        return r;
    http = calloc(1, sizeof(*http));
    if (!http)
        return LOGTO_OOM(err);
    http->ctx = ctx;
    http->max_response =
        (size_t)cfg_or(cfg ? cfg->max_response_size : 0, LOGTO_HTTP_DEFAULT_MAX_RESPONSE);
    http->curl = curl_easy_init();
    if (!http->curl) {
        logto_http_free(http);
        return logto_error_set(err, LOGTO_E_NOMEM, "cannot create a libcurl handle");
    }
    r = set_session_options(http, flags, err);
    if (r < 0) {
        logto_http_free(http);
        return r;
    }
    *ret = http;
    return 0;
}

void logto_http_free(struct logto_http *http)
{
    if (!http)
        return;
    if (http->curl)
        curl_easy_cleanup(http->curl);
    free(http->last_url);
    free(http);
}

/* ------------------------------------------------------------------ requests */

/* Free a header list after wiping it: it may hold a bearer token or client secret. */
static void slist_free_wipe(struct curl_slist **list)
{
    for (struct curl_slist *i = *list; i; i = i->next)
        logto_erase_string(i->data);
    curl_slist_free_all(*list);
    *list = NULL;
}

static int slist_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return -1;
    *list = n;
    return 0;
}

static int build_headers(const struct logto_http_request *req, struct curl_slist **list)
{
    _cleanup_secret_ char *line = NULL, *basic = NULL;

    /* No "Expect: 100-continue" round trip for larger bodies. */
    if (slist_add(list, "Accept: application/json") < 0 || slist_add(list, "Expect:") < 0)
        return -1;
    if (req->body && req->content_type) {
        _cleanup_free_ char *ct = logto_asprintf("Content-Type: %s", req->content_type);
        if (!ct || slist_add(list, ct) < 0)
            return -1;
    }
    if (req->if_none_match) {
        _cleanup_free_ char *inm = logto_asprintf("If-None-Match: %s", req->if_none_match);
        if (!inm || slist_add(list, inm) < 0)
            return -1;
    }
    if (req->bearer)
        line = logto_asprintf("Authorization: Bearer %s", req->bearer);
    else if (req->basic_user && req->basic_password) {
        basic = logto_http_basic_credentials(req->basic_user, req->basic_password);
        line = basic ? logto_asprintf("Authorization: Basic %s", basic) : NULL;
    } else
        return 0;
    return line ? slist_add(list, line) : -1;
}

static int set_method(CURL *c, const struct logto_http_request *req)
{
    const char *method = req->method ? req->method : req->body ? "POST" : "GET";
    bool with_body = req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                     strcmp(method, "PATCH") == 0;
    bool custom = strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0;
    CURLcode rc;

    if (with_body) {
        rc = curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                  (curl_off_t)(req->body ? req->body_len : 0));
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    } else {
        rc = curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, custom ? method : NULL);
    return rc == CURLE_OK ? 0 : -1;
}

static const char *curl_reason(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        return "cannot resolve the host name";
    case CURLE_COULDNT_CONNECT:
        return "connection refused";
    case CURLE_OPERATION_TIMEDOUT:
        return "timed out";
    case CURLE_GOT_NOTHING:
        return "the server closed the connection without answering";
    case CURLE_PARTIAL_FILE:
        return "the connection closed before the whole answer arrived";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return "the connection was reset";
    case CURLE_PEER_FAILED_VERIFICATION:
        return "the TLS certificate is not trusted";
    case CURLE_SSL_CONNECT_ERROR:
        return "the TLS handshake failed";
    default:
        return NULL;
    }
}

static int transfer_error(struct logto_http *http, CURLcode rc, const char *shown,
                          struct logto_error *err)
{
    const char *reason = curl_reason(rc);

    if (http->oom)
        return LOGTO_OOM(err);
    if (http->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the answer from %s exceeds %zu bytes", shown,
                               http->max_response);
    if (rc == CURLE_WEIRD_SERVER_REPLY)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s did not answer in HTTP", shown);
    /* libcurl's own text (no bodies in it) says more about TLS and resolver failures. */
    if (http->errbuf[0] &&
        (!reason || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR))
        return logto_error_set(err, LOGTO_E_UNREACHABLE, "cannot reach %s: %s (%s)", shown,
                               reason ? reason : curl_easy_strerror(rc), http->errbuf);
    return logto_error_set(err, LOGTO_E_UNREACHABLE, "cannot reach %s: %s", shown,
                           reason ? reason : curl_easy_strerror(rc));
}

static int perform(struct logto_http *http, const char *shown, struct logto_error *err)
{
    CURLcode rc;

    http->errbuf[0] = '\0';
    http->too_big = http->oom = false;
    http->body_cap = 0;
    rc = curl_easy_perform(http->curl);
    if (rc != CURLE_OK)
        return transfer_error(http, rc, shown, err);
    if (curl_easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &http->resp->status) != CURLE_OK)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s gave no HTTP status", shown);
    if (http->resp->status >= 500)
        return logto_error_set(err, LOGTO_E_UNREACHABLE, "%s answered HTTP %ld", shown,
                               http->resp->status);
    return 0;
}

int logto_http_set_max_response(struct logto_http *http, size_t max, struct logto_error *err)
{
    http->max_response = max;
    if (curl_easy_setopt(http->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max) != CURLE_OK)
        return logto_error_set(err, LOGTO_E_INVAL, "libcurl refused the answer size cap");
    return 0;
}

int logto_http_send(struct logto_http *http, const struct logto_http_request *req,
                    struct logto_http_response *resp, struct logto_error *err)
{
    _cleanup_(slist_free_wipe) struct curl_slist *headers = NULL;
    _cleanup_free_ char *shown = NULL;
    int r;

    logto_http_response_clear(resp);
    r = logto_url_check_https(req->url, "the request URL", err);
    if (r < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "refusing to send a request to a non-https URL");
    shown = logto_url_for_message(req->url);
    free(http->last_url);
    http->last_url = strdup(req->url);
    if (!shown || !http->last_url || build_headers(req, &headers) < 0)
        return LOGTO_OOM(err);
    if (curl_easy_setopt(http->curl, CURLOPT_URL, req->url) != CURLE_OK ||
        curl_easy_setopt(http->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        set_method(http->curl, req) < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "libcurl refused the request to %s", shown);

    http->resp = resp;
    r = perform(http, shown, err);
    http->resp = NULL;
    /* The header list dies with this call: libcurl must not keep a pointer to it. */
    curl_easy_setopt(http->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(http->curl, CURLOPT_POSTFIELDS, NULL);
    if (http->ctx)
        logto_log_debug(&http->ctx->log, "http-request method=%s url=%s status=%ld%s",
                        req->method ? req->method
                        : req->body ? "POST"
                                    : "GET",
                        shown, resp->status, r < 0 ? " failed=yes" : "");
    if (r < 0) {
        /* A 5xx keeps its status and Retry-After (a 503 may be a rate limit); nothing else. */
        long status = resp->status;
        char *retry_after = resp->retry_after;

        resp->retry_after = NULL;
        logto_http_response_clear(resp);
        if (status >= 500) {
            resp->status = status;
            resp->retry_after = retry_after;
        } else
            free(retry_after);
    }
    return r;
}

int logto_http_get(struct logto_http *http, const char *url, const char *bearer,
                   struct logto_http_response *resp, struct logto_error *err)
{
    struct logto_http_request req = { .method = "GET", .url = url, .bearer = bearer };
    return logto_http_send(http, &req, resp, err);
}

int logto_http_post_form(struct logto_http *http, const char *url, const struct logto_form *form,
                         const char *basic_user, const char *basic_password,
                         struct logto_http_response *resp, struct logto_error *err)
{
    struct logto_http_request req = {
        .method = "POST",
        .url = url,
        .body = form->buf ? form->buf : "",
        .body_len = form->len,
        .content_type = "application/x-www-form-urlencoded",
        .basic_user = basic_user,
        .basic_password = basic_password,
    };

    if (form->failed)
        return LOGTO_OOM(err);
    return logto_http_send(http, &req, resp, err);
}

int logto_http_send_json_secrets(struct logto_http *http, const char *method, const char *url,
                                 const struct json_t *body, const char *const *keys,
                                 const char *const *values, size_t n, const char *bearer,
                                 struct logto_http_response *resp, struct logto_error *err)
{
    _cleanup_secret_ char *text = NULL;
    size_t len = 0;
    int r = logto_json_dump_secrets((const json_t *)body, keys, values, n, &text, &len, err);

    if (r < 0)
        return r;
    return logto_http_send(http,
                           &(struct logto_http_request){
                               .method = method,
                               .url = url,
                               .body = text,
                               .body_len = len,
                               .content_type = "application/json",
                               .bearer = bearer,
                           },
                           resp, err);
}

int logto_http_send_json(struct logto_http *http, const char *method, const char *url,
                         const struct json_t *body, const char *bearer,
                         struct logto_http_response *resp, struct logto_error *err)
{
    return logto_http_send_json_secrets(http, method, url, body, NULL, NULL, 0, bearer, resp, err);
}

/* ------------------------------------------------------------------ redirects */

int logto_url_resolve_same_origin(const char *base, const char *location, char **ret_url,
                                  struct logto_error *err)
{
    _cleanup_(curl_url_cleanupp) CURLU *u = url_parse(base);
    _cleanup_(curl_freep) char *abs = NULL;
    int r;

    if (!u)
        return logto_error_set(err, LOGTO_E_INVAL, "no request to resolve a redirect against");
    if (!location || !location[0] || has_control_or_space(location))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the redirect has no usable Location");
    /* Setting a relative URL on a parsed one resolves it against that base. */
    if (curl_url_set(u, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &abs, 0) != CURLUE_OK)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the redirect Location is not a URL");
    r = logto_url_check_https(abs, "the redirect Location", err);
    if (r < 0)
        return r;
    if (!logto_url_same_origin(base, abs))
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "refusing a redirect to another origin than the request's");
    *ret_url = strdup(abs);
    return *ret_url ? 0 : LOGTO_OOM(err);
}

int logto_http_location(struct logto_http *http, const struct logto_http_response *resp,
                        char **ret_url, struct logto_error *err)
{
    return logto_url_resolve_same_origin(http->last_url, resp->location, ret_url, err);
}
