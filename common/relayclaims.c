/* SPDX-License-Identifier: MIT */
/* A relay host's per-user claims from the signed directory (relayclaims.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fileio.h"
#include "identity.h"
#include "json.h"
#include "memory.h"
#include "names.h"
#include "relayclaims.h"
#include "statefile.h"
#include "sync.h"
#include "util.h"

#define HEADER        "# logto-relay-claims v1 "
#define USER_LINE_MAX (4 * 1024 * 1024) /* bytes of one user's line */
#define LINE_DEPTH    3

static const char *state_dir_of(const struct logto_ctx *ctx)
{
    return ctx->cfg && ctx->cfg->state_dir ? ctx->cfg->state_dir : LOGTO_STATE_DIR;
}

static char *stamp_line(const struct logto_relay_stamp *s)
{
    _cleanup_json_ json_t *doc = json_pack("{s:I,s:I,s:I,s:s}", "serial", (json_int_t)s->serial,
                                           "generated_at", (json_int_t)s->generated_at, "not_after",
                                           (json_int_t)s->not_after, "sha256", s->sha256);
    _cleanup_free_ char *text = doc ? logto_json_dump(doc) : NULL;
    return text ? logto_asprintf("%s%s\n", HEADER, text) : NULL;
}

static int write_file(const struct logto_ctx *ctx, const char *text, size_t len,
                      struct logto_error *err)
{
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_CLAIMS);
    _cleanup_close_ int dirfd = -1;
    int r;

    if (!path)
        return LOGTO_OOM(err);
    if (len > LOGTO_RELAY_CLAIMS_MAX)
        return logto_error_set(err, LOGTO_E_INVAL, "%s would exceed %zu bytes", path,
                               LOGTO_RELAY_CLAIMS_MAX);
    r = logto_dir_ensure(state_dir_of(ctx), 0755, false, &dirfd, err);
    if (r >= 0)
        r = logto_file_write_at(dirfd, LOGTO_RELAY_CLAIMS, path, text, len, 0600, err);
    return r;
}

static json_t *user_json(const struct logto_sync_user *u)
{
    const struct logto_identity *id = u->id;
    json_t *o = json_pack("{s:s,s:I,s:b,s:o,s:o,s:o}", "sub", id->sub, "uid", (json_int_t)id->uid,
                          "suspended", id->suspended, "roles", json_array(), "orgs", json_array(),
                          "org_roles", json_array());
    struct {
        const char *key;
        char **v;
    } lists[] = { { "roles", id->roles }, { "orgs", id->orgs }, { "org_roles", id->org_roles } };

    if (!o || (u->username && json_object_set_new(o, "username", json_string(u->username)) < 0))
        goto fail;
    for (size_t k = 0; k < ELEMENTSOF(lists); k++)
        for (size_t i = 0; lists[k].v && lists[k].v[i]; i++)
            if (json_array_append_new(json_object_get(o, lists[k].key),
                                      json_string(lists[k].v[i])) < 0)
                goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

int logto_relay_claims_write(const struct logto_ctx *ctx, const struct logto_relay_stamp *stamp,
                             const struct logto_sync_user *users, size_t n, const bool *keep,
                             struct logto_error *err)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *head = stamp_line(stamp);
    size_t len = 0;
    FILE *f;
    bool ok;
    int r;

    if (!head)
        return LOGTO_OOM(err);
    f = open_memstream(&text, &len);
    if (!f)
        return LOGTO_OOM(err);
    ok = fputs(head, f) >= 0;
    for (size_t i = 0; ok && i < n; i++) {
        _cleanup_json_ json_t *o = NULL;
        _cleanup_free_ char *line = NULL;
        if (!keep[i] || !users[i].id)
            continue;
        /* A name is the line's key: only valid names (no tab, no newline) are ever written. */
        if (!logto_name_valid(users[i].id->name))
            continue;
        o = user_json(&users[i]);
        line = o ? logto_json_dump(o) : NULL;
        ok = line && fprintf(f, "%s\t%s\n", users[i].id->name, line) > 0;
    }
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        free(text);
        text = NULL;
        return LOGTO_OOM(err);
    }
    r = write_file(ctx, text, len, err);
    return r < 0 ? r : 0;
}

/* The whole file at path (<state_dir>/relay.claims), checked: root, 0600, one link, no NUL
 * byte, our header. */
static int read_file(const struct logto_ctx *ctx, const char *path, char **ret, size_t *ret_len,
                     struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_close_ int dirfd = -1;
    size_t len = 0;
    int r = logto_dir_open_trusted(state_dir_of(ctx), false, &dirfd, err);

    if (r == -LOGTO_E_NOTFOUND)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "%s does not exist", path);
    if (r >= 0)
        r = logto_file_read_at(dirfd, LOGTO_RELAY_CLAIMS, path, LOGTO_FILE_SECRET,
                               LOGTO_RELAY_CLAIMS_MAX, &buf, &len, err);
    if (r < 0)
        return r;
    if (strlen(buf) != len || !logto_startswith(buf, HEADER) || !memchr(buf, '\n', len))
        return logto_error_set(err, LOGTO_E_CORRUPT, "%s is not a relay claims file", path);
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

static int parse_stamp(const char *buf, const char *path, struct logto_relay_stamp *ret,
                       struct logto_error *err)
{
    const char *start = buf + strlen(HEADER), *end = strchr(start, '\n'), *sha = NULL;
    _cleanup_json_ json_t *doc = NULL;
    struct logto_relay_stamp s = { 0 };
    int r = logto_json_parse_object(start, (size_t)(end - start), 1024, 1, "the stamp", &doc, err);

    if (r >= 0)
        r = logto_json_get_int(doc, "serial", LOGTO_JSON_REQUIRED, 1, INT64_MAX, &s.serial, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "generated_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX,
                               &s.generated_at, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "not_after", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &s.not_after,
                               err);
    if (r >= 0)
        r = logto_json_get_string(doc, "sha256", LOGTO_JSON_REQUIRED, &sha, err);
    if (r >= 0 && strlen(sha) != 64)
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "sha256 is not 64 hex digits");
    if (r < 0)
        return logto_state_doc_malformed(path, r, err);
    memcpy(s.sha256, sha, 65);
    *ret = s;
    return 0;
}

int logto_relay_claims_restamp(const struct logto_ctx *ctx, const struct logto_relay_stamp *stamp,
                               struct logto_error *err)
{
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_CLAIMS);
    char *buf = NULL, *head = NULL, *text = NULL; /* freed by hand: gcc 12's analyzer loses
                                                     cleanup variables here */
    struct logto_relay_stamp old;
    size_t len = 0;
    int r = -LOGTO_E_NOTFOUND; /* anything unreadable: rebuilt from the object by the caller */

    if (!path)
        return LOGTO_OOM(err);
    if (read_file(ctx, path, &buf, &len, NULL) >= 0 && parse_stamp(buf, path, &old, NULL) >= 0 &&
        strcmp(old.sha256, stamp->sha256) == 0) {
        head = stamp_line(stamp);
        text = head ? logto_asprintf("%s%s", head, strchr(buf, '\n') + 1) : NULL;
        r = text ? write_file(ctx, text, strlen(text), err) : LOGTO_OOM(err);
    }
    free(buf);
    free(head);
    free(text);
    return r < 0 ? r : 0;
}

/* The line of name ("name\t{...}"), or NULL; *ret_end: its newline (or the end). */
static const char *find_line(const char *buf, size_t len, const char *name, const char **ret_end)
{
    _cleanup_free_ char *needle = logto_asprintf("\n%s\t", name);
    const char *p, *end;

    if (!needle)
        return NULL;
    p = memmem(buf, len, needle, strlen(needle));
    if (!p)
        return NULL;
    p += strlen(needle);
    end = memchr(p, '\n', len - (size_t)(p - buf));
    *ret_end = end ? end : buf + len;
    return p;
}

static int identity_from_line(const char *name, const char *line, size_t len, const char *path,
                              struct logto_identity **ret, char **ret_username,
                              struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_(logto_identity_freep) struct logto_identity *id = calloc(1, sizeof(*id));
    const char *sub = NULL, *username = NULL;
    int64_t uid = 0;
    int r =
        logto_json_parse_object(line, len, USER_LINE_MAX, LINE_DEPTH, "a user's claims", &doc, err);

    if (!id)
        return LOGTO_OOM(err);
    if (r >= 0)
        r = logto_json_get_string(doc, "sub", LOGTO_JSON_REQUIRED | LOGTO_JSON_NONEMPTY, &sub, err);
    if (r >= 0)
        r = logto_json_get_string(doc, "username", 0, &username, err);
    if (r >= 0)
        r = logto_json_get_int(doc, "uid", LOGTO_JSON_REQUIRED, 1, UINT32_MAX - 1, &uid, err);
    if (r >= 0)
        r = logto_json_get_bool(doc, "suspended", LOGTO_JSON_REQUIRED, &id->suspended, err);
    if (r >= 0)
        r = logto_json_get_strv(doc, "roles", LOGTO_JSON_REQUIRED, &id->roles, err);
    if (r >= 0)
        r = logto_json_get_strv(doc, "orgs", LOGTO_JSON_REQUIRED, &id->orgs, err);
    if (r >= 0)
        r = logto_json_get_strv(doc, "org_roles", LOGTO_JSON_REQUIRED, &id->org_roles, err);
    if (r == -LOGTO_E_NOMEM)
        return r;
    if (r < 0) {
        if (err)
            err->code = LOGTO_E_CORRUPT;
        logto_error_prefix(err, "%s: the entry of %s", path, name);
        return -LOGTO_E_CORRUPT;
    }
    id->uid = id->gid = (uint32_t)uid;
    id->name = strdup(name);
    id->sub = strdup(sub);
    if (!id->name || !id->sub)
        return LOGTO_OOM(err);
    if (ret_username) {
        *ret_username = username ? strdup(username) : NULL;
        if (username && !*ret_username)
            return LOGTO_OOM(err);
    }
    *ret = TAKE_PTR(id);
    return 0;
}

int logto_relay_claims_find(const struct logto_ctx *ctx, const char *name,
                            struct logto_identity **ret, struct logto_relay_stamp *ret_stamp,
                            char **ret_username, struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_CLAIMS);
    struct logto_relay_stamp s;
    const char *line, *end = NULL;
    int64_t now = logto_now(ctx);
    size_t len = 0;
    int r;

    if (!path)
        return LOGTO_OOM(err);
    if (!logto_name_valid(name))
        return logto_error_set(err, LOGTO_E_NOTFOUND, "not a valid user name");
    r = read_file(ctx, path, &buf, &len, err);
    if (r >= 0)
        r = parse_stamp(buf, path, &s, err);
    if (r < 0)
        return r;
    *ret_stamp = s;
    if (s.generated_at > now + LOGTO_RELAY_CLAIMS_SKEW)
        return logto_error_set(err, LOGTO_E_EXPIRED,
                               "the relay directory on this host is dated %" PRId64
                               "s in the future (serial %" PRId64 "): was the clock set back?",
                               s.generated_at - now, s.serial);
    if (now > s.not_after)
        return logto_error_set(err, LOGTO_E_EXPIRED,
                               "the relay directory on this host expired %" PRId64
                               "s ago (serial %" PRId64 ", generated %" PRId64
                               "s ago): the publisher has not published since, or this host has "
                               "not synced (logtoctl status)",
                               now - s.not_after, s.serial, now - s.generated_at);
    line = find_line(buf, len, name, &end);
    if (!line)
        return logto_error_set(err, LOGTO_E_NOTFOUND, "%s is not in the relay directory", name);
    return identity_from_line(name, line, (size_t)(end - line), path, ret, ret_username, err);
}
