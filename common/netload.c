/* SPDX-License-Identifier: MIT */
/* Finding the network half of the pipelines: registered, or loaded next to this object (net.h). */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "memory.h"
#include "net.h"
#include "util.h"

static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct logto_net_ops *net_ops;

void logto_net_signin_clear(struct logto_net_signin *s)
{
    json_decref(s->claims);
    logto_free_secret(s->refresh_token);
    *s = (struct logto_net_signin){ 0 };
}

void logto_net_register(const struct logto_net_ops *ops)
{
    pthread_mutex_lock(&net_lock);
    net_ops = ops;
    pthread_mutex_unlock(&net_lock);
}

/* The same build on both sides, or nothing: the table and the structs it takes must match. */
static int check_ops(const struct logto_net_ops *ops, const char *path, struct logto_error *err)
{
    const size_t sizes[4] = { sizeof(struct logto_config), sizeof(struct logto_service),
                              sizeof(struct logto_ctx), sizeof(struct logto_ui) };

    if (!ops || ops->abi != LOGTO_NET_ABI || !ops->build || strcmp(ops->build, PACKAGE_VERSION) ||
        memcmp(ops->sizes, sizes, sizeof(sizes)))
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "%s is from another build than pam_logto.so %s: reinstall both",
                               path, PACKAGE_VERSION);
    return 0;
}

/* pam_logto_net.so in the directory of the object that holds this function. */
static int net_path(char **ret_dir, char **ret_path, struct logto_error *err)
{
    Dl_info info;
    const char *slash;

    if (!dladdr((void *)logto_net_get, &info) || !info.dli_fname || info.dli_fname[0] != '/')
        return logto_error_set(err, LOGTO_E_IO, "cannot tell where pam_logto.so was loaded from");
    slash = strrchr(info.dli_fname, '/');
    *ret_dir = slash == info.dli_fname ? strdup("/")
                                       : strndup(info.dli_fname, (size_t)(slash - info.dli_fname));
    if (!*ret_dir)
        return LOGTO_OOM(err);
    *ret_path = logto_asprintf("%s/%s", *ret_dir, LOGTO_NET_LIBRARY);
    return *ret_path ? 0 : LOGTO_OOM(err);
}

static int net_load(const struct logto_net_ops **ret, struct logto_error *err)
{
    _cleanup_free_ char *dir = NULL, *path = NULL;
    _cleanup_close_ int dirfd = -1;
    const struct logto_net_ops *ops;
    void *handle;
    int r;

    if ((r = net_path(&dir, &path, err)) < 0)
        return r;
    /* Root loads code only from a root-owned file nobody else can change. */
    if ((r = logto_dir_open_trusted(dir, false, &dirfd, err)) < 0 ||
        (r = logto_file_check_at(dirfd, LOGTO_NET_LIBRARY, path, LOGTO_FILE_PUBLIC,
                                 64u * 1024 * 1024, err)) < 0)
        /* A missing library is a broken installation, never an unknown user. */
        return r == -LOGTO_E_NOTFOUND
                   ? logto_error_set(err, LOGTO_E_IO, "%s is missing: reinstall pam_logto", path)
                   : r;
    /* NODELETE: libcurl must never be unloaded (house style R12); the handle is kept. */
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle)
        return logto_error_set(err, LOGTO_E_IO, "cannot load %s: %s", path, dlerror());
    ops = dlsym(handle, LOGTO_NET_SYMBOL);
    if ((r = check_ops(ops, path, err)) < 0)
        return r;
    *ret = ops;
    return 0;
}

int logto_net_get(const struct logto_ctx *ctx, const struct logto_net_ops **ret,
                  struct logto_error *err)
{
    int r = 0;

    pthread_mutex_lock(&net_lock);
    if (!net_ops) {
        r = net_load(&net_ops, err);
        if (r == 0)
            logto_log_debug(&ctx->log, "net-loaded library=%s", LOGTO_NET_LIBRARY);
    }
    *ret = net_ops;
    pthread_mutex_unlock(&net_lock);
    return r;
}
