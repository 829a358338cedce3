/* SPDX-License-Identifier: MIT */
/* Per-service authorization rules. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "authz.h"
#include "log.h"
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

int logto_authz_check(const struct logto_service *svc, const struct logto_identity *id,
                      char *reason, size_t reason_len)
{
    if (reason && reason_len)
        reason[0] = '\0';
    if (!svc || !id || !id->name)
        return deny(reason, reason_len, "no service rules or no identity");

    if (contains_nocase(svc->deny_users, id->name))
        return deny(reason, reason_len, "user %s is in deny_users", id->name);
    if (svc->allow_users && !logto_strv_contains(svc->allow_users, id->name))
        return deny(reason, reason_len, "user %s is not in allow_users", id->name);
    if (id->suspended)
        return deny(reason, reason_len, "account %s is suspended", id->name);

    /* Every kind that is set must be satisfied; within a kind, any one value suffices. */
    if (svc->require_roles && !any_of(svc->require_roles, id->roles))
        return deny_requires(reason, reason_len, "role", svc->require_roles);
    if (svc->require_orgs && !any_of(svc->require_orgs, id->orgs))
        return deny_requires(reason, reason_len, "membership of organization", svc->require_orgs);
    if (svc->require_org_roles && !any_of(svc->require_org_roles, id->org_roles))
        return deny_requires(reason, reason_len, "organization role", svc->require_org_roles);
    return 0;
}
