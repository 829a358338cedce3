/* SPDX-License-Identifier: MIT */
/*
 * How a flow talks to the person signing in. The PAM module implements it with the PAM
 * conversation, logtoctl with the terminal. Answers are heap strings the flow wipes and frees.
 */
#pragma once

#include <stdbool.h>

struct logto_ui {
    /* Show text (may be several lines). Returns 0, or < 0 if it could not be shown. */
    int (*info)(void *data, const char *text);
    /* Show an error message. */
    int (*error)(void *data, const char *text);
    /* Ask a question; *ret_answer is set to a malloc'd string. echo=false for secrets. */
    int (*prompt)(void *data, bool echo, const char *question, char **ret_answer);
    void *data;
    /* The front end buffers info text until the next prompt (OpenSSH does): the device flow
     * then asks "press Enter" before it starts polling, so the code is shown in time. */
    bool buffers_info;
    /* Terminal output is possible (QR codes need a monospace terminal). */
    bool terminal;
    /* One line saying what a device code is for (user, service, host), shown with the code so
     * that a forwarded code can be recognised; NULL: none. */
    const char *purpose;
};
