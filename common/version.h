/* SPDX-License-Identifier: MIT */
/* Version and build information. */
#pragma once

#include <stddef.h>

/* Writes e.g. "nss-pam-logto 0.1.0 (libcurl 7.88.1, OpenSSL 3.0.x, jansson 2.14, cjose 0.6.2.1)".
 */
void logto_version_string(char *buf, size_t len);
