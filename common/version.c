/* SPDX-License-Identifier: MIT */
/* Version and build information. */
#include "config.h"

#include <cjose/version.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "version.h"

void logto_version_string(char *buf, size_t len)
{
    snprintf(buf, len, "%s %s (libcurl %s, %s, jansson %s, cjose %s)", PACKAGE_NAME,
             PACKAGE_VERSION, curl_version_info(CURLVERSION_NOW)->version,
             OpenSSL_version(OPENSSL_VERSION), jansson_version_str(), cjose_version());
}
