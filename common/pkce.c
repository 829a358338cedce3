/* SPDX-License-Identifier: MIT */
/* PKCE verifier/challenge pairs, state and nonce values from getrandom(2). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "memory.h"
#include "pkce.h"

char *logto_base64url_encode(const void *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *in = data;
    size_t out_len;
    char *out, *p;

    if (len > (SIZE_MAX - 4) / 4 * 3)
        return NULL;
    out_len = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    out = malloc(out_len + 1);
    if (!out)
        return NULL;
    p = out;
    for (size_t i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        *p++ = alphabet[v & 63];
    }
    if (len % 3 == 1) {
        uint32_t v = (uint32_t)in[len - 1] << 16;
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
    } else if (len % 3 == 2) {
        uint32_t v = (uint32_t)in[len - 2] << 16 | (uint32_t)in[len - 1] << 8;
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
    }
    *p = '\0';
    return out;
}

static int fill_random(void *buf, size_t n, struct logto_error *err)
{
    uint8_t *p = buf;

    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return logto_error_set(err, LOGTO_E_IO, "getrandom failed: %s", strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int logto_random_token(size_t nbytes, char **ret, struct logto_error *err)
{
    uint8_t buf[64];
    char *s;
    int r;

    if (nbytes == 0 || nbytes > sizeof(buf))
        return logto_error_set(err, LOGTO_E_INVAL, "random token of %zu bytes", nbytes);
    r = fill_random(buf, nbytes, err);
    if (r < 0)
        return r;
    s = logto_base64url_encode(buf, nbytes);
    logto_erase(buf, sizeof(buf));
    if (!s)
        return LOGTO_OOM(err);
    *ret = s;
    return 0;
}

int logto_pkce_challenge(const char *verifier, char **ret, struct logto_error *err)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int md_len = 0;
    size_t len = verifier ? strlen(verifier) : 0;
    char *s;

    /* RFC 7636 4.1: 43..128 characters of [A-Za-z0-9-._~]. */
    if (len < 43 || len > 128 ||
        strspn(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                         "vwxyz0123456789-._~") != len)
        return logto_error_set(err, LOGTO_E_INVAL,
                               "PKCE verifier is not 43..128 unreserved "
                               "characters");
    if (EVP_Digest(verifier, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != sizeof(md))
        return logto_error_set(err, LOGTO_E_IO, "SHA-256 failed");
    s = logto_base64url_encode(md, md_len);
    if (!s)
        return LOGTO_OOM(err);
    *ret = s;
    return 0;
}

int logto_pkce_new(struct logto_pkce *pkce, struct logto_error *err)
{
    int r;

    *pkce = (struct logto_pkce){ 0 };
    r = logto_random_token(LOGTO_PKCE_VERIFIER_BYTES, &pkce->verifier, err);
    if (r >= 0)
        r = logto_pkce_challenge(pkce->verifier, &pkce->challenge, err);
    if (r < 0)
        logto_pkce_clear(pkce);
    return r;
}

void logto_pkce_clear(struct logto_pkce *pkce)
{
    if (!pkce)
        return;
    logto_free_secret(pkce->verifier);
    free(pkce->challenge);
    *pkce = (struct logto_pkce){ 0 };
}
