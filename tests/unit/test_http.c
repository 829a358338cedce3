/* SPDX-License-Identifier: MIT */
/* Unit tests for common/http.c and common/json.c: escaping, URLs, JSON limits, and real HTTPS
 * requests against a throw-away `openssl s_server -WWW` (trust anchors, size cap, failures). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "../lib/check.h"
#include "http.h"
#include "json.h"
#include "util.h"

/* ------------------------------------------------------------------ pure helpers */

static void test_form_escape(void)
{
    _cleanup_free_ char *a = logto_form_escape("abc XYZ-._*~");
    _cleanup_free_ char *b = logto_form_escape("a+b&c=d/e:f%\xc3\xa9");
    _cleanup_free_ char *c = logto_form_escape("");

    CHECK_STR(a, "abc+XYZ-._*%7E");
    CHECK_STR(b, "a%2Bb%26c%3Dd%2Fe%3Af%25%C3%A9");
    CHECK_STR(c, "");
}

static void test_form_build(void)
{
    _cleanup_form_ struct logto_form form = { 0 };

    CHECK_INT(logto_form_add(&form, "grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
              0);
    CHECK_INT(logto_form_add(&form, "scope", "openid offline_access"), 0);
    CHECK_INT(logto_form_add(&form, "empty", NULL), 0);
    CHECK_STR(form.buf, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
                        "&scope=openid+offline_access&empty=");
    CHECK_INT(form.len, strlen(form.buf));
    CHECK(!form.failed);
    /* Many fields: growth keeps the content. */
    for (int i = 0; i < 200; i++)
        CHECK_INT(logto_form_add(&form, "k", "0123456789"), 0);
    CHECK_INT(form.len, strlen(form.buf));
    CHECK(strstr(form.buf, "&k=0123456789&k=0123456789") != NULL);
}

static void test_basic_credentials(void)
{
    _cleanup_free_ char *plain = logto_http_basic_credentials("m2m-app", "m2m-secret");
    _cleanup_free_ char *odd = logto_http_basic_credentials("a b:c", "p&=%\xc3\xa9+");

    /* base64("m2m-app:m2m-secret") */
    CHECK_STR(plain, "bTJtLWFwcDptMm0tc2VjcmV0");
    /* base64("a+b%3Ac:p%26%3D%25%C3%A9%2B"): both halves form-urlencoded first, so a ':' in
     * the client ID cannot move the split (RFC 6749 2.3.1) */
    CHECK_STR(odd, "YStiJTNBYzpwJTI2JTNEJTI1JUMzJUE5JTJC");
}

static void test_url_check(void)
{
    struct logto_error err = { 0 };

    CHECK_INT(logto_url_check_https("https://auth.example.com/oidc/token", "u", &err), 0);
    CHECK_INT(logto_url_check_https("https://127.0.0.1:8443/x?y=1", "u", &err), 0);
    CHECK_INT(logto_url_check_https("http://auth.example.com/", "the token endpoint", &err),
              -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "the token endpoint is not an https URL");
    CHECK_INT(logto_url_check_https("ftp://x/", "u", &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_check_https("/relative", "u", &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_check_https("https://user:pw@host/", "u", &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "credentials");
    CHECK_INT(logto_url_check_https("https://host/a#frag", "u", &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_check_https("https://host/a b", "u", &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_check_https("https://host/a\nb", "u", &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_check_https(NULL, "u", &err), -LOGTO_E_PROTOCOL);
}

static void test_same_origin(void)
{
    CHECK(logto_url_same_origin("https://a.example/x", "https://A.EXAMPLE:443/y?z"));
    CHECK(!logto_url_same_origin("https://a.example/x", "https://a.example:8443/x"));
    CHECK(!logto_url_same_origin("https://a.example/x", "http://a.example/x"));
    CHECK(!logto_url_same_origin("https://a.example/x", "https://b.example/x"));
    CHECK(!logto_url_same_origin("https://a.example/x", "garbage"));
}

static void test_url_for_message(void)
{
    _cleanup_free_ char *a = logto_url_for_message("https://u:p@host:8443/oidc/auth?code=SECRET#f");
    _cleanup_free_ char *b = logto_url_for_message("not a url");

    CHECK_STR(a, "https://host:8443/oidc/auth");
    CHECK_STR(b, "(invalid URL)");
}

static void test_resolve_location(void)
{
    struct logto_error err = { 0 };
    char *url = NULL;

    CHECK_INT(
        logto_url_resolve_same_origin("https://h/oidc/auth?x=1", "/sign-in?app_id=a", &url, &err),
        0);
    CHECK_STR(url, "https://h/sign-in?app_id=a");
    free(url);
    url = NULL;
    CHECK_INT(logto_url_resolve_same_origin("https://h/oidc/device/x", "../consent", &url, &err),
              0);
    CHECK_STR(url, "https://h/oidc/consent");
    free(url);
    url = NULL;
    CHECK_INT(logto_url_resolve_same_origin("https://h/a", "https://h:443/b", &url, &err), 0);
    CHECK_STR(url, "https://h:443/b");
    free(url);
    url = NULL;
    CHECK_INT(logto_url_resolve_same_origin("https://h/a", "https://evil/b", &url, &err),
              -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "another origin");
    CHECK_INT(logto_url_resolve_same_origin("https://h/a", "http://h/b", &url, &err),
              -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_resolve_same_origin("https://h/a", "", &url, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_resolve_same_origin("https://h/a", NULL, &url, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_url_resolve_same_origin(NULL, "/b", &url, &err), -LOGTO_E_INVAL);
    CHECK(url == NULL);
}

/* ------------------------------------------------------------------ JSON */

static int parse(const char *text, json_t **ret, struct logto_error *err)
{
    return logto_json_parse_object(text, strlen(text), 4096, 8, "test document", ret, err);
}

static void test_json_parse_limits(void)
{
    struct logto_error err = { 0 };
    json_t *j = NULL;
    char deep[64];

    CHECK_INT(parse("{\"a\":[1,{\"b\":2}]}", &j, &err), 0);
    CHECK(json_is_object(j));
    json_decref(j);
    j = NULL;

    /* 9 levels against a limit of 8; brackets inside strings do not count. */
    strcpy(deep, "{\"a\":[[[[[[[[1]]]]]]]]}");
    CHECK_INT(parse(deep, &j, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "nested deeper than 8");
    CHECK_INT(parse("{\"a\":\"[[[[[[[[[[[[[[[[\\\"[[[[[[\"}", &j, &err), 0);
    json_decref(j);
    j = NULL;

    CHECK_INT(parse("{\"a\":1,\"a\":2}", &j, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(parse("[1,2]", &j, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "not a JSON object");
    CHECK_INT(parse("{\"a\":\"x\\u0000y\"}", &j, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(parse("{} trailing", &j, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(parse("", &j, &err), -LOGTO_E_PROTOCOL);
    /* The message never quotes the input (it may be a token). */
    CHECK_INT(parse("{\"access_token\": SECRETVALUE}", &j, &err), -LOGTO_E_PROTOCOL);
    CHECK(strstr(err.message, "SECRETVALUE") == NULL);
    CHECK_INT(logto_json_parse_object("{}", 2, 1, 8, "tiny", &j, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "too large");
    CHECK(j == NULL);
}

static void test_json_getters(void)
{
    struct logto_error err = { 0 };
    _cleanup_json_ json_t *j = NULL;
    _cleanup_strv_ char **v = NULL;
    const char *s = "default";
    int64_t n = -1;
    bool b = false;
    json_t *o = NULL;

    CHECK_INT(parse("{\"s\":\"x\",\"e\":\"\",\"n\":42,\"b\":true,\"o\":{},\"a\":[\"p\",\"q\"],"
                    "\"bad\":[\"p\",3],\"nul\":null,\"r\":1.5}",
                    &j, &err),
              0);
    CHECK_INT(logto_json_get_string(j, "s", LOGTO_JSON_REQUIRED, &s, &err), 0);
    CHECK_STR(s, "x");
    CHECK_INT(logto_json_get_string(j, "missing", 0, &s, &err), 0);
    CHECK_STR(s, "x");
    CHECK_INT(logto_json_get_string(j, "missing", LOGTO_JSON_REQUIRED, &s, &err),
              -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "field \"missing\" is missing");
    CHECK_INT(logto_json_get_string(j, "n", 0, &s, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "field \"n\" is not a string");
    CHECK_INT(logto_json_get_string(j, "e", LOGTO_JSON_NONEMPTY, &s, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_json_get_string(j, "nul", 0, &s, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_json_get_string(j, "nul", LOGTO_JSON_NULL_UNSET, &s, &err), 0);
    CHECK_INT(
        logto_json_get_string(j, "nul", LOGTO_JSON_NULL_UNSET | LOGTO_JSON_REQUIRED, &s, &err),
        -LOGTO_E_PROTOCOL);

    CHECK_INT(logto_json_get_int(j, "n", 0, 0, 100, &n, &err), 0);
    CHECK_INT(n, 42);
    CHECK_INT(logto_json_get_int(j, "n", 0, 0, 41, &n, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "out of range");
    CHECK_INT(logto_json_get_int(j, "r", 0, 0, 100, &n, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_json_get_bool(j, "b", LOGTO_JSON_REQUIRED, &b, &err), 0);
    CHECK(b);
    CHECK_INT(logto_json_get_bool(j, "s", 0, &b, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_json_get_object(j, "o", 0, &o, &err), 0);
    CHECK(json_is_object(o));
    CHECK_INT(logto_json_get_object(j, "a", 0, &o, &err), -LOGTO_E_PROTOCOL);
    CHECK_INT(logto_json_get_strv(j, "a", 0, &v, &err), 0);
    CHECK_INT(logto_strv_length(v), 2);
    CHECK_STR(v[1], "q");
    CHECK_INT(logto_json_get_strv(j, "bad", 0, &v, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "field \"bad\"[1] is not a string");
    CHECK_STR(v[0], "p"); /* unchanged on error */
}

static void test_json_wipe_string(void)
{
    struct logto_error err = { 0 };
    _cleanup_json_ json_t *j = NULL;

    CHECK_INT(parse("{\"access_token\":\"SECRET\",\"n\":1}", &j, &err), 0);
    logto_json_wipe_string(j, "access_token");
    logto_json_wipe_string(j, "n");
    logto_json_wipe_string(j, "missing");
    CHECK_INT(json_string_length(json_object_get(j, "access_token")), 6);
    CHECK(memcmp(json_string_value(json_object_get(j, "access_token")), "\0\0\0\0\0\0", 6) == 0);
    CHECK_INT(json_integer_value(json_object_get(j, "n")), 1);
}

/* ------------------------------------------------------------------ a real TLS server */

struct server {
    char dir[64];
    char ca[96];
    int port;
    pid_t pid;
};

static int run(const char *cmd)
{
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

static int free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool port_open(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A CA, a server certificate for 127.0.0.1 signed by it, and `openssl s_server -WWW` serving
 * files from dir. Returns false (the caller skips) when openssl is missing. */
static bool server_start(struct server *s)
{
    char cmd[2048];

    if (run("command -v openssl >/dev/null 2>&1") != 0)
        return false;
    strcpy(s->dir, "/tmp/logto-http-XXXXXX");
    if (!mkdtemp(s->dir))
        return false;
    chmod(s->dir, 0755);
    snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", s->dir);
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca "
             "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign "
             ">/dev/null 2>&1 && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
             "-out srv.csr -subj /CN=127.0.0.1 >/dev/null 2>&1 && "
             "printf 'subjectAltName=IP:127.0.0.1\\n' >ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out srv.pem -days 2 -extfile ext >/dev/null 2>&1 && chmod 0644 ca.pem",
             s->dir);
    CHECK_INT(run(cmd), 0);
    s->port = free_port();
    s->pid = fork();
    if (s->pid == 0) {
        char port[16];
        int null = open("/dev/null", O_RDWR);
        snprintf(port, sizeof(port), "%d", s->port);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (chdir(s->dir) == 0)
            execlp("openssl", "openssl", "s_server", "-quiet", "-WWW", "-accept", port, "-naccept",
                   "1000", "-cert", "srv.pem", "-key", "srv.key", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !port_open(s->port); i++)
        usleep(25 * 1000);
    return port_open(s->port);
}

static void server_stop(struct server *s)
{
    char cmd[128];

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
    run(cmd);
}

static struct server srv;

static void url_of(char *buf, size_t n, const char *path)
{
    snprintf(buf, n, "https://127.0.0.1:%d/%s", srv.port, path);
}

static void test_https_requests(void)
{
    struct logto_config cfg = { .ca_file = srv.ca, .max_response_size = 64 * 1024 };
    struct logto_ctx ctx = { .cfg = &cfg };
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_http_ struct logto_http *http = NULL;
    struct logto_error err = { 0 };
    _cleanup_json_ json_t *j = NULL;
    char path[256], url[256];
    const char *s = NULL;
    char *big;

    snprintf(path, sizeof(path), "%s/doc.json", srv.dir);
    write_file(path, "{\"hello\":\"world\"}", 17);
    snprintf(path, sizeof(path), "%s/big.json", srv.dir);
    big = malloc(200 * 1024);
    memset(big, 'x', 200 * 1024);
    write_file(path, big, 200 * 1024);
    free(big);

    CHECK_INT(logto_http_new(&ctx, 0, &http, &err), 0);
    if (!http)
        return;
    /* Two requests on one session: the first answer is JSON, read through the helpers. */
    url_of(url, sizeof(url), "doc.json");
    CHECK_INT(logto_http_get(http, url, NULL, &resp, &err), 0);
    CHECK_INT(resp.status, 200);
    CHECK_INT(resp.body_len, 17);
    CHECK(resp.content_type != NULL);
    CHECK_INT(logto_http_response_json(&resp, "doc", (struct json_t **)&j, &err), 0);
    CHECK_INT(logto_json_get_string(j, "hello", LOGTO_JSON_REQUIRED, &s, &err), 0);
    CHECK_STR(s, "world");

    /* Over the cap: a protocol error, and nothing of the body is kept. */
    url_of(url, sizeof(url), "big.json");
    CHECK_INT(logto_http_get(http, url, NULL, &resp, &err), -LOGTO_E_PROTOCOL);
    CHECK_CONTAINS(err.message, "exceeds 65536 bytes");
    CHECK(resp.body == NULL);

    /* s_server answers 200 text/plain for a missing file: captured, and not JSON. */
    url_of(url, sizeof(url), "nope.json");
    CHECK_INT(logto_http_get(http, url, NULL, &resp, &err), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.content_type, "text/plain");
    CHECK(!logto_http_response_is_json(&resp));
    CHECK_INT(logto_http_response_json(&resp, "the answer", (struct json_t **)&j, &err),
              -LOGTO_E_PROTOCOL);
}

static bool is_json(const char *content_type)
{
    char buf[64];
    struct logto_http_response r = { .content_type = content_type ? buf : NULL };

    snprintf(buf, sizeof(buf), "%s", content_type ? content_type : "");
    return logto_http_response_is_json(&r);
}

static void test_content_type(void)
{
    CHECK(is_json("application/json; charset=utf-8"));
    CHECK(is_json("Application/JSON"));
    CHECK(is_json("application/problem+json"));
    CHECK(!is_json("application/jwt"));
    CHECK(!is_json("application/jsonx"));
    CHECK(!is_json("text/html"));
    CHECK(!is_json(NULL));
}

static void test_https_untrusted(void)
{
    struct logto_config cfg = { 0 };
    struct logto_ctx ctx = { .cfg = &cfg };
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_http_ struct logto_http *http = NULL;
    struct logto_error err = { 0 };
    char url[256];

    /* Without ca_file the test CA is unknown: the TLS check fails closed. */
    CHECK_INT(logto_http_new(&ctx, 0, &http, &err), 0);
    if (!http)
        return;
    url_of(url, sizeof(url), "doc.json");
    CHECK_INT(logto_http_get(http, url, NULL, &resp, &err), -LOGTO_E_UNREACHABLE);
    CHECK_CONTAINS(err.message, "cannot reach https://127.0.0.1:");
    CHECK_CONTAINS(err.message, "TLS");
}

static void test_https_bad_ca_file(void)
{
    char path[256];
    struct logto_config cfg = { .ca_file = path };
    struct logto_ctx ctx = { .cfg = &cfg };
    struct logto_http *http = NULL;
    struct logto_error err = { 0 };

    snprintf(path, sizeof(path), "%s/missing.pem", srv.dir);
    CHECK_INT(logto_http_new(&ctx, 0, &http, &err), -LOGTO_E_NOTFOUND);
    CHECK_CONTAINS(err.message, "ca_file");
    snprintf(path, sizeof(path), "%s/notpem.pem", srv.dir);
    write_file(path, "hello\n", 6);
    chmod(path, 0644);
    CHECK_INT(logto_http_new(&ctx, 0, &http, &err), -LOGTO_E_CONFIG);
    CHECK_CONTAINS(err.message, "no PEM certificate");
    chmod(path, 0666);
    CHECK_INT(logto_http_new(&ctx, 0, &http, &err), -LOGTO_E_UNSAFE);
    CHECK(http == NULL);
}

static void test_unreachable(void)
{
    struct logto_config cfg = { .connect_timeout_ms = 2000, .timeout_ms = 3000 };
    struct logto_ctx ctx = { .cfg = &cfg };
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_http_ struct logto_http *http = NULL;
    struct logto_error err = { 0 };
    char url[128];

    CHECK_INT(logto_http_new(&ctx, 0, &http, &err), 0);
    if (!http)
        return;
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/oidc/token?code=SECRET", free_port());
    CHECK_INT(logto_http_get(http, url, NULL, &resp, &err), -LOGTO_E_UNREACHABLE);
    CHECK_CONTAINS(err.message, "/oidc/token: connection refused");
    CHECK(strstr(err.message, "SECRET") == NULL);
    CHECK_INT(logto_http_get(http, "http://127.0.0.1/", NULL, &resp, &err), -LOGTO_E_INVAL);
}

static void test_with_server(void)
{
    if (!server_start(&srv)) {
        server_stop(&srv);
        printf("skip test_with_server: openssl s_server is not available\n");
        return;
    }
    test_https_requests();
    test_https_untrusted();
    test_https_bad_ca_file();
    server_stop(&srv);
}

TEST_MAIN(TEST(test_form_escape), TEST(test_form_build), TEST(test_basic_credentials),
          TEST(test_url_check), TEST(test_same_origin), TEST(test_url_for_message),
          TEST(test_resolve_location), TEST(test_content_type), TEST(test_json_parse_limits),
          TEST(test_json_getters), TEST(test_json_wipe_string), TEST(test_unreachable),
          TEST(test_with_server))
