#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes tests/fuzz/vectors.h from tests/data/jwt/vectors.json (run from the top source dir).
import json


def cstr(s, indent="    "):
    """C string literal lines of at most 100 columns, never split inside an escape."""
    out, i = [], 0
    while i < len(s):
        chunk = ""
        while i < len(s):
            e = s[i].replace("\\", "\\\\").replace('"', '\\"')
            if len(chunk) + len(e) > 88:
                break
            chunk += e
            i += 1
        out.append(indent + '"' + chunk + '"')
    return "\n".join(out)


d = json.load(open("tests/data/jwt/vectors.json"))
cases = {c["name"]: c for c in d["cases"]}
names = ["es256", "es384", "es512", "rs256", "ps256", "rs256-jwks-alg", "no-kid-single-candidate"]
L = [
    "/* SPDX-License-Identifier: MIT */",
    "/*",
    " * Known-answer material from tests/data/jwt/vectors.json (written by make-vectors.mjs): its",
    ' * JWKS, issuer and client, and tokens that verify against them at its "now" (FUZZ_NOW).',
    " * tests/fuzz/make-vectors-h.py writes this file from vectors.json.",
    " */",
    "#pragma once",
    "",
    '#define FUZZ_VECTOR_ISSUER    "%s"' % d["issuer"],
    '#define FUZZ_VECTOR_CLIENT_ID "%s"' % d["client_id"],
    '#define FUZZ_VECTOR_NONCE     "%s"' % cases["nonce-match"]["nonce"],
    "",
    "static const char fuzz_vector_jwks[] =",
    cstr(json.dumps(d["jwks"], separators=(",", ":"))) + ";",
    "",
    '/* Tokens that verify (vectors.json cases with expect "ok"). */',
    "static const char *const fuzz_vector_tokens[] = {",
]
for n in names:
    assert cases[n]["expect"] == "ok", n
    L.append("    /* %s */" % n)
    L.append(cstr(cases[n]["token"]) + ",")
L.append("};")
open("tests/fuzz/vectors.h", "w").write("\n".join(L) + "\n")
