"""Helpers for the delivery system tests: injecting queue files with
tests/queue-inject (as cleanup would write them), waking qmgr, and reading
Maildirs and queue directories of an Instance."""
import pathlib
import socket
import subprocess

from instance import BIN, wait_until

INJECT = BIN.parent / "tests" / "queue-inject"

MESSAGE = ("Received: from test by demo.localhost\n"
           "From: Alice <alice@example.com>\n"
           "To: Bob <bob@demo.test>\n"
           "Subject: delivery test\n"
           "\n"
           "Hello Bob.\n"
           "From here on this line starts with From.\n")

# Short retry timing for tests.
FAST = dict(minimal_backoff_time="2s", maximal_backoff_time="4s", queue_run_delay="1s")


def inject(inst, recipients, sender="alice@example.com", body=MESSAGE, queue=None, trigger=True,
           content_filter=None, warn_after=None, notify_success=False):
    """Writes one queue file; returns its queue ID."""
    argv = [str(INJECT), "-c", str(inst.etc), "-f", sender]
    if queue:
        argv += ["-q", queue]
    if not trigger:
        argv.append("-n")
    if notify_success:
        argv.append("-S")
    if warn_after is not None:
        argv += ["-w", str(warn_after)]
    if content_filter:
        argv += ["-F", content_filter]
    r = subprocess.run(argv + list(recipients), input=body, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def trigger_qmgr(inst, data=b"I"):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(inst.spool / "public" / "qmgr"))
        s.sendall(data)


def queue_files(inst, *queues):
    """Queue IDs present in the given queues (default: the mail queues)."""
    queues = queues or ("incoming", "active", "deferred", "hold")
    out = []
    for q in queues:
        d = inst.spool / q
        if d.is_dir():
            out += [p.name for p in d.rglob("*") if p.is_file()]
    return out


def maildir_messages(inst, user, timeout=20):
    """Waits for and returns the texts of the files in mail/<user>/new."""
    new = inst.dir / "mail" / user / "new"
    wait_until(lambda: new.is_dir() and any(new.iterdir()), timeout, what=f"mail in {new}")
    return [p.read_text() for p in sorted(new.iterdir())]


def proc_name(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def qmgr_pids(inst):
    return [p for p in inst.children() if proc_name(p) == "qmgr"]


def _leb128(data, pos):
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


class FakeCleanup:
    """A stand-in for public/cleanup: announces itself with queue ID
    `queue_id`, reads the client's flags and queue records up to E, answers
    status=0, and keeps what it got in self.messages as (records, text)."""

    def __init__(self, path, queue_id="FAKE0NDR1"):
        import os
        import threading
        self.path = str(path)
        self.queue_id = queue_id
        self.messages = []
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.stop_flag = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop_flag:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                self._session(conn)
            except Exception:
                pass
            finally:
                conn.close()

    @staticmethod
    def _parse(data):
        """(records, complete) from the bytes after the announcement."""
        # The flags list: name NUL value NUL, then an extra NUL.
        first = data.find(b"\0")
        if first < 0:
            return None
        second = data.find(b"\0", first + 1)
        if second < 0 or len(data) < second + 2:
            return None
        pos = second + 2
        records = []
        while pos < len(data):
            t = chr(data[pos])
            try:
                n, p2 = _leb128(data, pos + 1)
            except IndexError:
                return None
            if len(data) < p2 + n:
                return None
            records.append((t, data[p2:p2 + n].decode("utf-8", "replace")))
            pos = p2 + n
            if t == "E":
                return records
        return None

    def _session(self, conn):
        conn.settimeout(10)
        conn.sendall(b"protocol\0cleanup_protocol\0queue_id\0" + self.queue_id.encode() + b"\0\0")
        data = b""
        records = None
        while records is None:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
            records = self._parse(data)
        text = "\n".join(d for t, d in records if t in "NL")
        self.messages.append((records, text))
        conn.sendall(b"status\0" + b"0\0reason\0\0\0")

    def close(self):
        self.stop_flag = True
        self.thread.join(5)
        self.sock.close()
