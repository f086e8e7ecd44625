"""Helpers for the cleanup, sendmail and pickup system tests: a reader for
queue files (Postfix's record format), the cleanup protocol spoken by hand,
and an instance with only the services these tests need."""
import os
import pathlib
import socket
import subprocess
import time

from instance import Instance, wait_until, BIN

# master.cf with the intake services only (no qmgr, so queue files stay in
# incoming/ where the tests can read them). pickup's wakeup is 1s: our
# master sends the first wakeup one period after start (Postfix's at once).
INTAKE_MASTER_CF = """\
pickup    unix  n       -       n       1       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
rewrite   unix  -       -       n       -       -       trivial-rewrite
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def intake_instance(tmp_path, **main):
    """An Instance (not started) running only pickup, cleanup, rewrite, postlogd."""
    inst = Instance(tmp_path)
    inst.write_master_cf(INTAKE_MASTER_CF)
    if main:
        inst.set_main(**main)
    # Make the queue directories, as installing does (postdrop needs maildrop/).
    r = inst.postfix("check")
    assert r.returncode == 0, r.stderr
    return inst


# --- queue files -------------------------------------------------------

def read_records(path):
    """[(type char, bytes payload)] of a queue file."""
    data = pathlib.Path(path).read_bytes()
    out, i = [], 0
    while i < len(data):
        t = chr(data[i])
        i += 1
        n, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        out.append((t, data[i:i + n]))
        i += n
    return out


class QueueFile:
    """What a test wants to know about a queue file."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.mode = self.path.stat().st_mode & 0o7777
        self.records = read_records(path)
        self.envelope, self.content, self.extracted = [], [], []
        seg = self.envelope
        for t, d in self.records:
            if t == "M" and seg is self.envelope:
                seg = self.content
                continue
            if t == "X" and seg is self.content:
                seg = self.extracted
                continue
            seg.append((t, d.decode("utf-8", "replace")))

    def types(self):
        return "".join(t for t, _ in self.records)

    def of(self, t, segment=None):
        segs = [segment] if segment is not None else [self.envelope, self.content, self.extracted]
        return [d for s in segs for (tt, d) in s if tt == t]

    @property
    def recipients(self):
        return self.of("R", self.envelope) + self.of("R", self.extracted)

    @property
    def sender(self):
        return self.of("S", self.envelope)[0]

    @property
    def lines(self):
        return [d for t, d in self.content if t == "N"]

    @property
    def headers(self):
        """Header lines (continuations included) up to the first empty line."""
        out = []
        for line in self.lines:
            if line == "":
                break
            out.append(line)
        return out

    def header(self, name):
        for h in self.headers:
            if h.lower().startswith(name.lower() + ":"):
                return h.split(":", 1)[1].strip()
        return None


def queue_files(spool, queue):
    d = pathlib.Path(spool) / queue
    if not d.exists():
        return []
    return sorted(p for p in d.rglob("*") if p.is_file())


def wait_for_queue_file(spool, queue, count=1, timeout=15):
    """The first `count` complete files (owner rwx) in `queue`."""
    def ready():
        files = [p for p in queue_files(spool, queue) if p.stat().st_mode & 0o700 == 0o700]
        return files if len(files) >= count else None
    return [QueueFile(p) for p in wait_until(ready, timeout, what=f"{count} file(s) in {queue}/")]


# --- programs ------------------------------------------------------------

def sendmail(inst, args, message, timeout=30, argv0=None):
    """Runs our sendmail against the instance; CompletedProcess (text)."""
    argv = [str(BIN / "sendmail"), "-C", str(inst.etc), *map(str, args)]
    kw = {}
    if argv0:
        kw["executable"] = argv[0]
        argv[0] = argv0
    return subprocess.run(argv, input=message, capture_output=True, text=True, timeout=timeout,
                          **kw)


# --- the cleanup protocol by hand ------------------------------------------

def encode_record(t, data=b""):
    if isinstance(data, str):
        data = data.encode()
    n = len(data)
    out = bytearray([ord(t)])
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            break
    return bytes(out) + data


def attr_encode(pairs):
    return b"".join(k.encode() + b"\0" + str(v).encode() + b"\0" for k, v in pairs) + b"\0"


def _read_token(sock):
    buf = b""
    while True:
        try:
            c = sock.recv(1)
        except ConnectionResetError:
            return None
        if not c:
            return None
        if c == b"\0":
            return buf
        buf += c


def attr_read(sock):
    """One attr0 list from the socket as a dict (None at EOF)."""
    out = {}
    while True:
        name = _read_token(sock)
        if name is None:
            return None
        if name == b"":
            return out
        value = _read_token(sock)
        if value is None:
            return None
        out[name.decode()] = value.decode()


def cleanup_connect(socket_path, flags=0, timeout=20):
    """Connects to cleanup; (socket, queue_id) after sending the flags."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(socket_path))
    hello = attr_read(s)
    assert hello and hello.get("protocol") == "cleanup_protocol", hello
    s.sendall(attr_encode([("flags", flags)]))
    return s, hello["queue_id"]


def message_records(sender, recipients, lines, context="local"):
    recs = [("T", f"{int(time.time())} 0"), ("A", f"rewrite_context={context}"), ("S", sender)]
    recs += [("R", r) for r in recipients]
    recs.append(("M", ""))
    recs += [("N", line) for line in lines]
    recs += [("X", ""), ("E", "")]
    return b"".join(encode_record(t, d) for t, d in recs)


def cleanup_submit(socket_path, sender, recipients, lines, flags=0, context="local"):
    """Sends one message; (queue_id, reply dict)."""
    s, qid = cleanup_connect(socket_path, flags)
    with s:
        s.sendall(message_records(sender, recipients, lines, context))
        return qid, attr_read(s)


def start_oracle(pf):
    """Starts a PostfixInstance; retries, since `postfix start` was seen to
    fail without a message while other oracles started on the machine. Skips
    the test when Debian's Postfix will not start at all."""
    import pytest
    for attempt in range(3):
        r = pf.command("postfix", "start")
        if r.returncode == 0:
            pf.started = True
            from postfix_oracle import wait_for_port
            wait_for_port(pf.port)
            return
        pf.command("postfix", "stop")
        time.sleep(3)
    pytest.skip(f"Debian's Postfix did not start: {r.stdout} {r.stderr}")
