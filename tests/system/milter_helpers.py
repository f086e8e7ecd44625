"""Helpers for the milter system tests: small test milters written with
Debian's python3-milter (pymilter, run by /usr/bin/python3 in their own
process), and an instance with smtpd + cleanup (no qmgr, so queue files stay
in incoming/ or hold/ where the tests read them)."""
import os
import pathlib
import signal
import socket
import subprocess
import time

from cleanup_helpers import INTAKE_MASTER_CF
from instance import Instance, free_port, wait_until

PYTHON = "/usr/bin/python3"

# One milter whose behaviour is chosen by its first argument; every event it
# sees is appended to the log file (second argument) as "event: detail".
MILTER_SOURCE = r'''
import sys, time
import Milter

mode, port, logfile = sys.argv[1], sys.argv[2], sys.argv[3]

def log(text):
    with open(logfile, "a") as f:
        f.write(text + "\n")

class PyMilter(Milter.Base):
    def connect(self, hostname, family, hostaddr):
        log("connect: %s %s daemon_name=%s j=%s" % (hostname, hostaddr[0] if hostaddr else "",
            self.getsymval("{daemon_name}"), self.getsymval("j")))
        if mode == "reject_connect":
            return Milter.REJECT
        return Milter.CONTINUE

    def hello(self, name):
        log("helo: %s" % name)
        return Milter.CONTINUE

    def envfrom(self, f, *args):
        log("mail: %s %s" % (f, " ".join(args)))
        if mode == "reject_mail":
            self.setreply("550", "5.7.1", "Sender refused by test milter")
            return Milter.REJECT
        if mode == "hang_mail":
            time.sleep(60)
        return Milter.CONTINUE

    def envrcpt(self, to, *args):
        log("rcpt: %s" % to)
        if mode == "reject_rcpt" and "bad" in to:
            self.setreply("550", "5.7.1", "Recipient refused by test milter")
            return Milter.REJECT
        if mode == "tempfail_rcpt":
            return Milter.TEMPFAIL
        if mode == "discard_rcpt":
            return Milter.DISCARD
        return Milter.CONTINUE

    def data(self):
        log("data")
        return Milter.CONTINUE

    def header(self, name, value):
        log("header: %s: %s" % (name, value))
        return Milter.CONTINUE

    def eoh(self):
        log("eoh: i=%s" % self.getsymval("i"))
        return Milter.CONTINUE

    def body(self, chunk):
        log("body: %r" % chunk)
        return Milter.CONTINUE

    def eom(self):
        log("eom: i=%s" % self.getsymval("i"))
        if mode == "addheader":
            self.addheader("X-Test-Milter", "added by test milter")
        elif mode == "chgheader":
            self.chgheader("Subject", 1, "changed by milter")
        elif mode == "delheader":
            self.chgheader("X-Remove-Me", 1, "")
        elif mode == "insheader":
            self.addheader("X-First", "inserted", 0)
        elif mode == "replacebody":
            self.replacebody(b"The body was replaced.\r\nSecond line.\r\n")
        elif mode == "addrcpt":
            self.addrcpt("<added@oracle.test>")
        elif mode == "delrcpt":
            self.delrcpt("<two@oracle.test>")
        elif mode == "chgfrom":
            self.chgfrom("<changed-sender@oracle.test>")
        elif mode == "quarantine":
            self.quarantine("held by test milter")
        elif mode == "discard":
            return Milter.DISCARD
        elif mode == "reject_eom":
            self.setreply("554", "5.7.1", "Content refused by test milter")
            return Milter.REJECT
        elif mode == "tempfail_eom":
            return Milter.TEMPFAIL
        elif mode == "hang_eom":
            time.sleep(60)
        elif mode == "all":
            self.addheader("X-Test-Milter", "all")
            self.chgheader("Subject", 1, "changed by milter")
            self.addrcpt("<added@oracle.test>")
            self.delrcpt("<two@oracle.test>")
            self.chgfrom("<changed-sender@oracle.test>")
            self.replacebody(b"Replaced.\r\n")
        return Milter.ACCEPT

    def close(self):
        return Milter.CONTINUE

Milter.factory = PyMilter
Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT |
                 Milter.DELRCPT | Milter.CHGFROM | Milter.QUARANTINE)
log("ready")
Milter.runmilter("postern-test", "inet:%s@127.0.0.1" % port, 240)
'''


class PyMilter:
    """A pymilter process on 127.0.0.1:port; stopped by PID on close()."""

    def __init__(self, tmp_path, mode, port=None):
        self.port = port or free_port()
        self.dir = pathlib.Path(tmp_path)
        self.script = self.dir / "test_milter.py"
        self.script.write_text(MILTER_SOURCE)
        self.logfile = self.dir / f"milter-{mode}-{self.port}.log"
        self.proc = subprocess.Popen([PYTHON, str(self.script), mode, str(self.port),
                                      str(self.logfile)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._listening, 20, what=f"test milter on port {self.port}")
        self.spec = f"inet:127.0.0.1:{self.port}"

    def _listening(self):
        assert self.proc.poll() is None, "test milter exited"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def events(self):
        try:
            return self.logfile.read_text().splitlines()
        except FileNotFoundError:
            return []

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


MAIN = dict(
    myhostname="mx.oracle.test",
    mydestination="oracle.test",
    mynetworks="10.99.0.0/16",
    local_recipient_maps="",
    smtpd_banner="$myhostname ESMTP",
    milter_command_timeout="5s",
    milter_content_timeout="5s",
    milter_connect_timeout="5s",
)


def milter_instance(tmp_path, smtpd_args="", **main):
    """A started instance with smtpd, cleanup, pickup, rewrite, postlogd;
    `smtpd_args` follow the smtpd line ("  -o name=value")."""
    inst = Instance(tmp_path)
    inst.write_master_cf(INTAKE_MASTER_CF +
                         f"127.0.0.1:{inst.port} inet n - n - - smtpd\n" + smtpd_args)
    inst.set_main(**{**MAIN, **main})
    inst.start()
    wait_until(lambda: _port_open(inst.port), 10, what="smtpd port")
    return inst


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


MESSAGE = ("From: Alice <alice@oracle.test>\n"
           "To: Bob <bob@oracle.test>\n"
           "Subject: milter test\n"
           "X-Remove-Me: please\n"
           "\n"
           "Hello Bob.\n"
           "Second line.\n")


def postcat(inst, path):
    """Postern's postcat output for a queue file."""
    from instance import BIN
    r = subprocess.run([str(BIN / "postcat"), "-c", str(inst.etc), str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout
