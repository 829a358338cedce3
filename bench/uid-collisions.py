#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hashed UID collisions by directory size: computed, and measured with the real hash.

The UID of a user without custom_data[uid_key] is (common/identity.h)

    id_min + (first 8 bytes of SHA-256("logto-uid:" || sub), big-endian) mod (id_max - id_min + 1)

For n users in a range of N IDs, the chance that at least two share a UID is
1 - prod_{k<n} (1 - k/N), about 1 - exp(-n(n-1)/2N), and the expected number of colliding
pairs is n(n-1)/2N. The measurement hashes random Logto-style user IDs (12 characters of
[a-z0-9], as Logto's generateStandardShortId makes them) and counts the trials with a collision.

usage: bench/uid-collisions.py [--trials T] [--sizes 1000,10000,...] [--range MIN-MAX] [--seed S]
"""
import argparse
import hashlib
import math
import random
import string
import sys

ALPHABET = string.ascii_lowercase + string.digits


def uid(sub, lo, size):
    h = hashlib.sha256(b"logto-uid:" + sub.encode()).digest()
    return lo + int.from_bytes(h[:8], "big") % size


def computed(n, size):
    # log of prod (1 - k/N), summed exactly for the sizes we print (n << N)
    log_none = sum(math.log1p(-k / size) for k in range(n))
    return -math.expm1(log_none), n * (n - 1) / (2 * size)


def measured(n, lo, size, trials, rng):
    hits = 0
    for _ in range(trials):
        seen = set()
        for _ in range(n):
            sub = "".join(rng.choice(ALPHABET) for _ in range(12))
            u = uid(sub, lo, size)
            if u in seen:
                hits += 1
                break
            seen.add(u)
    return hits / trials


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--sizes", default="1000,2000,5000,10000,20000,50000,100000")
    ap.add_argument("--measure-up-to", type=int, default=20000,
                    help="measure only sizes up to this (hashing is slow in Python)")
    ap.add_argument("--range", default="1879048192-2147352575")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.range.split("-"))
    size = hi - lo + 1
    rng = random.Random(a.seed)
    print(f"id_range {lo}-{hi} ({size} IDs), {a.trials} trials per measured size")
    print("| users | P(at least one collision), computed | measured | expected colliding pairs |")
    print("| ---: | ---: | ---: | ---: |")
    for n in (int(x) for x in a.sizes.split(",")):
        p, pairs = computed(n, size)
        m = f"{measured(n, lo, size, a.trials, rng):.1%}" if n <= a.measure_up_to else "-"
        print(f"| {n:,} | {p:.2%} | {m} | {pairs:.3f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
