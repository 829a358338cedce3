/* SPDX-License-Identifier: MIT */
/* Name and ID validation. */
#include "config.h"

#include <string.h>

#include "macro.h"
#include "names.h"

static bool name_char_ok(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || c == '_')
        return true;
    if (first)
        return false;
    return (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* One pass: this runs for every entry the NSS module returns. "." and ".." fail the first
 * character's rule like every other name that does not start with [a-z_]. */
size_t logto_name_length(const char *name)
{
    size_t i;

    if (!name || !name_char_ok(name[0], true))
        return 0;
    for (i = 1; name[i]; i++)
        if (i >= LOGTO_NAME_MAX || !name_char_ok(name[i], false))
            return 0;
    return i;
}

bool logto_name_valid(const char *name)
{
    return logto_name_length(name) > 0;
}

int logto_name_fold(const char *in, char *out, size_t outlen, const char **ret_reason)
{
    const char *reason = NULL;
    size_t len;

    if (!in || !*in)
        reason = "empty";
    else if ((len = strlen(in)) > LOGTO_NAME_MAX)
        reason = "longer than 32 characters";
    else if (len + 1 > outlen)
        reason = "too long";
    else {
        for (size_t i = 0; i <= len; i++) {
            char c = in[i];
            out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        if (!logto_name_valid(out))
            reason = "not a portable name ([a-z_][a-z0-9_.-]*)";
    }
    if (reason) {
        if (outlen)
            out[0] = '\0';
        if (ret_reason)
            *ret_reason = reason;
        return -1;
    }
    return 0;
}

int logto_group_name_sanitize(const char *prefix, const char *in, char *out, size_t outlen,
                              const char **ret_reason)
{
    size_t plen = prefix ? strlen(prefix) : 0, ilen = in ? strlen(in) : 0;
    const char *reason = NULL;

    if (ilen == 0)
        reason = "empty";
    else if (plen + ilen > LOGTO_NAME_MAX || plen + ilen + 1 > outlen)
        reason = "longer than 32 characters";
    else {
        memcpy(out, prefix ? prefix : "", plen);
        for (size_t i = 0; i < ilen; i++) {
            char c = in[i];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (!name_char_ok(c, false))
                c = '_';
            out[plen + i] = c;
        }
        out[plen + ilen] = '\0';
        if (!logto_name_valid(out))
            reason = "not a portable name after sanitising";
    }
    if (reason) {
        if (outlen)
            out[0] = '\0';
        if (ret_reason)
            *ret_reason = reason;
        return -1;
    }
    return 0;
}

/* The blocks of names.h, in order. */
static const struct {
    uint32_t lo, hi;
} reserved_ids[] = {
    { 0, 999 },
    { 60000, 65535 },
    { 524288, 1879048191 },
    { 2147352576u, 2147418111u },
    { 2147483648u, UINT32_MAX },
};

bool logto_id_range_reserved(uint32_t lo, uint32_t hi)
{
    for (size_t i = 0; i < ELEMENTSOF(reserved_ids); i++)
        if (lo <= reserved_ids[i].hi && reserved_ids[i].lo <= hi)
            return true;
    return false;
}

bool logto_id_reserved(uint32_t id)
{
    return logto_id_range_reserved(id, id);
}
