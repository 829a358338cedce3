/* SPDX-License-Identifier: MIT */
/*
 * fuzz_relay_claims: a relay host's <state_dir>/relay.claims (relayclaims.h) through
 * logto_relay_claims_find: the stamp line, the binary search over the user lines, the entry's
 * JSON. The input is written as the file (root-only, 0600) in a private state directory and
 * three names are looked up: alice, zed and the first user line's name. The clock is FUZZ_NOW.
 *
 * Oracles: a refusal carries a message; an accepted lookup names the user asked for, comes from
 * a line of the file that starts with that name and a tab, has a stamp valid at FUZZ_NOW, a
 * non-empty subject, a UID that is neither 0 nor (uid_t)-1, and an identifier that is a
 * non-empty username or e-mail.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "identity.h"
#include "names.h"
#include "relayclaims.h"
#include "util.h"

#include "fuzz.h"

static struct logto_ctx ctx;
static char claims_path[PATH_MAX + 32];

static void setup(void)
{
    char conf[PATH_MAX + 128], state[PATH_MAX];

    snprintf(state, sizeof(state), "%s/state", fuzz_tmpdir());
    if (mkdir(state, 0755) < 0)
        fuzz_die("mkdir state");
    snprintf(conf, sizeof(conf),
             "[logto]\nendpoint = https://auth.example.com\nclient_id = device-app\n"
             "[paths]\nstate_dir = %s\n",
             state);
    fuzz_ctx_init(&ctx, fuzz_config(conf));
    snprintf(claims_path, sizeof(claims_path), "%s/%s", state, LOGTO_RELAY_CLAIMS);
}

/* Does data hold a line "name\t..." (after the first line)? */
static bool has_line(const uint8_t *data, size_t size, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + n + 1 < size; i++)
        if (data[i] == '\n' && memcmp(data + i + 1, name, n) == 0 && data[i + 1 + n] == '\t')
            return true;
    return false;
}

static void look_up(const uint8_t *data, size_t size, const char *name)
{
    struct logto_identity *id = NULL;
    struct logto_relay_stamp stamp;
    struct logto_relay_login login = { 0 };
    struct logto_error err = { 0 };

    if (logto_relay_claims_find(&ctx, name, &id, &stamp, &login, &err) < 0) {
        if (!err.message[0] || id || login.value)
            abort();
        return;
    }
    if (!id || strcmp(id->name, name) != 0 || !has_line(data, size, name) || !id->sub ||
        !id->sub[0] || id->uid == 0 || id->uid == UINT32_MAX ||
        stamp.generated_at > FUZZ_NOW + LOGTO_RELAY_CLAIMS_SKEW || stamp.not_after < FUZZ_NOW)
        abort();
    if (login.value && (!login.value[0] ||
                        (strcmp(login.type, "username") != 0 && strcmp(login.type, "email") != 0)))
        abort();
    free(login.value);
    logto_identity_free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl, *tab;
    char first[64] = "";

    if (!claims_path[0])
        setup();
    if (size > 1 << 20)
        return 0;
    fuzz_write_file(claims_path, data, size, 0600);
    /* The first user line's name, so that mutations of the entries are reached. */
    nl = memchr(data, '\n', size);
    tab = nl ? memchr(nl + 1, '\t', size - (size_t)(nl + 1 - data)) : NULL;
    if (tab && (size_t)(tab - nl - 1) < sizeof(first)) {
        memcpy(first, nl + 1, (size_t)(tab - nl - 1));
        first[tab - nl - 1] = '\0';
    }
    look_up(data, size, "alice");
    look_up(data, size, "zed");
    if (first[0] && logto_name_valid(first))
        look_up(data, size, first);
    return 0;
}
