/* SPDX-License-Identifier: MIT */
/*
 * logtoctl's output streams: everything written to stdout and stderr passes the sanitizer of
 * common/text.h, so no name, gecos, organization name, role, reason or message that came from the
 * network can put a control, C1, bidi or other format character on the terminal, whichever
 * printf printed it. Our own terminal control (sync's progress line) goes to cli_raw_stderr.
 */
#include "config.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "error.h"
#include "identity.h"
#include "text.h"

FILE *cli_raw_stderr;

struct filter {
    int fd;
    unsigned flags;
    char carry[4]; /* the start of a UTF-8 sequence the next write may complete */
    size_t n_carry;
};

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static ssize_t filter_write(void *cookie, const char *buf, size_t size)
{
    struct filter *f = cookie;
    size_t len = f->n_carry + size, tail, out;
    char *tmp = malloc(len ? len : 1);

    if (!tmp)
        return -1;
    memcpy(tmp, f->carry, f->n_carry);
    memcpy(tmp + f->n_carry, buf, size);
    tail = logto_text_incomplete_tail(tmp, len);
    out = logto_text_clean_n(tmp, tmp, len - tail, f->flags);
    /* The tail was not cleaned in place: it sits after the cleaned part, unchanged. */
    memcpy(f->carry, tmp + len - tail, tail);
    f->n_carry = tail;
    int r = write_all(f->fd, tmp, out);
    free(tmp);
    return r < 0 ? -1 : (ssize_t)size;
}

/* A stream that ends inside a character: the fragment is shown as '?', like any invalid one. */
static int filter_close(void *cookie)
{
    struct filter *f = cookie;
    int r = f->n_carry ? write_all(f->fd, "?", 1) : 0;
    f->n_carry = 0;
    return r;
}

/* Non-ASCII text only for a terminal that takes UTF-8: the C and POSIX locales count as UTF-8
 * (what terminals use today); an explicitly other codeset (ISO-8859-1...) gets ASCII only. */
static unsigned charset_flags(void)
{
    unsigned flags = 0;
    const char *set;

    if (!setlocale(LC_CTYPE, ""))
        return 0;
    set = nl_langinfo(CODESET);
    if (set && strcasecmp(set, "UTF-8") != 0 && strcasecmp(set, "utf8") != 0 &&
        strcmp(set, "ANSI_X3.4-1968") != 0)
        flags |= LOGTO_TEXT_ASCII;
    setlocale(LC_CTYPE, "C");
    return flags;
}

/* The two streams live as long as the process (glibc flushes them at exit but never closes
 * them), so their state is static: nothing to free, nothing leaks. */
static FILE *filtered(struct filter *f, int fd, unsigned flags, int mode)
{
    static const cookie_io_functions_t io = { .write = filter_write, .close = filter_close };
    FILE *s;

    *f = (struct filter){ .fd = fd, .flags = flags | LOGTO_TEXT_NEWLINE };
    s = fopencookie(f, "w", io);
    if (s)
        setvbuf(s, NULL, mode, BUFSIZ);
    return s;
}

int cli_output_init(void)
{
    static struct filter out_filter, err_filter;
    unsigned flags = charset_flags();
    FILE *out =
        filtered(&out_filter, STDOUT_FILENO, flags, isatty(STDOUT_FILENO) == 1 ? _IOLBF : _IOFBF);
    FILE *err = filtered(&err_filter, STDERR_FILENO, flags, _IONBF);

    cli_raw_stderr = stderr;
    if (!out || !err) {
        if (out)
            fclose(out);
        if (err)
            fclose(err);
        return -1;
    }
    stdout = out;
    stderr = err;
    return 0;
}

void cli_print_passwd_fields(const struct logto_identity *id)
{
    const struct {
        const char *label, *value, *from;
        enum logto_field_origin origin;
    } f[] = {
        { "home", id->home, id->home_from, id->home_origin },
        { "shell", id->shell, id->shell_from, id->shell_origin },
        { "gecos", id->gecos && id->gecos[0] ? id->gecos : "-", id->gecos_from, id->gecos_origin },
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        printf("  %-9s %-24s %-8s from %s\n", f[i].label, f[i].value,
               logto_origin_name(f[i].origin), f[i].from ? f[i].from : "-");
}

json_t *cli_json_string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *cli_json_strv(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

int cli_print_json(json_t *doc)
{
    int r;

    if (!doc)
        return -1;
    r = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(doc);
    putchar('\n');
    return r < 0 || fflush(stdout) != 0 ? -1 : 0;
}

json_t *cli_origins_json(const struct logto_identity *id)
{
    return json_pack("{s:s, s:s, s:s}", "home", logto_origin_name(id->home_origin), "shell",
                     logto_origin_name(id->shell_origin), "gecos",
                     logto_origin_name(id->gecos_origin));
}

int cli_exit_code(int r)
{
    switch (logto_errc_from(r)) {
    case LOGTO_OK:
        return CLI_OK;
    case LOGTO_E_CONFIG:
    case LOGTO_E_UNSAFE:
        return CLI_CONFIG;
    case LOGTO_E_UNREACHABLE:
        return CLI_UNAVAIL;
    case LOGTO_E_DENIED:
    case LOGTO_E_SUSPENDED:
    case LOGTO_E_LOCKED:
    case LOGTO_E_EXPIRED:
    case LOGTO_E_MFA:
        return CLI_DENIED;
    case LOGTO_E_NOTFOUND:
        return CLI_NOTFOUND;
    default:
        return CLI_FAIL;
    }
}

int cli_fail(struct cli *cli, int r, const struct logto_error *err)
{
    (void)cli;
    fprintf(stderr, "logtoctl: %s\n",
            err && err->message[0] ? err->message : logto_errc_name(logto_errc_from(r)));
    return cli_exit_code(r);
}
