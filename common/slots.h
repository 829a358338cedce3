/* SPDX-License-Identifier: MIT */
/*
 * Caps on concurrent device flows (issue 13.7): at most max_device_flows waiting for approval on
 * the host and max_device_flows_per_user for one name. Anyone who can reach sshd can start a
 * device flow, and each one holds a process and polls the IdP for up to ten minutes.
 *
 * A flow holds two slots, each an flock(2)ed file in <state_dir>/device-flows (root, 0700):
 * "user.NAME.K" (K < max_device_flows_per_user) and "host.K" (K < max_device_flows). The kernel
 * drops a lock when its holder dies, so a killed process never leaves a slot taken; nothing is
 * counted that could go wrong. A holder removes its file while still holding the lock, and a
 * taker checks that the file it locked is still the one in the directory, so files of names
 * that are gone do not pile up.
 */
#pragma once

#include <stdint.h>

#include "context.h"
#include "error.h"

#define LOGTO_DEVICE_SLOTS_DIR "device-flows"

struct logto_slot {
    int fd; /* -1: not held */
    char name[64];
};

struct logto_device_slots {
    int dirfd;
    struct logto_slot user, host;
};
#define LOGTO_DEVICE_SLOTS_INIT                                                                    \
    {                                                                                              \
        .dirfd = -1, .user = { .fd = -1 }, .host = {.fd = -1 }                                     \
    }

/*
 * Take a user slot and a host slot for a device flow of user. 0 on success; -LOGTO_E_BUSY when
 * either cap is reached (the message says which; nothing is held then), other errors when the
 * slots cannot be used at all.
 */
int logto_device_slots_take(const struct logto_ctx *ctx, const char *user,
                            struct logto_device_slots *ret, struct logto_error *err);

/* Give the slots back (idempotent). */
void logto_device_slots_release(struct logto_device_slots *slots);

/*
 * The per-caller cap of logto-helper (issue 15.5): at most max helpers at once for one UID, as
 * slot files "uid.UID.K" in <state_dir>/helper-slots (root, 0700), so one user's flood of
 * connections cannot take the helpers of everybody else. 0 taken; -LOGTO_E_BUSY when all of
 * the UID's slots are held (nothing is held then); other errors when the slots cannot be used.
 */
#define LOGTO_HELPER_SLOTS_DIR "helper-slots"
struct logto_uid_slot {
    int dirfd;
    struct logto_slot slot;
};
#define LOGTO_UID_SLOT_INIT                                                                        \
    {                                                                                              \
        .dirfd = -1, .slot = {.fd = -1 }                                                           \
    }
int logto_uid_slot_take(const struct logto_ctx *ctx, uint32_t uid, int64_t max,
                        struct logto_uid_slot *ret, struct logto_error *err);
void logto_uid_slot_release(struct logto_uid_slot *slot);
