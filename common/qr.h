/* SPDX-License-Identifier: MIT */
/*
 * QR codes for the terminal (libqrencode), so a phone can open the device-flow link. Compact:
 * each module is one character wide and two module rows share a line (UTF-8 half blocks), with
 * a two-module quiet zone. Light modules are drawn and dark ones left blank, which suits the
 * dark background of most terminals (the `qrencode -t UTF8` convention).
 */
#pragma once

#include "error.h"

#define LOGTO_QR_MAX_TEXT 1024
#define LOGTO_QR_MARGIN   2

/* Render text; *ret is a malloc'd string of lines, each ending in '\n'. Without libqrencode
 * (configure --without-qrencode) this fails with LOGTO_E_UNSUPPORTED. */
int logto_qr_render(const char *text, char **ret, struct logto_error *err);
