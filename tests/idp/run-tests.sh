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
    # A build from a tarball (make distcheck): run a copy next to configure's
    # --with-idp-node-modules.
    if [ -z "${LOGTO_IDP_NODE_MODULES:-}" ] || [ ! -d "$LOGTO_IDP_NODE_MODULES/oidc-provider" ]; then
        echo "SKIP: $here/node_modules is missing (run 'npm ci' in tests/idp)" >&2
        exit 77
    fi
    copy=$(mktemp -d "${TMPDIR:-/tmp}/logto-idp-tests.XXXXXX") || exit 1
    trap 'rm -rf "$copy"' EXIT
    cp -R "$here/." "$copy/" && ln -s "$LOGTO_IDP_NODE_MODULES" "$copy/node_modules" || exit 1
    here=$copy
fi
cd "$here" || exit 1
node --test test/
