#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate the build system (needs autoconf, automake, libtool, pkg-config, autoconf-archive).
set -e
cd "$(dirname "$0")"
autoreconf --force --install --verbose "$@"
