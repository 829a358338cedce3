/* SPDX-License-Identifier: MIT */
/*
 * sync_driver: runs logto_sync() and injects a test-IdP fault in the middle of it, the moment
 * the sync reports a given progress phase, so the NEXT Management API request fails. Used by
 * tests/integration/sync_faults.sh to prove that a failure mid-sync leaves the snapshot alone.
 *
 *   sync_driver CONFIG CONTROL_URL PHASE ENDPOINT FAULT
 *
 * PHASE is a progress phase of logto_sync ("users", "roles", "role-members", "organizations",
 * "organization-members"); ENDPOINT and FAULT as in the IdP's POST /faults. Prints
 * "injected=yes|no result=ok|<error code name> requests=N" and the error message; exits 0 when
 * the fault was injected and the sync failed, 1 otherwise, 2 on usage or setup errors.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "conf.h"
#include "context.h"
#include "sync.h"

struct inject {
    const char *control, *phase, *endpoint, *fault;
    bool done, failed;
};

static size_t discard(char *p, size_t size, size_t n, void *userdata)
{
    (void)p;
    (void)userdata;
    return size * n;
}

static bool post_fault(const struct inject *in)
{
    char url[512], body[256];
    struct curl_slist *headers = NULL;
    CURL *curl = curl_easy_init();
    long status = 0;
    CURLcode rc;

    if (!curl)
        return false;
    snprintf(url, sizeof(url), "%s/faults", in->control);
    /* Two requests: libcurl retries a request once by itself when a reused connection turns out
     * to be dead (the reset fault), and that retry must fail too. */
    snprintf(body, sizeof(body), "{\"endpoint\":\"%s\",\"fault\":\"%s\",\"count\":2}", in->endpoint,
             in->fault);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc == CURLE_OK && status == 201;
}

static void on_progress(void *userdata, const char *phase, size_t done, size_t total)
{
    struct inject *in = userdata;

    (void)done;
    (void)total;
    if (in->done || strcmp(phase, in->phase) != 0)
        return;
    in->done = true;
    in->failed = !post_fault(in);
}

static void quiet_log(void *userdata, int priority, const char *line)
{
    (void)userdata;
    if (priority <= LOG_WARNING)
        fprintf(stderr, "sync_driver: %s\n", line);
}

int main(int argc, char **argv)
{
    struct logto_config *cfg = NULL;
    struct logto_sync_report *report = NULL;
    struct logto_error err = { 0 };
    struct inject in = { 0 };
    struct logto_sync_options opts = { 0 };
    struct logto_ctx ctx = { .log = { .fn = quiet_log } };
    int r, status;

    if (argc != 6) {
        fprintf(stderr, "usage: sync_driver CONFIG CONTROL_URL PHASE ENDPOINT FAULT\n");
        return 2;
    }
    in = (struct inject){
        .control = argv[2], .phase = argv[3], .endpoint = argv[4], .fault = argv[5]
    };
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 2;
    r = logto_config_load(argv[1], &cfg, &err);
    if (r < 0) {
        fprintf(stderr, "sync_driver: %s\n", err.message);
        curl_global_cleanup();
        return 2;
    }
    ctx.cfg = cfg;
    opts.progress = on_progress;
    opts.progress_data = &in;
    r = logto_sync(&ctx, &opts, &report, &err);
    printf("injected=%s result=%s requests=%u\n", in.done && !in.failed ? "yes" : "no",
           r < 0 ? logto_errc_name(logto_errc_from(r)) : "ok", report ? report->requests : 0);
    if (r < 0)
        printf("message=%s\n", err.message);
    status = in.done && !in.failed && r < 0 ? 0 : 1;
    logto_sync_report_free(report);
    logto_config_free(cfg);
    curl_global_cleanup();
    return status;
}
