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


def inject(inst, recipients, sender="alice@example.com", body=MESSAGE, queue=None, trigger=True):
    """Writes one queue file; returns its queue ID."""
    argv = [str(INJECT), "-c", str(inst.etc), "-f", sender]
    if queue:
        argv += ["-q", queue]
    if not trigger:
        argv.append("-n")
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
