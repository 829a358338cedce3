/* SPDX-License-Identifier: MIT */
/*
 * fuzz_relay_object: what a relay host inflates from the relay (relay.h): the published
 * directory through logto_relay_object_decode, and the same bytes as a delta applied with
 * logto_relay_delta_apply to a fixed installed directory (BASE; the corpus' deltas carry its
 * SHA-256 in "from", so mutations reach the merge); and, as the publisher does, a delta made by
 * logto_relay_delta_make from BASE to the input.
 *
 * Oracles: a refusal carries a message; a decoded directory has a sub for every user and an
 * identity exactly for the users not refused; a delta that applies gives a canonical directory
 * (sorted by sub, so a delta can be made from it); and a delta made from BASE to a canonical
 * input applies to BASE to give back exactly that input.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "owners.h"
#include "relay.h"
#include "sync.h"

#include "fuzz.h"

/* The installed directory: canonical (compact, sorted keys, users sorted by sub). */
static const char base[] =
    "{\"blocked\":{\"names\":[],\"uids\":[]},\"format\":1,\"users\":["
    "{\"created_at\":1,\"refused\":\"refused\",\"sub\":\"a1\",\"username\":\"alice\"},"
    "{\"created_at\":2,\"refused\":\"refused\",\"sub\":\"c3\",\"username\":\"carol\"},"
    "{\"created_at\":3,\"refused\":\"refused\",\"sub\":\"e5\",\"username\":\"erin\"}]}";

static void check_decode(const char *in, size_t size)
{
    struct logto_sync_user *users = NULL;
    struct logto_blocked *blocked = NULL;
    struct logto_error err = { 0 };
    size_t n = 0;

    if (logto_relay_object_decode(in, size, &users, &n, &blocked, &err) < 0) {
        if (!err.message[0])
            abort();
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!users[i].sub || (!users[i].reason) != (users[i].id != NULL))
            abort();
    logto_relay_users_free(users, n);
    logto_blocked_free(blocked);
}

static void check_apply(const char *in, size_t size)
{
    struct logto_error err = { 0 };
    char *out = NULL, *again = NULL;
    size_t out_len = 0, again_len = 0;

    if (logto_relay_delta_apply(base, strlen(base), in, size, &out, &out_len, &err) < 0) {
        if (!err.message[0])
            abort();
        return;
    }
    /* What applies is canonical: a delta can be made from it. */
    if (logto_relay_delta_make(base, strlen(base), out, out_len, &again, &again_len, &err) < 0 &&
        err.code != LOGTO_E_NOMEM)
        abort();
    free(again);
    free(out);
}

static void check_make(const char *in, size_t size)
{
    struct logto_error err = { 0 };
    char *delta = NULL, *out = NULL, *canonical = NULL;
    size_t delta_len = 0, out_len = 0;
    json_t *doc;

    if (logto_relay_delta_make(base, strlen(base), in, size, &delta, &delta_len, &err) < 0) {
        if (!err.message[0])
            abort();
        return;
    }
    if (logto_relay_delta_apply(base, strlen(base), delta, delta_len, &out, &out_len, &err) < 0)
        abort();
    /* The round trip gives the input's directory (format, users, blocked), in canonical form. */
    doc = json_loadb(in, size, 0, NULL);
    if (doc) {
        json_t *dir =
            json_pack("{s:O?,s:O?,s:O?}", "format", json_object_get(doc, "format"), "users",
                      json_object_get(doc, "users"), "blocked", json_object_get(doc, "blocked"));
        canonical = dir ? logto_json_dump(dir) : NULL;
        json_decref(dir);
    }
    if (canonical && strcmp(canonical, out) != 0)
        abort();
    free(canonical);
    json_decref(doc);
    free(out);
    free(delta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_strndup(data, size);

    check_decode(in, size);
    check_apply(in, size);
    check_make(in, size);
    free(in);
    return 0;
}
