/* SPDX-License-Identifier: MIT */
/* Shared helpers of the libFuzzer targets (see fuzz.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "http.h"
#include "log.h"

#include "fuzz.h"

_Noreturn void fuzz_die(const char *what)
{
    /* Only our own words: never the input. */
    fprintf(stderr, "fuzz: setup failed: %s\n", what);
    _exit(2);
}

char *fuzz_strndup(const void *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        fuzz_die("out of memory");
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* ------------------------------------------------------------------------------------------ */

static char tmpdir[PATH_MAX];
static pid_t tmpdir_owner;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tmpdir(void)
{
    /* Forked children (none today) must not take the directory away from the parent. */
    if (tmpdir[0] && getpid() == tmpdir_owner)
        nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
    const char *base;

    if (tmpdir[0])
        return tmpdir;
    base = getenv("TMPDIR");
    if (!base || base[0] != '/')
        base = "/tmp";
    if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s/logto-fuzz-XXXXXX", base) >= sizeof(tmpdir))
        fuzz_die("TMPDIR is too long");
    if (!mkdtemp(tmpdir))
        fuzz_die("cannot make a temporary directory");
    tmpdir_owner = getpid();
    atexit(remove_tmpdir);
    return tmpdir;
}

void fuzz_path(char *buf, size_t n, const char *name)
{
    if ((size_t)snprintf(buf, n, "%s/%s", fuzz_tmpdir(), name) >= n)
        fuzz_die("path too long");
}

void fuzz_write_file(const char *path, const void *data, size_t size, mode_t mode)
{
    const char *p = data;
    int fd;

    /* unlink first: the checked readers want one link and the exact mode, whatever was there. */
    if (unlink(path) < 0 && errno != ENOENT)
        fuzz_die("cannot replace a file");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 || fchmod(fd, mode) < 0)
        fuzz_die("cannot create a file");
    while (size > 0) {
        ssize_t k = write(fd, p, size);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fuzz_die("cannot write a file");
        p += k;
        size -= (size_t)k;
    }
    if (close(fd) < 0)
        fuzz_die("cannot write a file");
}

struct logto_config *fuzz_config(const char *text)
{
    struct logto_config *cfg = NULL;
    struct logto_error err = { 0 };

    if (logto_config_parse_buffer(text, strlen(text), "fuzz.conf", &cfg, &err) < 0) {
        fprintf(stderr, "fuzz: built-in configuration refused: %s\n", err.message);
        fuzz_die("configuration");
    }
    return cfg;
}

/* ------------------------------------------------------------------------------------------ */

static int64_t fixed_now(void)
{
    return FUZZ_NOW;
}

static void drop_log(void *userdata, int priority, const char *line)
{
    (void)userdata;
    (void)priority;
    (void)line;
}

/* Accounts as tests/data/identity has them: system ones, a local user, and one local account
 * inside the hashed ID range. */
static const char passwd_text[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "localuser:x:1000:1000:Local User,,,:/home/localuser:/bin/bash\n"
    "alien:x:1879048200:1879048200:Local account inside the hashed range:/home/alien:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_text[] = "root:x:0:\nsudo:x:27:localuser\nstaff:x:50:\nusers:x:100:\n"
                                 "localuser:x:1000:\ndevs:x:5000:\nlogto-local:x:6000:\n";
static const char shells_text[] = "# /etc/shells: valid login shells\n/bin/sh\n/bin/bash\n"
                                  "/usr/bin/bash\n/usr/bin/zsh\n";

static char passwd_path[PATH_MAX], group_path[PATH_MAX], shells_path[PATH_MAX];

void fuzz_ctx_init(struct logto_ctx *ctx, const struct logto_config *cfg)
{
    if (!passwd_path[0]) {
        fuzz_path(passwd_path, sizeof(passwd_path), "passwd");
        fuzz_path(group_path, sizeof(group_path), "group");
        fuzz_path(shells_path, sizeof(shells_path), "shells");
        fuzz_write_file(passwd_path, passwd_text, strlen(passwd_text), 0644);
        fuzz_write_file(group_path, group_text, strlen(group_text), 0644);
        fuzz_write_file(shells_path, shells_text, strlen(shells_text), 0644);
    }
    *ctx = (struct logto_ctx){
        .cfg = cfg,
        .log = { .fn = drop_log, .debug = true },
        .now = fixed_now,
        .passwd_path = passwd_path,
        .group_path = group_path,
        .shells_path = shells_path,
    };
}

/* ------------------------------------------------------------------------------------------ */

bool fuzz_next_field(const uint8_t **data, size_t *size, uint8_t sep, const uint8_t **ret,
                     size_t *ret_len)
{
    const uint8_t *end;

    if (!*data)
        return false;
    end = *size ? memchr(*data, sep, *size) : NULL;
    *ret = *data;
    if (end) {
        *ret_len = (size_t)(end - *data);
        *size -= *ret_len + 1;
        *data = end + 1;
    } else {
        *ret_len = *size;
        *data = NULL; /* the last field, even when empty */
        *size = 0;
    }
    return true;
}

static void set_header(char **slot, const char *value, size_t len)
{
    free(*slot);
    *slot = fuzz_strndup(value, len);
}

void fuzz_http_response(const uint8_t *data, size_t size, struct logto_http_response *resp)
{
    const uint8_t *line;
    size_t len;
    bool first = true;

    *resp = (struct logto_http_response){ .status = 200 };
    while (fuzz_next_field(&data, &size, '\n', &line, &len)) {
        const char *l = (const char *)line, *colon;
        size_t name_len;

        if (len > 0 && l[len - 1] == '\r')
            len--;
        if (first) {
            long status = 0;
            first = false;
            for (size_t i = 0; i < len && i < 3 && l[i] >= '0' && l[i] <= '9'; i++)
                status = status * 10 + (l[i] - '0');
            if (status >= 100)
                resp->status = status;
            continue;
        }
        if (len == 0)
            break; /* the body follows */
        colon = memchr(l, ':', len);
        if (!colon)
            continue;
        name_len = (size_t)(colon - l);
        /* Trimmed and capped as http.c's header callback does. */
        for (colon++; colon < l + len && (*colon == ' ' || *colon == '\t'); colon++)
            ;
        len -= (size_t)(colon - l);
        while (len > 0 && (colon[len - 1] == ' ' || colon[len - 1] == '\t'))
            len--;
        if (len > 8192)
            continue;
#define HEADER(name, field)                                                                        \
    if (name_len == strlen(name) && strncasecmp(l, name, name_len) == 0)                           \
        set_header(&resp->field, colon, len);
        HEADER("Content-Type", content_type)
        HEADER("Location", location)
        HEADER("Total-Number", total_number)
        HEADER("Link", link)
#undef HEADER
    }
    resp->body = fuzz_strndup(data ? data : (const uint8_t *)"", data ? size : 0);
    resp->body_len = data ? size : 0;
}

/* Overridden by failmalloc.c in the *_oom targets. */
__attribute__((weak)) void fuzz_failmalloc_start(uint32_t seed)
{
    (void)seed;
}

__attribute__((weak)) void fuzz_failmalloc_stop(void)
{
}

__attribute__((weak)) bool fuzz_failmalloc_active(void)
{
    return false;
}
