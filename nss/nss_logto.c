/* SPDX-License-Identifier: MIT */
/* libnss_logto.so.2: placeholder until the directory snapshot lands (issue 5). */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

_public_ enum nss_status _nss_logto_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                               size_t len, int *errnop);
_public_ enum nss_status _nss_logto_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_setpwent(int stayopen);
_public_ enum nss_status _nss_logto_getpwent_r(struct passwd *pw, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_endpwent(void);
_public_ enum nss_status _nss_logto_getgrnam_r(const char *name, struct group *gr, char *buf,
                                               size_t len, int *errnop);
_public_ enum nss_status _nss_logto_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_setgrent(int stayopen);
_public_ enum nss_status _nss_logto_getgrent_r(struct group *gr, char *buf, size_t len,
                                               int *errnop);
_public_ enum nss_status _nss_logto_endgrent(void);
_public_ enum nss_status _nss_logto_initgroups_dyn(const char *user, gid_t group, long *start,
                                                   long *size, gid_t **groups, long limit,
                                                   int *errnop);

enum nss_status _nss_logto_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
                                      int *errnop)
{
    (void)name, (void)pw, (void)buf, (void)len;
    *errnop = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
                                      int *errnop)
{
    (void)uid, (void)pw, (void)buf, (void)len;
    *errnop = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_setpwent(int stayopen)
{
    (void)stayopen;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_getpwent_r(struct passwd *pw, char *buf, size_t len, int *errnop)
{
    (void)pw, (void)buf, (void)len;
    *errnop = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_endpwent(void)
{
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_logto_getgrnam_r(const char *name, struct group *gr, char *buf, size_t len,
                                      int *errnop)
{
    (void)name, (void)gr, (void)buf, (void)len;
    *errnop = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t len,
                                      int *errnop)
{
    (void)gid, (void)gr, (void)buf, (void)len;
    *errnop = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_setgrent(int stayopen)
{
    (void)stayopen;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_getgrent_r(struct group *gr, char *buf, size_t len, int *errnop)
{
    (void)gr, (void)buf, (void)len;
    *errnop = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

enum nss_status _nss_logto_endgrent(void)
{
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_logto_initgroups_dyn(const char *user, gid_t group, long *start, long *size,
                                          gid_t **groups, long limit, int *errnop)
{
    (void)user, (void)group, (void)start, (void)size, (void)groups, (void)limit;
    *errnop = ENOENT;
    return NSS_STATUS_UNAVAIL;
}
