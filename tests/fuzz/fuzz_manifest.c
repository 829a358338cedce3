/* SPDX-License-Identifier: MIT */
/*
 * fuzz_manifest: a relay's manifest.json (relay.h) through logto_relay_manifest_verify with a
 * fixed Ed25519 key (the outer document, the base64 signature, the verification), and the same
 * bytes as a payload through logto_relay_manifest_decode (what a verified manifest says).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "relay.h"

#include "fuzz.h"

static EVP_PKEY *key;

static void setup(void)
{
    static const unsigned char raw[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                           12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                           23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
    /* A private key verifies too: corpus/manifest/manifest-signed is signed with this seed. */
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
    if (!key)
        fuzz_die("key");
}

static void check_accepted(const struct logto_relay_manifest *m)
{
    /* Accepted: the object's name is its hash, nothing else can be fetched. */
    if (strlen(m->sha256) != 64 || strncmp(m->object, LOGTO_RELAY_OBJECT_PREFIX, 10) != 0 ||
        !strstr(m->object, m->sha256) || m->size == 0 || m->size > LOGTO_RELAY_OBJECT_MAX ||
        m->format != LOGTO_RELAY_FORMAT)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_relay_manifest m;
    struct logto_error err = { 0 };

    if (!key)
        setup();
    if (logto_relay_manifest_verify((const char *)data, size, key, &m, &err) >= 0)
        check_accepted(&m);
    else if (!err.message[0])
        abort();
    err = (struct logto_error){ 0 };
    if (logto_relay_manifest_decode((const char *)data, size, &m, &err) >= 0)
        check_accepted(&m);
    else if (!err.message[0])
        abort();
    return 0;
}
