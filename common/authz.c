/* SPDX-License-Identifier: MIT */
/* Per-service authorization rules. */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz.h"
#include "log.h"
#include "memory.h"
#include "util.h"

static int deny(char *reason, size_t len, const char *fmt, ...) _printf_(3, 4);
static int deny(char *reason, size_t len, const char *fmt, ...)
{
    if (reason && len) {
        char raw[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        /* Values come from the configuration; still, nothing may break the log line. */
        logto_log_sanitize(reason, len, raw);
    }
    return -LOGTO_E_DENIED;
}

static bool contains_nocase(char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (logto_ascii_strcasecmp(list[i], s) == 0)
            return true;
    return false;
}

/* Whether any entry of wanted is in have (exact). */
static bool any_of(char *const *wanted, char *const *have)
{
    for (size_t i = 0; wanted[i]; i++)
        if (logto_strv_contains(have, wanted[i]))
            return true;
    return false;
}

/* "requires role admin or developer": the list joined for the message. */
static int deny_requires(char *reason, size_t len, const char *what, char *const *wanted)
{
    _cleanup_free_ char *list = logto_strv_join(wanted, " or ");

    if (!wanted[0])
        return deny(reason, len, "requires %s, but the list is empty", what);
    return deny(reason, len, "requires %s %s", what, list ? list : "(list)");
}

bool logto_authz_names_nobody(const struct logto_service *svc)
{
    return svc && !svc->allow_users && !svc->require_roles && !svc->require_orgs &&
           !svc->require_org_roles;
}

bool logto_authz_admits_anyone(const struct logto_service *svc)
{
    return logto_authz_names_nobody(svc) && svc->allow_any_user == LOGTO_YES;
}

/* The rules of svc for id; suspension only when check_suspended (the host's admission keeps
 * suspended users resolving). */
static int check_rules(const struct logto_service *svc, const struct logto_identity *id,
                       bool check_suspended, char *reason, size_t reason_len)
{
    if (reason && reason_len)
        reason[0] = '\0';
    if (!svc || !id || !id->name)
        return deny(reason, reason_len, "no service rules or no identity");

    if (contains_nocase(svc->deny_users, id->name))
        return deny(reason, reason_len, "user %s is in deny_users", id->name);
    if (svc->allow_users && !logto_strv_contains(svc->allow_users, id->name))
        return deny(reason, reason_len, "user %s is not in allow_users", id->name);
    if (check_suspended && id->suspended)
        return deny(reason, reason_len, "account %s is suspended", id->name);
    /* Deny by default: a service whose rules name nobody admits nobody. */
    if (logto_authz_names_nobody(svc) && svc->allow_any_user != LOGTO_YES)
        return deny(reason, reason_len,
                    "service %s admits nobody (no require_roles, require_orgs, require_org_roles "
                    "or allow_users, and allow_any_user is off)",
                    svc->name ? svc->name : "?");

    /* Every kind that is set must be satisfied; within a kind, any one value suffices. */
    if (svc->require_roles && !any_of(svc->require_roles, id->roles))
        return deny_requires(reason, reason_len, "role", svc->require_roles);
    if (svc->require_orgs && !any_of(svc->require_orgs, id->orgs))
        return deny_requires(reason, reason_len, "membership of organization", svc->require_orgs);
    if (svc->require_org_roles && !any_of(svc->require_org_roles, id->org_roles))
        return deny_requires(reason, reason_len, "organization role", svc->require_org_roles);
    return 0;
}

int logto_authz_check_name(const struct logto_service *svc, const char *name, char *reason,
                           size_t reason_len)
{
    /* No roles, organizations or suspension: only what the name alone decides. */
    struct logto_service names = { .name = svc ? svc->name : NULL };
    struct logto_identity id = { .name = (char *)(uintptr_t)name };

    if (svc) {
        names.deny_users = svc->deny_users;
        names.allow_users = svc->allow_users;
        names.allow_any_user =
            logto_authz_names_nobody(svc) ? svc->allow_any_user : LOGTO_YES; /* roles later */
    }
    return check_rules(svc ? &names : NULL, &id, false, reason, reason_len);
}

int logto_authz_check(const struct logto_service *svc, const struct logto_identity *id,
                      char *reason, size_t reason_len)
{
    return check_rules(svc, id, true, reason, reason_len);
}

bool logto_authz_admits(const struct logto_service *svc, const struct logto_identity *id)
{
    return check_rules(svc, id, false, NULL, 0) == 0;
}

/* ---------------------------------------------------------------- the host's admission */

void logto_authz_host_free(struct logto_authz_host *host)
{
    if (!host)
        return;
    for (size_t i = 0; i < host->n_services; i++)
        logto_service_free(host->services[i]);
    free(host->services);
    free(host);
}

int logto_authz_host_new(const struct logto_config *cfg, struct logto_authz_host **ret,
                         struct logto_error *err)
{
    _cleanup_(logto_authz_host_freep) struct logto_authz_host *host = calloc(1, sizeof(*host));
    size_t n = 1;
    int r;

    if (!cfg)
        return logto_error_set(err, LOGTO_E_INVAL, "no configuration");
    if (!host || !(host->services = calloc(cfg->n_services + 1, sizeof(*host->services))))
        return LOGTO_OOM(err);
    /* "*": the built-in defaults and [service *], for every service without a section. */
    r = logto_config_service(cfg, "*", 0, NULL, &host->services[0], err);
    if (r < 0)
        return r;
    host->n_services = 1;
    for (size_t i = 0; i < cfg->n_services; i++) {
        if (strcmp(cfg->services[i]->name, "*") == 0)
            continue;
        r = logto_config_service(cfg, cfg->services[i]->name, 0, NULL, &host->services[n], err);
        if (r < 0)
            return r;
        host->n_services = ++n;
    }
    *ret = TAKE_PTR(host);
    return 0;
}

bool logto_authz_host_admits(const struct logto_authz_host *host, const struct logto_identity *id,
                             char ***ret_names)
{
    bool admitted = false;

    for (size_t i = 0; host && i < host->n_services; i++) {
        if (!logto_authz_admits(host->services[i], id))
            continue;
        admitted = true;
        if (!ret_names)
            break;
        if (logto_strv_push(ret_names, host->services[i]->name) < 0)
            break;
    }
    return admitted;
}

bool logto_authz_config_admits(const struct logto_config *cfg, const struct logto_identity *id)
{
    _cleanup_(logto_authz_host_freep) struct logto_authz_host *host = NULL;

    return logto_authz_host_new(cfg, &host, NULL) >= 0 && logto_authz_host_admits(host, id, NULL);
}
