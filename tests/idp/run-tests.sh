#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the test IdP's own node test suite (tests/idp/test/*.test.js).
# Exit status: that of `node --test`, or 77 (automake SKIP) when node, openssl or
# tests/idp/node_modules is missing. Nothing is installed from here: run `npm ci` in tests/idp.
here=$(cd "$(dirname "$0")" && pwd) || exit 1
for cmd in node openssl sh; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "SKIP: $cmd is not installed" >&2
        exit 77
    fi
done
if [ ! -d "$here/node_modules/oidc-provider" ]; then
    echo "SKIP: $here/node_modules is missing (run 'npm ci' in tests/idp)" >&2
    exit 77
fi
cd "$here" || exit 1
node --test test/
