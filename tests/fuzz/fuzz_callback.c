/* SPDX-License-Identifier: MIT */
/*
 * fuzz_callback: the authorization redirect of the Experience API sign-in
 * (logto_password_is_callback, logto_password_parse_callback) and the mapping of Experience API
 * error answers (logto_password_experience_error).
 *
 * Input: lines LOCATION, REDIRECT_URI, STATE, ISSUER, STATUS, CODE, MESSAGE. Missing or empty
 * lines take the defaults below; ISSUER "-" means none is known.
 *
 * Oracles: an accepted callback went to redirect_uri and yields a non-empty code of URL-safe
 * characters; messages (shown to the user, logged) hold no control characters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "password.h"

#include "fuzz.h"

#define FIELDS 7

static const char *const defaults[FIELDS] = {
    "http://127.0.0.1/callback?code=abc&state=st-0123456789abcdef",
    "http://127.0.0.1/callback",
    "st-0123456789abcdef",
    "https://auth.example.com/oidc",
    "400",
    "session.invalid_credentials",
    "Invalid credentials.",
};

static void check_message(const struct logto_error *err)
{
    if (!err->message[0])
        abort();
    for (const char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *field[FIELDS] = { NULL };
    const char *f[FIELDS];
    const uint8_t *s;
    size_t len;
    struct logto_error err = { 0 };
    char *code = NULL;
    long status = 0;
    int r;

    if (size > 64 * 1024)
        return 0;
    for (int i = 0; i < FIELDS; i++) {
        if (fuzz_next_field(&data, &size, '\n', &s, &len) && len > 0)
            field[i] = fuzz_strndup(s, len);
        f[i] = field[i] ? field[i] : defaults[i];
    }
    if (strcmp(f[3], "-") == 0)
        f[3] = NULL;

    (void)logto_password_is_callback(f[0], f[1]);
    r = logto_password_parse_callback(f[0], f[1], f[2], f[3], &code, &err);
    if (r == 0) {
        if (!logto_password_is_callback(f[0], f[1]) || !code || !code[0] ||
            strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") !=
                strlen(code))
            abort();
        logto_free_secret(code);
    } else {
        if (code)
            abort();
        check_message(&err);
    }

    for (const char *p = f[4]; *p >= '0' && *p <= '9' && status < 100000; p++)
        status = status * 10 + (*p - '0');
    memset(&err, 0, sizeof(err));
    r = logto_password_experience_error(status, f[5], f[6], status & 1 ? "email" : "username",
                                        &err);
    if (r >= 0)
        abort();
    check_message(&err);

    for (int i = 0; i < FIELDS; i++)
        free(field[i]);
    return 0;
}
