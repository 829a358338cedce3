/* SPDX-License-Identifier: MIT */
/*
 * What may become a user or group name, or an ID, on this machine. Everything that comes from
 * the network passes through here before it can reach a passwd line, a group or a path.
 * No third-party dependencies: the NSS module uses it too.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGTO_NAME_MAX 32

/* A portable POSIX name: 1..32 chars of [a-z0-9_.-], starting with [a-z_], not "." or "..". */
bool logto_name_valid(const char *name);
/* The length of a valid name, 0 when the name is not valid (or NULL). */
size_t logto_name_length(const char *name);

/*
 * Turn an IdP string into a name: ASCII letters folded to lower case, then validated.
 * Returns 0 and writes the name to out (size >= LOGTO_NAME_MAX + 1), or -1 with a short reason.
 */
int logto_name_fold(const char *in, char *out, size_t outlen, const char **ret_reason);

/*
 * Turn an IdP string into a group-name part: lower case, every character outside [a-z0-9_.-]
 * becomes '_'. prefix is prepended as given. Returns 0, or -1 (with reason) when the result is
 * empty, too long or otherwise not a valid name. Two inputs may sanitise alike; callers detect it.
 */
int logto_group_name_sanitize(const char *prefix, const char *in, char *out, size_t outlen,
                              const char **ret_reason);

/*
 * IDs we never hand out: 0..999 (system), 60000..65535 (Debian reserved, systemd dynamic users,
 * nobody), 524288..1879048191 (systemd-nspawn container ranges), 2147352576..2147418111 (systemd
 * foreign range) and >= 2^31 (many tools treat them as negative).
 */
bool logto_id_reserved(uint32_t id);
/* Does any ID in lo..hi (lo <= hi) fall into one of those blocks? */
bool logto_id_range_reserved(uint32_t lo, uint32_t hi);

/*
 * Why name is never served, as a user or as a group: a name that system accounts or groups use
 * or may one day use (names starting with "_", "systemd-" or "debian-", and a built-in list of
 * well-known package accounts and groups: names.c says where it comes from). NULL: not such a
 * name. The files in /usr/share/base-passwd and [identity] reserved_names add to this where the
 * configuration and the files are at hand (localdb.h).
 */
const char *logto_name_system_reason(const char *name);
/* The built-in list (sorted), for tests and documentation. */
size_t logto_name_system_list(const char *const **ret);
