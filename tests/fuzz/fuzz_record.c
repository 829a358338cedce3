/* SPDX-License-Identifier: MIT */
/*
 * fuzz_record: token record files (<state_dir>/tokens/<name>.json) through the store's reader,
 * logto_store_read: the scanner that cuts refresh_token and verifier out of the file text
 * before jansson sees the rest, then the field checks. The input is written as the record of
 * user "alice" (root-only, 0600) in a private state directory.
 *
 * Oracles: an accepted record is valid JSON as it was on disk (jansson agrees), every field
 * the reader returns is what jansson reads in the original text (the secrets included), and
 * the secrets are 2..LOGTO_SECRET_MAX printable characters.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store.h"
#include "util.h"

#include "fuzz.h"

#define NAME "alice"

static struct logto_ctx ctx;
static struct logto_store *store;
static char record_path[PATH_MAX];

static void setup(void)
{
    struct logto_error err = { 0 };
    char conf[PATH_MAX + 128];

    snprintf(conf, sizeof(conf),
             "[logto]\nendpoint = https://auth.example.com\nclient_id = device-app\n"
             "[paths]\nstate_dir = %s/state\n",
             fuzz_tmpdir());
    fuzz_ctx_init(&ctx, fuzz_config(conf));
    if (logto_store_open(&ctx, &store, &err) < 0)
        fuzz_die("store");
    snprintf(record_path, sizeof(record_path), "%s/state/%s/%s.json", fuzz_tmpdir(),
             LOGTO_TOKENS_SUBDIR, NAME);
}

static bool secret_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || n > LOGTO_SECRET_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* The record must say what the file says, read by jansson from the original text. */
static void compare(const uint8_t *data, size_t size, const struct logto_record *rec)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    const char *rt, *ver;

    if (!json_is_object(doc))
        abort(); /* the reader accepted text that is not a JSON object */
    rt = json_string_value(json_object_get(doc, "refresh_token"));
    ver = json_string_value(json_object_get(doc, "verifier"));
    if (!logto_streq(rt, rec->refresh_token) || !logto_streq(ver, rec->verifier))
        abort(); /* a secret differs from the one in the file */
    if ((rec->refresh_token && !secret_ok(rec->refresh_token)) ||
        (rec->verifier && !secret_ok(rec->verifier)))
        abort();
    if (!logto_streq(json_string_value(json_object_get(doc, "name")), rec->name) ||
        !logto_streq(json_string_value(json_object_get(doc, "sub")), rec->sub) ||
        json_integer_value(json_object_get(doc, "uid")) != (json_int_t)rec->uid ||
        json_integer_value(json_object_get(doc, "auth_at")) != rec->auth_at ||
        !logto_streq(json_string_value(json_object_get(doc, "refresh_error")),
                     rec->refresh_error) ||
        json_is_true(json_object_get(doc, "suspended")) != rec->suspended ||
        (rec->claims && !json_equal(rec->claims, json_object_get(doc, "claims"))))
        abort();
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_record *rec = NULL;
    struct logto_error err = { 0 };

    if (!store)
        setup();
    if (size > LOGTO_RECORD_MAX_SIZE)
        return 0;
    fuzz_write_file(record_path, data, size, 0600);
    if (logto_store_read(store, NAME, &rec, &err) < 0) {
        if (!err.message[0])
            abort();
        return 0;
    }
    compare(data, size, rec);
    logto_record_free(rec);
    return 0;
}
