#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive an interactive program (ssh, su, sudo, pamtester) through a pseudo-terminal.

    ptydrive.py [--timeout S] [--log FILE] SCRIPT -- COMMAND [ARG...]

COMMAND runs in a new session with the pty as its controlling terminal and as stdin, stdout and
stderr, as if a person sat at a terminal. SCRIPT is a file of steps, one per line (blank lines
and lines starting with # are skipped):

    expect REGEX     wait until REGEX (Python syntax) matches the output that arrived since the
                     previous match; named groups become variables ({name} in later steps)
    reject REGEX     fail at once if REGEX matches any output seen so far (a leak, an error)
    send TEXT        type TEXT; \\r \\n \\t \\x03 escapes work; {var} is substituted
    sendline TEXT    type TEXT and press Enter (carriage return, as a terminal does)
    secret VAR       type the value of the environment variable VAR and press Enter (the secret
                     never appears in the script, the log or error messages)
    run COMMAND      run a shell command ({var} substituted); a non-zero exit status fails
    sleep SECONDS    wait
    timeout SECONDS  the time each later expect may take (default: --timeout)
    eof              wait for the program to exit (its output is still recorded)

After the script, the program is waited for (it is killed after the timeout). The exit status is
the program's (128+N when killed by signal N), or 124 when a step timed out, 125 when a step
failed: then the tail of the output goes to stderr. The whole transcript goes to --log.
"""

import argparse
import codecs
import errno
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import fcntl
import time


class StepFailed(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Session:
    def __init__(self, argv, log_path, timeout):
        self.timeout = timeout
        self.buf = b""  # everything received
        self.mark = 0  # where the next expect starts looking
        self.vars = {}
        self.log = open(log_path, "ab", buffering=0) if log_path else None
        self.status = None
        pid, fd = os.forkpty()
        if pid == 0:
            try:
                os.execvp(argv[0], argv)
            except OSError as e:
                os.write(2, ("ptydrive: cannot run %s: %s\n" % (argv[0], e)).encode())
            os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))

    def _read(self, deadline):
        """Read what is available until deadline; False at end of file."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            r, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if not r:
                if self._reap(nohang=True) and not self._drain():
                    return False
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError as e:
                if e.errno == errno.EIO:  # the other side is closed
                    return False
                raise
            if not data:
                return False
            self.buf += data
            if self.log:
                self.log.write(data)
            return True

    def _drain(self):
        try:
            r, _, _ = select.select([self.fd], [], [], 0)
            if r:
                data = os.read(self.fd, 65536)
                if data:
                    self.buf += data
                    if self.log:
                        self.log.write(data)
                    return True
        except OSError:
            pass
        return False

    def _reap(self, nohang=False):
        if self.status is not None:
            return True
        try:
            pid, st = os.waitpid(self.pid, os.WNOHANG if nohang else 0)
        except ChildProcessError:
            self.status = 255
            return True
        if pid == 0:
            return False
        self.status = os.waitstatus_to_exitcode(st)
        if self.status < 0:
            self.status = 128 - self.status
        return True

    def text(self, start=0):
        return self.buf[start:].decode("utf-8", "replace")

    def subst(self, s):
        return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: self.vars.get(m.group(1), m.group(0)), s)

    def expect(self, pattern):
        rx = re.compile(self.subst(pattern), re.S)
        deadline = time.monotonic() + self.timeout
        while True:
            text = self.buf[self.mark:].decode("utf-8", "surrogateescape")
            m = rx.search(text)
            if m:
                self.vars.update({k: v for k, v in m.groupdict().items() if v is not None})
                self.mark += len(text[: m.end()].encode("utf-8", "surrogateescape"))
                return
            if time.monotonic() >= deadline:
                raise StepFailed(124, "timed out after %gs waiting for /%s/" % (self.timeout, pattern))
            if not self._read(deadline):
                # End of output: one last look, then give up.
                text = self.buf[self.mark:].decode("utf-8", "surrogateescape")
                if rx.search(text):
                    continue
                raise StepFailed(125, "the program ended while waiting for /%s/" % pattern)

    def reject(self, pattern):
        if re.search(self.subst(pattern), self.text(), re.S):
            raise StepFailed(125, "output matches rejected /%s/" % pattern)

    def send(self, data):
        os.write(self.fd, data)

    def eof(self):
        deadline = time.monotonic() + self.timeout
        while self._read(deadline):
            if time.monotonic() >= deadline:
                raise StepFailed(124, "timed out after %gs waiting for the program to end" % self.timeout)
        self._drain()

    def finish(self):
        deadline = time.monotonic() + self.timeout
        while not self._reap(nohang=True):
            if time.monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                self._reap()
                raise StepFailed(124, "the program did not end within %gs" % self.timeout)
            if not self._read(min(deadline, time.monotonic() + 0.2)):
                time.sleep(0.05)
        self._drain()
        return self.status

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()


def unescape(s):
    return codecs.decode(s.encode("latin-1", "backslashreplace"), "unicode_escape").encode("latin-1")


def run_script(sess, steps, default_timeout):
    for lineno, line in steps:
        word, _, arg = line.partition(" ")
        if word == "expect":
            sess.expect(arg)
        elif word == "reject":
            sess.reject(arg)
        elif word == "send":
            sess.send(unescape(sess.subst(arg)))
        elif word == "sendline":
            sess.send(unescape(sess.subst(arg)) + b"\r")
        elif word == "secret":
            value = os.environ.get(arg)
            if value is None:
                raise StepFailed(125, "line %d: secret: $%s is not set" % (lineno, arg))
            sess.send(value.encode() + b"\r")
        elif word == "run":
            cmd = sess.subst(arg)
            r = subprocess.run(["/bin/sh", "-c", cmd], stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise StepFailed(125, "line %d: `%s` exited with %d" % (lineno, cmd, r.returncode))
        elif word == "sleep":
            end = time.monotonic() + float(arg)
            while time.monotonic() < end:
                sess._read(end)
        elif word == "timeout":
            sess.timeout = float(arg) if arg else default_timeout
        elif word == "eof":
            sess.eof()
        else:
            raise StepFailed(125, "line %d: unknown step %r" % (lineno, word))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--log")
    ap.add_argument("script")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command and a.command[0] == "--" else a.command
    if not cmd:
        ap.error("no command")
    steps = []
    with open(a.script, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.strip() and not line.lstrip().startswith("#"):
                steps.append((n, line.lstrip()))
    sess = Session(cmd, a.log, a.timeout)
    try:
        run_script(sess, steps, a.timeout)
        status = sess.finish()
    except StepFailed as e:
        sess.kill()
        tail = sess.text()[-2000:]
        sys.stderr.write("ptydrive: %s\nptydrive: last output:\n%s\n" % (e, tail))
        return e.status
    return status


if __name__ == "__main__":
    sys.exit(main())
