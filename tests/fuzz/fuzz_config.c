/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config: logto.conf text through logto_config_parse_buffer (the parser and checks of
 * logto_config_load), then, for an accepted configuration, the per-service rules with PAM
 * arguments and the dump. Input: the file text, optionally followed by a NUL byte and PAM module
 * arguments separated by NUL bytes (a NUL can never be part of a valid file).
 *
 * Oracles: a resolved service has no unset field; the dump of an accepted configuration is
 * itself accepted and dumps to the same text (logtoctl config show prints what can be used).
 * Built as fuzz_config_oom too, with allocation failures: then only crashes and leaks count.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#include "fuzz.h"

#define MAX_ARGS 16

static const char *const services[] = { "sshd", "sudo", "login", "*" };

static uint32_t seed_of(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

/* The dump as a string (outside the allocation-failure window: open_memstream is libc's). */
static char *dump(const struct logto_config *cfg, size_t *ret_len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, ret_len);

    if (!f)
        fuzz_die("open_memstream");
    logto_config_dump(cfg, f);
    if (fclose(f) != 0 || !text)
        fuzz_die("dump");
    return text;
}

static void check_service(const struct logto_service *svc)
{
    if (svc->flow < LOGTO_FLOW_DEVICE || svc->flow > LOGTO_FLOW_BOTH ||
        svc->password_method < LOGTO_PW_EXPERIENCE || svc->password_method > LOGTO_PW_GRANT ||
        svc->qr == LOGTO_UNSET || svc->enter_prompt == LOGTO_UNSET ||
        svc->claims_max_age == LOGTO_UNSET || svc->offline_grace == LOGTO_UNSET ||
        svc->revoke_on_close == LOGTO_UNSET)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size), *rest, *arg;
    size_t text_len = nul ? (size_t)(nul - data) : size, left, arg_len;
    const char *argv[MAX_ARGS];
    char *args[MAX_ARGS] = { NULL };
    struct logto_config *cfg = NULL, *again = NULL;
    struct logto_error err = { 0 };
    char *text1 = NULL, *text2 = NULL;
    size_t len1 = 0, len2 = 0;
    bool injecting;
    int argc = 0, r;

    if (size > 256 * 1024)
        return 0; /* CONF_LINE_MAX lines make long inputs slow and add nothing */
    rest = nul ? nul + 1 : NULL;
    left = nul ? size - text_len - 1 : 0;
    while (argc < MAX_ARGS && fuzz_next_field(&rest, &left, '\0', &arg, &arg_len)) {
        args[argc] = fuzz_strndup(arg, arg_len);
        argv[argc] = args[argc];
        argc++;
    }

    fuzz_failmalloc_start(seed_of(data, size));
    injecting = fuzz_failmalloc_active();
    r = logto_config_parse_buffer((const char *)data, text_len, "/etc/logto/logto.conf", &cfg,
                                  &err);
    if (r < 0 && !err.message[0])
        abort(); /* every refusal says why */
    for (size_t i = 0; r == 0 && i < sizeof(services) / sizeof(services[0]); i++) {
        struct logto_service *svc = NULL;
        if (logto_config_service(cfg, services[i], argc, argv, &svc, &err) == 0) {
            if (!injecting)
                check_service(svc);
            logto_service_free(svc);
        }
    }
    fuzz_failmalloc_stop();

    if (r == 0 && !injecting) {
        /* The dump must load again, to the same configuration. */
        text1 = dump(cfg, &len1);
        if (logto_config_parse_buffer(text1, len1, "/etc/logto/dump.conf", &again, &err) < 0)
            abort();
        text2 = dump(again, &len2);
        if (len1 != len2 || memcmp(text1, text2, len1) != 0)
            abort();
    }
    free(text1);
    free(text2);
    logto_config_free(again);
    logto_config_free(cfg);
    for (int i = 0; i < argc; i++)
        free(args[i]);
    return 0;
}
