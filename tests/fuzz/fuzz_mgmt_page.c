/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mgmt_page: one Management API listing answer through logto_mgmt_parse_page, the check
 * every page of every listing passes (status, JSON array, page size, Total-Number or Link, and
 * the per-kind item checks), then the items of an accepted page through the claims translation
 * the management password method uses (logto_mgmt_user_claims).
 *
 * Input, like an HTTP answer: "STATUS KIND PAGE\nTotal-Number: N\nLink: <...>; rel=\"next\"\n
 * Content-Type: application/json\n\nBODY", KIND one of users, roles, organizations, org-users,
 * user-orgs (default users), PAGE from 1 (default 1).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "mgmt.h"

#include "fuzz.h"

static const char *const kinds[] = {
    [LOGTO_MGMT_ITEM_USER] = "users",         [LOGTO_MGMT_ITEM_ROLE] = "roles",
    [LOGTO_MGMT_ITEM_ORG] = "organizations",  [LOGTO_MGMT_ITEM_ORG_USER] = "org-users",
    [LOGTO_MGMT_ITEM_USER_ORG] = "user-orgs",
};

static json_t *fixed_user;

static void parse_first_line(const uint8_t *data, size_t size, enum logto_mgmt_item_kind *kind,
                             unsigned *page)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : size;
    char line[64], word[32] = "";
    long status;
    unsigned p = 1;

    *kind = LOGTO_MGMT_ITEM_USER;
    *page = 1;
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    if (sscanf(line, "%ld %31s %u", &status, word, &p) >= 2) {
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
            if (strcmp(word, kinds[i]) == 0)
                *kind = (enum logto_mgmt_item_kind)i;
        *page = p;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logto_http_response resp;
    struct logto_error err = { 0 };
    enum logto_mgmt_item_kind kind;
    json_t *items = NULL, *item;
    uint64_t total = 0, pages = 0;
    char *next = NULL, *last = NULL;
    unsigned page;
    size_t i;
    int r;

    if (!fixed_user) {
        fixed_user = json_pack("{s:s, s:s, s:s, s:b}", "id", "e738g7numf03", "username", "alice",
                               "primaryEmail", "alice@example.com", "isSuspended", 0);
        if (!fixed_user)
            fuzz_die("fixed user");
    }
    if (size > 4 * 1024 * 1024)
        return 0;
    parse_first_line(data, size, &kind, &page);
    fuzz_http_response(data, size, &resp);

    r = logto_mgmt_parse_page(&resp, kind, page, "GET /api/fuzz", &items, &total, &pages, &next,
                              &err);
    if (r == 0) {
        if (!json_is_array(items) || json_array_size(items) > LOGTO_MGMT_PAGE_SIZE ||
            (resp.total_number && (pages == 0 || total > LOGTO_MGMT_MAX_ITEMS)) ||
            (!resp.total_number && (pages != 0 || (next && !resp.link))))
            abort();
        json_array_foreach(items, i, item)
        {
            json_t *claims = NULL;
            if (!logto_mgmt_id_valid(json_string_value(json_object_get(item, "id"))))
                abort();
            if (kind == LOGTO_MGMT_ITEM_USER || kind == LOGTO_MGMT_ITEM_ORG_USER) {
                if (logto_mgmt_user_claims(item, NULL, NULL, &claims, &err) < 0)
                    abort(); /* a checked user always translates */
                json_decref(claims);
            }
        }
        /* A user's roles and organizations, as sign-in hands them over. */
        if (kind == LOGTO_MGMT_ITEM_ROLE || kind == LOGTO_MGMT_ITEM_USER_ORG) {
            json_t *claims = NULL;
            if (logto_mgmt_user_claims(fixed_user, kind == LOGTO_MGMT_ITEM_ROLE ? items : NULL,
                                       kind == LOGTO_MGMT_ITEM_USER_ORG ? items : NULL, &claims,
                                       &err) < 0)
                abort();
            json_decref(claims);
        }
        json_decref(items);
        free(next);
    } else if (!err.message[0])
        abort();
    if (resp.link && logto_mgmt_parse_link(resp.link, "last", &last, &err) == 0)
        free(last);
    logto_http_response_clear(&resp);
    return 0;
}
