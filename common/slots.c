/* SPDX-License-Identifier: MIT */
/* Concurrent device-flow caps as flock(2)ed slot files (slots.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "memory.h"
#include "names.h"
#include "slots.h"
#include "util.h"

static const char *state_dir(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
}

static void slot_release(int dirfd, struct logto_slot *slot)
{
    if (slot->fd < 0)
        return;
    /* Removed while locked: a taker that opened this file before notices (see slot_try). */
    (void)unlinkat(dirfd, slot->name, 0);
    close(slot->fd);
    slot->fd = -1;
}

/* Lock name if nobody holds it: 1 taken, 0 held by someone else, or a negative error. */
static int slot_try(int dirfd, const char *dir, const char *name, struct logto_slot *ret,
                    struct logto_error *err)
{
    _cleanup_free_ char *path = logto_asprintf("%s/%s", dir, name);

    if (!path)
        return LOGTO_OOM(err);
    for (int attempt = 0; attempt < 100; attempt++) {
        _cleanup_close_ int fd = -1;
        struct stat locked, now;
        int r = logto_lock_at(dirfd, name, path, 0, &fd, err);

        if (r == -LOGTO_E_BUSY)
            return 0;
        if (r < 0)
            return r;
        /* The previous holder may have removed the file between our open and our lock. */
        if (fstat(fd, &locked) < 0)
            return logto_error_set(err, LOGTO_E_IO, "cannot stat %s: %s", path, strerror(errno));
        if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return logto_error_set(err, LOGTO_E_IO, "cannot stat %s: %s", path, strerror(errno));
        }
        if (locked.st_dev != now.st_dev || locked.st_ino != now.st_ino)
            continue;
        ret->fd = TAKE_FD(fd);
        snprintf(ret->name, sizeof(ret->name), "%s", name);
        return 1;
    }
    return logto_error_set(err, LOGTO_E_BUSY, "%s keeps changing", path);
}

/* The first free slot PREFIX.0 .. PREFIX.(n-1): 1 taken, 0 all held, or an error. */
static int slot_take(int dirfd, const char *dir, const char *prefix, int64_t n,
                     struct logto_slot *ret, struct logto_error *err)
{
    for (int64_t i = 0; i < n; i++) {
        char name[64];
        int r;

        snprintf(name, sizeof(name), "%s.%lld", prefix, (long long)i);
        r = slot_try(dirfd, dir, name, ret, err);
        if (r != 0)
            return r;
    }
    return 0;
}

int logto_device_slots_take(const struct logto_ctx *ctx, const char *user,
                            struct logto_device_slots *ret, struct logto_error *err)
{
    const struct logto_config *cfg = ctx->cfg;
    int64_t per_user =
        cfg && cfg->max_device_flows_per_user > 0 ? cfg->max_device_flows_per_user : 1;
    int64_t per_host = cfg && cfg->max_device_flows > 0 ? cfg->max_device_flows : 1;
    _cleanup_free_ char *dir = logto_asprintf("%s/%s", state_dir(ctx), LOGTO_DEVICE_SLOTS_DIR);
    struct logto_device_slots s = LOGTO_DEVICE_SLOTS_INIT;
    char prefix[LOGTO_NAME_MAX + 8];
    _cleanup_close_ int statefd = -1;
    int r;

    if (!dir)
        return LOGTO_OOM(err);
    if (!logto_name_valid(user))
        return logto_error_set(err, LOGTO_E_INVAL, "not a valid user name");
    r = logto_dir_ensure(state_dir(ctx), 0755, false, &statefd, err);
    if (r >= 0)
        r = logto_dir_ensure(dir, 0700, true, &s.dirfd, err);
    if (r < 0)
        return r;

    snprintf(prefix, sizeof(prefix), "user.%s", user);
    r = slot_take(s.dirfd, dir, prefix, per_user, &s.user, err);
    if (r == 0)
        r = logto_error_set(err, LOGTO_E_BUSY,
                            "%lld %s sign-in%s for %s %s already waiting for approval "
                            "(max_device_flows_per_user)",
                            (long long)per_user, logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL),
                            per_user == 1 ? "" : "s", user, per_user == 1 ? "is" : "are");
    if (r > 0) {
        r = slot_take(s.dirfd, dir, "host", per_host, &s.host, err);
        if (r == 0)
            r = logto_error_set(err, LOGTO_E_BUSY,
                                "%lld %s sign-ins are already waiting for approval on this "
                                "host (max_device_flows)",
                                (long long)per_host, logto_idp_text(ctx->cfg, LOGTO_IDP_LABEL));
    }
    if (r < 0) {
        logto_device_slots_release(&s);
        return r;
    }
    *ret = s;
    return 0;
}

void logto_device_slots_release(struct logto_device_slots *slots)
{
    if (slots->dirfd < 0)
        return;
    slot_release(slots->dirfd, &slots->host);
    slot_release(slots->dirfd, &slots->user);
    close(slots->dirfd);
    slots->dirfd = -1;
}

int logto_uid_slot_take(const struct logto_ctx *ctx, uint32_t uid, int64_t max,
                        struct logto_uid_slot *ret, struct logto_error *err)
{
    _cleanup_free_ char *dir = logto_asprintf("%s/%s", state_dir(ctx), LOGTO_HELPER_SLOTS_DIR);
    struct logto_uid_slot s = LOGTO_UID_SLOT_INIT;
    _cleanup_close_ int statefd = -1;
    char prefix[32];
    int r;

    if (!dir)
        return LOGTO_OOM(err);
    r = logto_dir_ensure(state_dir(ctx), 0755, false, &statefd, err);
    if (r >= 0)
        r = logto_dir_ensure(dir, 0700, true, &s.dirfd, err);
    if (r < 0)
        return r;
    snprintf(prefix, sizeof(prefix), "uid.%" PRIu32, uid);
    r = slot_take(s.dirfd, dir, prefix, max, &s.slot, err);
    if (r == 0)
        r = logto_error_set(err, LOGTO_E_BUSY, "uid %" PRIu32 " already has %lld requests running",
                            uid, (long long)max);
    if (r < 0) {
        logto_uid_slot_release(&s);
        return r;
    }
    *ret = s;
    return 0;
}

void logto_uid_slot_release(struct logto_uid_slot *slot)
{
    if (slot->dirfd < 0)
        return;
    slot_release(slot->dirfd, &slot->slot);
    close(slot->dirfd);
    slot->dirfd = -1;
}
