/* SPDX-License-Identifier: MIT */
/*
 * fuzz_discovery: an OpenID discovery document through the checks logto_oidc_discover applies
 * (logto_oidc_from_discovery), for a Logto configuration (every endpoint on the endpoint's
 * origin) and a generic one, then the grant lookups on what was accepted.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "oidc.h"

#include "fuzz.h"

static struct logto_config *logto_cfg, *generic_cfg;
static char *logto_issuer, *generic_issuer;

static void setup(void)
{
    logto_cfg =
        fuzz_config("[logto]\nendpoint = https://auth.example.com\nclient_id = device-app\n");
    generic_cfg = fuzz_config("[logto]\nprofile = generic\n"
                              "issuer = https://sso.example.com/realms/staff\n"
                              "client_id = linux-hosts\n");
    logto_issuer = logto_oidc_expected_issuer(logto_cfg);
    generic_issuer = logto_oidc_expected_issuer(generic_cfg);
    if (!logto_issuer || !generic_issuer)
        fuzz_die("issuers");
}

static void check(const struct logto_config *cfg, const char *issuer, const json_t *doc)
{
    static const char *const grants[] = {
        "urn:ietf:params:oauth:grant-type:device_code",
        "refresh_token",
        "password",
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    };
    struct logto_oidc *oidc = NULL;
    struct logto_error err = { 0 };

    if (logto_oidc_from_discovery(cfg, issuer, doc, &oidc, &err) < 0) {
        if (!err.message[0])
            abort();
        return;
    }
    /* Accepted: the required endpoints are there and the issuer is ours. */
    if (!oidc->token_endpoint || !oidc->jwks_uri || strcmp(oidc->issuer, issuer) != 0)
        abort();
    for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++)
        (void)logto_oidc_supports_grant(oidc, grants[i]);
    logto_oidc_free(oidc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_error err = { 0 };
    json_t *doc = NULL;

    if (!logto_cfg)
        setup();
    /* The limits a fetched document and the cache get. */
    if (logto_json_parse_object((const char *)data, size, LOGTO_OIDC_CACHE_MAX,
                                LOGTO_JSON_MAX_DEPTH, "the discovery document", &doc, &err) < 0)
        return 0;
    check(logto_cfg, logto_issuer, doc);
    check(generic_cfg, generic_issuer, doc);
    json_decref(doc);
    return 0;
}
