"""Queue states for the queue administration tests (postqueue, postsuper,
qshape, flush): writes queue files in Postfix's record format
(../shared/COMPAT.md section 4) straight into a spool, named by their inode
as Postfix names them, plus defer logs. Works for a Postern instance and for
Debian's Postfix alike, so both can be asked about the same queue state.

    qid = write_queue_file(spool, "deferred", "a@b.test", ["x@y.test"],
                           arrival=1700000000, reasons={"x@y.test": "connect ...: refused"})
"""
import os
import pwd
import time

HASHED = ("deferred", "defer")


def leb128(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def record(rtype, data=b""):
    if isinstance(data, str):
        data = data.encode()
    return rtype.encode() + leb128(len(data)) + data


def queue_path(spool, queue, qid, hashed=HASHED, depth=1):
    d = os.path.join(str(spool), queue)
    if queue in hashed:
        for i in range(depth):
            d = os.path.join(d, qid[i] if i < len(qid) else "_")
    return os.path.join(d, qid)


def build_queue_file(sender, recipients, arrival, body_lines, done=(), maildrop=False):
    """The bytes of a queue file (a maildrop file when `maildrop`: no C record)."""
    env = bytearray()
    if not maildrop:
        env += record("C", " ".join(["%15d" % 0] * 6))  # patched below
    env += record("T", f"{arrival} 0")
    if not maildrop:
        env += record("A", f"create_time={arrival}")
    env += record("A", "rewrite_context=local")
    env += record("S", sender)
    for r in recipients:
        env += record("D" if r in done else "R", r)
    env += record("M")
    data_offset = len(env)
    content = bytearray()
    for line in body_lines:
        content += record("N", line)
    tail = record("X") + record("E")
    if not maildrop:
        size = len(content)
        live = sum(1 for r in recipients if r not in done)
        c = " ".join("%15d" % v for v in (size, data_offset, live, 0, size, 0))
        env[0:len(record("C", c))] = record("C", c)
    return bytes(env + content + tail)


def write_queue_file(spool, queue, sender, recipients, arrival=None, body_lines=None,
                     reasons=None, done=(), mode=0o700, owner=None, hashed=HASHED,
                     size_lines=3):
    """Writes a complete queue file into spool/queue under an inode-based
    short queue ID and returns the ID. `reasons` (recipient -> text) writes a
    defer log. `owner` (user name) chowns the files (the mail_owner)."""
    arrival = int(time.time()) if arrival is None else int(arrival)
    if body_lines is None:
        body_lines = ["Subject: test", "", *(f"line {i}" for i in range(size_lines))]
    data = build_queue_file(sender, recipients, arrival, body_lines, done,
                            maildrop=(queue == "maildrop"))
    qdir = os.path.join(str(spool), queue)
    while True:
        usec = int(time.time() * 1e6) % 1000000
        tmp = os.path.join(qdir, f"{usec}.{os.getpid()}")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.write(fd, data)
        inode = os.fstat(fd).st_ino
        os.close(fd)
        qid = "%05X%X" % (usec, inode)
        path = queue_path(spool, queue, qid, hashed)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.link(tmp, path)
        except FileExistsError:
            os.unlink(tmp)
            continue
        os.unlink(tmp)
        break
    os.chmod(path, 0o744 if queue == "maildrop" else mode)
    os.utime(path, (arrival, arrival))
    files = [path]
    if reasons:
        log = queue_path(spool, "defer", qid, hashed)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "w") as f:
            for rcpt, why in reasons.items():
                f.write(f"\n<{rcpt}>: {why}\nrecipient={rcpt}\noffset=0\nstatus=4.4.1\n"
                        f"action=delayed\nreason={why}\n\n")
        files.append(log)
    if owner:
        pw = pwd.getpwnam(owner)
        for p in files:
            os.chown(p, pw.pw_uid, pw.pw_gid)
            d = os.path.dirname(p)
            if os.path.basename(os.path.dirname(d)) in HASHED:
                os.chown(d, pw.pw_uid, pw.pw_gid)
    return qid


def find_queue_file(spool, qid):
    """The queue name holding `qid`, or None."""
    for q in ("maildrop", "incoming", "active", "deferred", "hold", "corrupt"):
        for hashed in (HASHED, ()):
            if os.path.exists(queue_path(spool, q, qid, hashed)):
                return q
    return None


# --- instances -------------------------------------------------------------

QADMIN_MASTER_CF = """\
showq     unix  n       -       y       -       -       showq
flush     unix  n       -       y       1000?   0       flush
anvil     unix  -       -       n       -       1       anvil
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def mail_owner(inst):
    """The instance's mail_owner (queue files must belong to it)."""
    for line in (inst.etc / "main.cf").read_text().splitlines():
        if line.startswith("mail_owner ="):
            return line.split("=", 1)[1].strip()
    return None


def start_qadmin_instance(inst, **main):
    """Starts `inst` with only the services queue administration needs
    (showq, flush, anvil, postlogd): no qmgr, so queue files stay put.
    showq and flush run chrooted to the queue directory, as in Debian's
    master.cf (when started by root)."""
    inst.write_master_cf(QADMIN_MASTER_CF)
    if main:
        inst.set_main(**main)
    inst.start()
    return inst


class TriggerSink:
    """A UNIX socket standing in for a trigger service (qmgr, pickup):
    records the bytes each client writes."""

    def __init__(self, path):
        import socket
        import threading
        self.path = str(path)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.received = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(2)
            data = b""
            try:
                while True:
                    chunk = conn.recv(100)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            conn.close()
            self.received.append(data)

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def attr0_request(path, pairs, timeout=10):
    """One request to an attr0 (NUL-encoded) service: reads the
    announcement, sends `pairs`, returns (announcement, reply) as dicts."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    buf = b""

    def read_list():
        nonlocal buf
        while True:
            items, pos, name = {}, 0, None
            while True:
                nul = buf.find(b"\0", pos)
                if nul < 0:
                    break
                token = buf[pos:nul].decode()
                pos = nul + 1
                if name is None:
                    if token == "":
                        buf = buf[pos:]
                        return items
                    name = token
                else:
                    items[name] = token
                    name = None
            chunk = s.recv(4096)
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk

    announcement = read_list()
    msg = b"".join(k.encode() + b"\0" + str(v).encode() + b"\0" for k, v in pairs) + b"\0"
    s.sendall(msg)
    reply = read_list()
    s.close()
    return announcement, reply


def normalize_ids(text, ids):
    """Replaces each queue ID in `ids` (id -> token) in `text`."""
    for qid, token in ids.items():
        text = text.replace(qid, token)
    return text
