/* SPDX-License-Identifier: MIT */
/* Unit tests for what the device flow shows (common/device.c) and for common/qr.c. Polling
 * needs a provider: tests/integration/device_*.sh. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check.h"
#include "device.h"
#include "qr.h"
#include "util.h"

#define LIGHT_BOTH  "\xe2\x96\x88"
#define LIGHT_LOWER "\xe2\x96\x84"

/* ------------------------------------------------------------------ QR codes */

/* Split a rendering into cells: one cell is a space or one 3-byte block character. */
static size_t cells_of_line(const char *line, size_t len, const char **cells, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n < max; n++) {
        cells[n] = line + i;
        i += line[i] == ' ' ? 1 : 3;
    }
    return n;
}

static bool cell_is(const char *cell, const char *what)
{
    return strncmp(cell, what, strlen(what)) == 0;
}

static void test_qr_render(void)
{
#ifdef HAVE_QRENCODE
    struct logto_error err = { 0 };
    const char *cells[256];
    char *qr = NULL, *line, *save = NULL;
    size_t width = 0, lines = 0;

    CHECK_INT(logto_qr_render("https://auth.example.com/device?user_code=BCDF-GHJK", &qr, &err), 0);
    if (!qr)
        return;
    for (line = strtok_r(qr, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
        size_t n = cells_of_line(line, strlen(line), cells, ELEMENTSOF(cells));
        if (lines == 0) {
            width = n;
            /* The top line is quiet zone: all light. */
            for (size_t i = 0; i < n; i++)
                CHECK(cell_is(cells[i], LIGHT_BOTH));
        }
        CHECK_INT(n, width);
        if (lines == 1 && n > 9) {
            /* Module rows 0 and 1 of the top-left finder pattern, after a 2-module margin:
             * dark/dark, then five dark-over-light, then dark/dark, then the light separator. */
            CHECK(cell_is(cells[0], LIGHT_BOTH) && cell_is(cells[1], LIGHT_BOTH));
            CHECK(cell_is(cells[2], " "));
            for (size_t i = 3; i <= 7; i++)
                CHECK(cell_is(cells[i], LIGHT_LOWER));
            CHECK(cell_is(cells[8], " "));
            CHECK(cell_is(cells[9], LIGHT_BOTH));
        }
    }
    /* A version-N symbol is 17 + 4N modules wide; two module rows per line. */
    CHECK(width >= 21 + 4 && (width - 4 - 17) % 4 == 0);
    CHECK_INT(lines, (width + 1) / 2);
    free(qr);

    CHECK_INT(logto_qr_render("", &qr, &err), -LOGTO_E_INVAL);
#else
    char *qr = NULL;
    struct logto_error err = { 0 };
    CHECK_INT(logto_qr_render("x", &qr, &err), -LOGTO_E_UNSUPPORTED);
#endif
}

/* ------------------------------------------------------------------ what is shown */

struct fake_ui {
    char shown[8192];
    int infos, prompts;
    bool prompt_echo;
    char question[128];
    bool fail_info, fail_prompt;
};

static int fake_info(void *data, const char *text)
{
    struct fake_ui *f = data;
    f->infos++;
    snprintf(f->shown, sizeof(f->shown), "%s", text);
    return f->fail_info ? -1 : 0;
}

static int fake_prompt(void *data, bool echo, const char *question, char **ret)
{
    struct fake_ui *f = data;
    f->prompts++;
    f->prompt_echo = echo;
    snprintf(f->question, sizeof(f->question), "%s", question);
    if (f->fail_prompt)
        return -1;
    *ret = strdup("");
    return *ret ? 0 : -1;
}

static struct logto_device_auth sample_auth(bool complete)
{
    static char code[] = "BCDF-GHJK", uri[] = "https://auth.example.com/device",
                uri_complete[] = "https://auth.example.com/device?user_code=BCDF-GHJK";
    return (struct logto_device_auth){
        .user_code = code,
        .verification_uri = uri,
        .verification_uri_complete = complete ? uri_complete : NULL,
    };
}

static int show(const struct logto_service *svc, bool terminal, bool buffers, bool complete,
                struct fake_ui *f, struct logto_error *err)
{
    struct logto_ui ui = { .info = fake_info,
                           .prompt = fake_prompt,
                           .data = f,
                           .terminal = terminal,
                           .buffers_info = buffers };
    struct logto_device_auth auth = sample_auth(complete);
    struct logto_ctx ctx = { 0 };

    return logto_device_show(&ctx, svc, &ui, &auth, err);
}

static void test_show_message(void)
{
    struct logto_error err = { 0 };
    struct fake_ui f = { 0 };

    CHECK_INT(show(NULL, false, false, true, &f, &err), 0);
    CHECK_INT(f.infos, 1);
    CHECK_CONTAINS(f.shown, "https://auth.example.com/device?user_code=BCDF-GHJK");
    CHECK_CONTAINS(f.shown, "confirm the code BCDF-GHJK");
    CHECK(strstr(f.shown, LIGHT_BOTH) == NULL); /* not a terminal: no QR */
    CHECK_INT(f.prompts, 0);

    memset(&f, 0, sizeof(f));
    CHECK_INT(show(NULL, false, false, false, &f, &err), 0);
    CHECK_CONTAINS(f.shown, "open\n\n  https://auth.example.com/device\n");
    CHECK_CONTAINS(f.shown, "enter the code BCDF-GHJK");
}

static void test_show_qr_switch(void)
{
    struct logto_service svc = { .qr = 0, .enter_prompt = LOGTO_AUTO };
    struct logto_error err = { 0 };
    struct fake_ui f = { 0 };

    CHECK_INT(show(NULL, true, false, true, &f, &err), 0);
#ifdef HAVE_QRENCODE
    CHECK(strstr(f.shown, LIGHT_BOTH) != NULL);
#endif
    memset(&f, 0, sizeof(f));
    CHECK_INT(show(&svc, true, false, true, &f, &err), 0);
    CHECK(strstr(f.shown, LIGHT_BOTH) == NULL);
    CHECK_INT(f.infos, 1);
}

static void test_show_enter_prompt(void)
{
    struct logto_service svc = { .qr = 1, .enter_prompt = LOGTO_AUTO };
    struct logto_error err = { 0 };
    struct fake_ui f = { 0 };

    /* A front end that buffers info text (OpenSSH): ask, echo off, after the message. */
    CHECK_INT(show(&svc, false, true, true, &f, &err), 0);
    CHECK_INT(f.infos, 1);
    CHECK_INT(f.prompts, 1);
    CHECK(!f.prompt_echo);
    CHECK_CONTAINS(f.question, "Press Enter once you have signed in");

    memset(&f, 0, sizeof(f));
    svc.enter_prompt = LOGTO_NO;
    CHECK_INT(show(&svc, false, true, true, &f, &err), 0);
    CHECK_INT(f.prompts, 0);

    memset(&f, 0, sizeof(f));
    svc.enter_prompt = LOGTO_YES;
    CHECK_INT(show(&svc, false, false, true, &f, &err), 0);
    CHECK_INT(f.prompts, 1);

    memset(&f, 0, sizeof(f));
    f.fail_prompt = true;
    CHECK_INT(show(&svc, false, false, true, &f, &err), -LOGTO_E_IO);
    CHECK_CONTAINS(err.message, "prompt");
}

static void test_show_failures(void)
{
    struct logto_error err = { 0 };
    struct fake_ui f = { .fail_info = true };
    struct logto_device_auth auth = sample_auth(true);
    struct logto_ctx ctx = { 0 };

    CHECK_INT(show(NULL, false, false, true, &f, &err), -LOGTO_E_IO);
    CHECK_CONTAINS(err.message, "could not be shown");
    CHECK_INT(logto_device_show(&ctx, NULL, NULL, &auth, &err), -LOGTO_E_INVAL);
}

/* ------------------------------------------------------------------ the code's lifetime */

/* The code's lifetime is kept on CLOCK_MONOTONIC: the structure holds no wall-clock time, so a
 * step of the wall clock (or of an injected logto_now) cannot end or stretch it. */
static void test_lifetime(void)
{
    struct logto_device_auth a = { 0 };
    int64_t before = logto_monotonic_ms();

    logto_device_set_lifetime(&a, 600);
    CHECK(a.deadline_ms >= before + 600 * 1000);
    CHECK(a.deadline_ms <= logto_monotonic_ms() + 600 * 1000);
    CHECK(logto_device_seconds_left(&a) >= 599 && logto_device_seconds_left(&a) <= 600);
    logto_device_set_lifetime(&a, 0);
    CHECK_INT(logto_device_seconds_left(&a), 0);
    a.deadline_ms = logto_monotonic_ms() - 1;
    CHECK_INT(logto_device_seconds_left(&a), 0);
}

TEST_MAIN(TEST(test_qr_render), TEST(test_show_message), TEST(test_show_qr_switch),
          TEST(test_show_enter_prompt), TEST(test_show_failures), TEST(test_lifetime))
