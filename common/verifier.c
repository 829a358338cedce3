/* SPDX-License-Identifier: MIT */
/* yescrypt password verifier through libxcrypt. */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "util.h"
#include "verifier.h"

#define YESCRYPT_PREFIX "$y$"

void (*logto_verifier_scratch_observer)(const void *scratch, size_t len);

/* libxcrypt's working area is ~32 KiB: on the heap, wiped before it goes back. */
static struct crypt_data *scratch_new(void)
{
    return calloc(1, sizeof(struct crypt_data));
}

static void scratch_free(struct crypt_data *data)
{
    if (!data)
        return;
    logto_erase(data, sizeof(*data));
    if (logto_verifier_scratch_observer)
        logto_verifier_scratch_observer(data, sizeof(*data));
    free(data);
}

static void scratch_freep(struct crypt_data **data)
{
    scratch_free(*data);
}

/* "$y$<params>$<salt>$<hash>" in crypt's base-64 alphabet, and nothing else. */
static bool yescrypt_hash_valid(const char *hash)
{
    size_t len, dollars = 0;

    if (!hash || strncmp(hash, YESCRYPT_PREFIX, strlen(YESCRYPT_PREFIX)) != 0)
        return false;
    len = strlen(hash);
    if (len >= CRYPT_OUTPUT_SIZE)
        return false;
    for (const char *p = hash; *p; p++) {
        char c = *p;
        if (c == '$')
            dollars++;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '/'))
            return false;
    }
    /* The hash part must be there: a bare setting ("$y$j9T$salt") is not a verifier. */
    return dollars == 4 && hash[len - 1] != '$' && crypt_checksalt(hash) == CRYPT_SALT_OK;
}

static bool password_usable(const char *password)
{
    return password && password[0] && strlen(password) <= LOGTO_VERIFIER_MAX_PASSWORD;
}

int logto_verifier_create(const char *password, char **ret_hash, struct logto_error *err)
{
    _cleanup_(scratch_freep) struct crypt_data *data = NULL;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    const char *out;
    char *hash;

    if (!password || !password[0])
        return logto_error_set(err, LOGTO_E_INVAL, "an empty password gets no verifier");
    if (strlen(password) > LOGTO_VERIFIER_MAX_PASSWORD)
        return logto_error_set(err, LOGTO_E_INVAL, "password longer than %d bytes",
                               LOGTO_VERIFIER_MAX_PASSWORD);
    /* rbytes NULL: libxcrypt draws the salt from the kernel (getrandom). Cost 0: its default. */
    if (!crypt_gensalt_rn(YESCRYPT_PREFIX, 0, NULL, 0, setting, sizeof(setting)))
        return logto_error_set(err, LOGTO_E_IO, "cannot make a yescrypt salt: %s", strerror(errno));
    data = scratch_new();
    if (!data)
        return LOGTO_OOM(err);
    out = crypt_rn(password, setting, data, (int)sizeof(*data));
    if (!out || !yescrypt_hash_valid(out))
        return logto_error_set(err, LOGTO_E_IO, "yescrypt hashing failed");
    hash = strdup(out);
    if (!hash)
        return LOGTO_OOM(err);
    *ret_hash = hash;
    return 0;
}

int logto_verifier_check(const char *password, const char *hash, struct logto_error *err)
{
    _cleanup_(scratch_freep) struct crypt_data *data = NULL;
    const char *out;
    size_t len;

    if (!yescrypt_hash_valid(hash))
        return logto_error_set(err, LOGTO_E_CORRUPT, "the stored verifier is not a yescrypt hash");
    if (!password_usable(password))
        return logto_error_set(err, LOGTO_E_DENIED, "password does not match");
    data = scratch_new();
    if (!data)
        return LOGTO_OOM(err);
    out = crypt_rn(password, hash, data, (int)sizeof(*data));
    if (!out || out[0] == '*')
        return logto_error_set(err, LOGTO_E_CORRUPT, "the stored verifier cannot be used");
    len = strlen(hash);
    /* Lengths are public (the hash is); the bytes are compared in constant time. */
    if (strlen(out) != len || !logto_memeq_consttime(out, hash, len))
        return logto_error_set(err, LOGTO_E_DENIED, "password does not match");
    return 0;
}
