#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A syslog sink for end-to-end tests: `syslogd.py SOCKET FILE READY`.

Binds the datagram socket SOCKET (/dev/log inside the test's mount namespace), creates READY
once it listens, and appends every message to FILE, one line each, flushed at once, so tests
can assert what sshd, sudo, su and pam_logto logged (and that no secret was logged). Stops on
SIGTERM or when its parent (the test shell) is gone.
"""

import os
import signal
import socket
import sys


def main():
    path, out_path, ready = sys.argv[1:4]
    parent = os.getppid()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    sock.settimeout(1.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out_path, "ab", buffering=0) as out:
        open(ready, "w").close()
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                if os.getppid() != parent:
                    return 0
                continue
            out.write(data.rstrip(b"\0\n").replace(b"\n", b" ") + b"\n")


if __name__ == "__main__":
    sys.exit(main())
