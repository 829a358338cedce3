#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The driver of bench/fleet-bench.sh (see there and bench/README.md): run against a test IdP
that bench/fleet-bench.sh started with --static-dir (IDP_URL, IDP_CA, IDP_CONTROL, RELAY_DIR in
the environment).

  fleet_bench.py tenant LOGTOCTL TMP HOSTS...   requests and bytes at the tenant per sync period,
                                                direct vs relay, real logtoctl processes per host
  fleet_bench.py host LOGTOCTL TMP RUNS         host-side cost of a relay sync (with a change, 304)
                                                against a direct sync of the same directory
"""
import http.client, json, os, shutil, statistics, subprocess, sys, time, urllib.parse
from concurrent.futures import ThreadPoolExecutor

IDP_URL, IDP_CA, CONTROL = os.environ["IDP_URL"], os.environ["IDP_CA"], os.environ["IDP_CONTROL"]
RELAY_DIR = os.environ["RELAY_DIR"]
USERS = int(os.environ["USERS"])
PARALLEL = int(os.environ.get("PARALLEL", "2"))


def die(msg):
    sys.exit(f"fleet-bench: {msg}")


def control(method, path, body=None):
    u = urllib.parse.urlsplit(CONTROL)
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"content-type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 400:
        die(f"control {method} {path}: HTTP {r.status}")
    return json.loads(data) if data else None


def stats():
    s = control("GET", "/stats")
    return {"requests": s["total"], "bytes": s["bytes_in"] + s["bytes_out"], "out": s["bytes_out"],
            "tokens": s["by_route"].get("POST /oidc/token", 0),
            "relay_requests": s["relay"], "relay_bytes": s["relay_bytes_in"] + s["relay_bytes_out"],
            "relay_out": s["relay_bytes_out"]}


def write_config(path, state, extra):
    os.makedirs(f"{state}/state", mode=0o755, exist_ok=True)
    os.makedirs(f"{state}/cache", mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(f"""[logto]
endpoint = {IDP_URL}
client_id = device-app
ca_file = {IDP_CA}
timeout = 300s
[paths]
state_dir = {state}/state
cache_dir = {state}/cache
{extra}
[service *]
allow_any_user = yes
""")
    os.chmod(path, 0o644)


def run(logtoctl, conf, *args):
    p = subprocess.run([logtoctl, "--config", conf, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def run_measured(logtoctl, conf, *args):
    """One logtoctl process: wall time, CPU (user + system) and peak RSS from its own rusage."""
    t0 = time.perf_counter()
    p = subprocess.Popen([logtoctl, "--config", conf, *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        die(f"logtoctl {' '.join(args)} ({conf}) failed: {err.decode(errors='replace').strip()[-400:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss * 1024}


def must(logtoctl, conf, *args):
    rc, out, err = run(logtoctl, conf, *args)
    if rc != 0:
        die(f"logtoctl {' '.join(args)} ({conf}) failed (exit {rc}): {err.strip()[-400:]}")
    return out


def keys(tmp):
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", f"{tmp}/sign.pem"],
                   check=True, capture_output=True)
    os.chmod(f"{tmp}/sign.pem", 0o600)
    subprocess.run(["openssl", "pkey", "-in", f"{tmp}/sign.pem", "-pubout", "-out",
                    f"{tmp}/sign.pub"], check=True, capture_output=True)
    os.chmod(f"{tmp}/sign.pub", 0o644)
    with open(f"{tmp}/m2m.secret", "w") as f:
        f.write("m2m-secret\n")
    os.chmod(f"{tmp}/m2m.secret", 0o600)


def sync_section(tmp):
    # No pacing: requests and bytes (and the fetch's own cost), not a tenant's rate limit.
    return f"""[sync]
m2m_client_id = m2m-app
m2m_client_secret_file = {tmp}/m2m.secret
request_interval = 0"""


def publisher(tmp):
    conf = f"{tmp}/publisher.conf"
    write_config(conf, f"{tmp}/publisher", sync_section(tmp) +
                 f"\n[publish]\nsign_key_file = {tmp}/sign.pem")
    return conf


def direct_host(tmp, name):
    conf = f"{tmp}/{name}.conf"
    write_config(conf, f"{tmp}/{name}", sync_section(tmp))
    return conf


def relay_host(tmp, name):
    conf = f"{tmp}/{name}.conf"
    write_config(conf, f"{tmp}/{name}",
                 f"[relay]\nurl = {IDP_URL}/relay\npublic_key_file = {tmp}/sign.pub")
    return conf


change_count = 0


def change():
    """A change in the tenant: one user's roles, alternately two and one."""
    global change_count
    change_count += 1
    user = f"user{1:0{max(5, len(str(USERS)))}d}"
    roles = ["grole001", "grole002"] if change_count % 2 else ["grole001"]
    control("PATCH", f"/users/{user}", {"roles": roles})
    got = control("GET", f"/users/{user}")["roles"]
    if sorted(got) != roles:
        die(f"the change did not take: {user} has roles {got}")


def publish(logtoctl, conf, expect_written):
    rep = json.loads(must(logtoctl, conf, "publish", "--json", RELAY_DIR))
    if rep["written"] != expect_written:
        die(f"publish wrote {rep['written']}, expected {expect_written}")
    return rep


def everyone(logtoctl, confs, *args):
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda c: must(logtoctl, c, *args), confs))


def human(n):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def ratio(x):
    return f"{x:.2f}x" if x >= 0.01 else f"1/{1 / x:,.0f}" if x > 0 else "0"


# ---------------------------------------------------------------------------------- tenant


def tenant(logtoctl, tmp, hosts):
    keys(tmp)
    pub = publisher(tmp)
    n = max(hosts)
    direct = [direct_host(tmp, f"d{i:05d}") for i in range(n)]
    relay = [relay_host(tmp, f"r{i:05d}") for i in range(n)]
    # Warm-up period: every host has a snapshot (and a direct host its cached M2M token), the
    # publisher its first manifest.
    t0 = time.perf_counter()
    publish(logtoctl, pub, True)
    everyone(logtoctl, direct, "sync")
    everyone(logtoctl, relay, "sync")
    print(f"warm-up: publish, {n} direct and {n} relay syncs in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    rows = {}
    for changed in (False, True):
        for h in hosts:
            if changed:
                change()
            # direct: h hosts, each its own full fetch
            control("POST", "/stats/reset")
            everyone(logtoctl, direct[:h], "sync")
            d = stats()
            if d["relay_requests"]:
                die("a direct sync asked the relay")
            # relay: one publish at the tenant, then h hosts at the static server (all relay
            # hosts first caught up, uncounted, so that each measured one starts from the last
            # period's directory)
            everyone(logtoctl, relay, "sync")
            control("POST", "/stats/reset")
            publish(logtoctl, pub, changed)
            p = stats()
            control("POST", "/stats/reset")
            everyone(logtoctl, relay[:h], "sync")
            r = stats()
            if r["requests"]:
                die(f"relay hosts made {r['requests']} requests to the tenant")
            want = 2 if changed else 1
            if r["relay_requests"] != want * h:
                die(f"{h} relay hosts made {r['relay_requests']} requests, expected {want * h}")
            rows[(changed, h)] = (d, p, r)
    manifest = os.path.getsize(f"{RELAY_DIR}/manifest.json")
    objects = sorted((os.path.getmtime(os.path.join(RELAY_DIR, f)), os.path.getsize(os.path.join(RELAY_DIR, f)))
                     for f in os.listdir(RELAY_DIR) if f.startswith("directory-"))
    print(f"tenant: {USERS} users, 50 roles, 50 organizations (plus the fixtures'); published "
          f"object {human(objects[-1][1])}, manifest {manifest} B")
    print("period: one run of every host's logtoctl sync (logto-sync.timer: every 15 min), and on a"
          " relay one logtoctl publish; bytes: requests + answers at the HTTP level (headers, no TLS)")
    big = 10000
    for changed in (False, True):
        print(f"\n{'a period with a change (one user role)' if changed else 'a period without a change'}:")
        print(f"{'':<44}{'requests':>10}{'bytes':>11}   how")
        for h in hosts:
            d, p, r = rows[(changed, h)]
            print(f"{f'{h} host(s), direct: tenant':<44}{d['requests']:>10,}{human(d['bytes']):>11}"
                  f"   measured: {h} logtoctl sync ({d['tokens']} token requests)")
        h = max(hosts)
        d, p, r = rows[(changed, h)]
        per_req, per_bytes = d["requests"] / h, d["bytes"] / h
        print(f"{f'{big:,} hosts, direct: tenant':<44}{per_req * big:>10,.0f}{human(per_bytes * big):>11}"
              f"   = {big:,} x ({d['requests']:,} requests, {human(d['bytes'])}) / {h} measured")
        for h in hosts:
            d, p, r = rows[(changed, h)]
            print(f"{f'{h} host(s), relay: tenant (one publish)':<44}{p['requests']:>10,}{human(p['bytes']):>11}"
                  f"   measured")
            print(f"{f'{h} host(s), relay: static server':<44}{r['relay_requests']:>10,}"
                  f"{human(r['relay_bytes']):>11}   measured: {h} logtoctl sync, 0 tenant requests")
        h = max(hosts)
        d, p, r = rows[(changed, h)]
        print(f"{f'{big:,} hosts, relay: tenant (one publish)':<44}{p['requests']:>10,}{human(p['bytes']):>11}"
              f"   = the publish measured: independent of the hosts")
        print(f"{f'{big:,} hosts, relay: static server':<44}{r['relay_requests'] / h * big:>10,.0f}"
              f"{human(r['relay_bytes'] / h * big):>11}   = {big:,} x ({r['relay_requests']} requests, "
              f"{human(r['relay_bytes'])}) / {h} measured")
        print(f"tenant load at {big:,} hosts, direct / relay: "
              f"{per_req * big / p['requests']:,.0f}x the requests, "
              f"{per_bytes * big / p['bytes']:,.0f}x the bytes")


# ---------------------------------------------------------------------------------- host


def host(logtoctl, tmp, runs):
    keys(tmp)
    pub = publisher(tmp)
    dconf, rconf = direct_host(tmp, "direct"), relay_host(tmp, "relay")
    rstate = f"{tmp}/relay/state"
    t0 = time.perf_counter()
    publish(logtoctl, pub, True)
    must(logtoctl, rconf, "sync")
    must(logtoctl, dconf, "sync")  # its snapshot, and its M2M token cached
    shutil.copytree(rstate, f"{tmp}/relay-before", symlinks=True)
    change()
    rep = publish(logtoctl, pub, True)
    print(f"setup (IdP up, 2 publishes, 2 syncs): {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    def direct_sync():
        control("POST", "/stats/reset")
        m = run_measured(logtoctl, dconf, "sync")
        s = stats()
        return m | {"requests": s["requests"], "fetched": s["out"]}

    def relay_changed():
        # the state this host had before the change: the previous directory installed
        shutil.rmtree(rstate)
        shutil.copytree(f"{tmp}/relay-before", rstate, symlinks=True)
        control("POST", "/stats/reset")
        m = run_measured(logtoctl, rconf, "sync")
        s = stats()
        if s["relay_requests"] != 2 or s["requests"]:
            die(f"a relay sync with a change made {s['relay_requests']} relay requests, {s['requests']} tenant ones")
        return m | {"requests": s["relay_requests"], "fetched": s["relay_out"]}

    def relay_unchanged():
        must(logtoctl, rconf, "sync")  # the current directory installed (untimed)
        control("POST", "/stats/reset")
        m = run_measured(logtoctl, rconf, "sync")
        s = stats()
        if s["relay_requests"] != 1 or s["requests"]:
            die(f"an unchanged relay sync made {s['relay_requests']} relay requests, {s['requests']} tenant ones")
        return m | {"requests": 1, "fetched": s["relay_out"]}

    kinds = {"direct sync (baseline)": direct_sync, "relay sync, a change": relay_changed,
             "relay sync, unchanged (304)": relay_unchanged}
    res = {k: [] for k in kinds}
    names = list(kinds)
    for i in range(runs):
        for k in names[i % 3:] + names[:i % 3]:  # rotated, so drift hits every kind alike
            res[k].append(kinds[k]())
    snap = os.path.getsize(f"{rstate}/directory.snapshot")
    print(f"\ndirectory: {USERS} users (tenant), snapshot {human(snap)}, published object "
          f"{human(rep['size'])}; {runs} runs of each, rotated; medians (CPU: user + system of "
          f"the logtoctl process; fetched: answer bytes, headers included)")
    print(f"{'':<30}{'wall':>9}{'CPU':>9}{'peak RSS':>11}{'fetched':>11}{'requests':>10}")
    base = {f: statistics.median(r[f] for r in res[names[0]]) for f in ("wall", "cpu", "rss", "fetched", "requests")}
    for k in names:
        med = {f: statistics.median(r[f] for r in res[k]) for f in base}
        print(f"{k:<30}{med['wall']:>8.3f}s{med['cpu']:>8.3f}s{human(med['rss']):>11}"
              f"{human(med['fetched']):>11}{med['requests']:>10.0f}")
        if k != names[0]:
            print(f"{'  ratio to the direct sync':<30}" + "".join(
                f"{ratio(med[f] / base[f]):>{w}}" for f, w in
                (("wall", 9), ("cpu", 9), ("rss", 11), ("fetched", 11), ("requests", 10))))


if __name__ == "__main__":
    mode, logtoctl, tmp = sys.argv[1:4]
    if mode == "tenant":
        tenant(logtoctl, tmp, [int(h) for h in sys.argv[4:]])
    elif mode == "host":
        host(logtoctl, tmp, int(sys.argv[4]))
    else:
        die(f"unknown mode {mode}")
