"""Fixtures for the outbound smtp/lmtp client tests (issue 7).

Senders (the program under test, or Debian's Postfix doing the same job as
a reference): `PosternSender` and `PostfixSender` share one small API —
set_main(), start(), submit() (over SMTP to the sender's own smtpd, giving
the queue ID), log(), wait_for_log(), mailq(), queue_ids(), flush().

Peers the senders talk to:
- `postern_relay_target()` / `postfix_relay_target()`: a second mail system
  with a submission-style smtpd that requires STARTTLS and SASL (Dovecot's
  auth service, alice/secret) and delivers remote.test into Maildirs.
- `SmtpSink`: Debian's smtp-sink (it has no TLS; `tls_sink()` gives a
  Postfix smtpd with TLS that discards everything instead).
- `DnsServer`: dnsmasq on 127.0.0.1 with MX/A records.
- `DovecotLmtp`: Dovecot's LMTP server on a UNIX socket, into Maildirs.
- `FakeSmtp`: a scriptable SMTP server (threads) for protocol faults.

Every wait is bounded; every process started here is stopped by PID.
"""
import os
import pathlib
import pwd
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from instance import BIN, SOURCE, Instance, free_port, wait_until
import postfix_oracle
from postfix_oracle import PostfixInstance

MESSAGE = ("From: Alice <alice@example.com>\r\n"
           "To: Bob <bob@remote.test>\r\n"
           "Subject: relay test\r\n"
           "Message-ID: <{tag}@example.com>\r\n"
           "\r\n"
           "Hello Bob, this is {tag}.\r\n")

# Short retry and timeout settings for senders in tests (same names in both).
FAST = dict(minimal_backoff_time="2s", maximal_backoff_time="4s", queue_run_delay="1s",
            smtp_connect_timeout="5s", smtp_helo_timeout="5s", smtp_mail_timeout="5s",
            smtp_rcpt_timeout="5s", smtp_data_init_timeout="5s", smtp_data_xfer_timeout="5s",
            smtp_data_done_timeout="5s", smtp_quit_timeout="5s", smtp_starttls_timeout="5s",
            lmtp_connect_timeout="5s", lmtp_lhlo_timeout="5s",
            delay_warning_time="0")

DEFAULT_IMPORT_ENV = ("MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C "
                      "POSTLOG_SERVICE POSTLOG_HOSTNAME")


def postern_client_built():
    return (BIN / "smtp").exists()


NO_CLIENT = "Postern's smtp/lmtp client (src/smtp) is not built"


def postern_param(*marks):
    """The "postern" sender as a pytest parameter: expected to fail while the
    smtp client does not exist (strict: an unexpected pass is an error)."""
    import pytest
    if not postern_client_built():
        # Not run: without the program every case would only wait for its timeout.
        marks = marks + (pytest.mark.xfail(strict=True, run=False, reason=NO_CLIENT),)
    return pytest.param("postern", marks=marks)


def make_certs(directory):
    """The test PKI of tests/unit/tls/make_certs.sh in `directory` (0755)."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["sh", str(SOURCE / "tests/unit/tls/make_certs.sh"), str(d)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for p in d.iterdir():
        p.chmod(0o755 if p.is_dir() else 0o644)
    d.chmod(0o755)
    return d


def shared_dir(prefix):
    """A directory under /tmp that other users (postfix, dovecot) can reach."""
    d = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d


# --- senders ---------------------------------------------------------------

class _Sender:
    kind = "?"

    def submit(self, rcpts, sender="alice@example.com", tag="m1", body=None):
        """Sends one message through the sender's own smtpd; returns its queue ID."""
        body = body if body is not None else MESSAGE.format(tag=tag)
        deadline = time.monotonic() + 20
        while True:
            try:
                s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with s:
            s.ehlo("client.example")
            s.mail(sender)
            for r in rcpts:
                code, text = s.rcpt(r)
                assert code == 250, (r, code, text)
            code, text = s.data(body.encode())
            assert code == 250, text
        m = re.search(r"queued as ([0-9A-Za-z]+)", text.decode())
        assert m, text
        return m.group(1)

    def wait_for_log(self, pattern, timeout=30.0, count=1):
        rx = re.compile(pattern)
        try:
            return wait_until(lambda: len(rx.findall(self.log())) >= count, timeout,
                              what=f"log line /{pattern}/")
        except TimeoutError as e:
            raise TimeoutError(f"{e} ({self.kind}); log:\n{self.log()[-4000:]}") from None

    def queue_ids(self, *queues):
        queues = queues or ("incoming", "active", "deferred", "hold")
        out = []
        for q in queues:
            d = self.spool / q
            if d.is_dir():
                out += [p.name for p in d.rglob("*") if p.is_file()]
        return out

    def defer_reason(self, qid):
        """The defer log of `qid` (the reason mailq shows), or ''."""
        for p in (self.spool / "defer").rglob(qid):
            return p.read_text(errors="replace")
        return ""


class PosternSender(_Sender):
    """A Postern instance whose smtp client relays what its smtpd accepts."""
    kind = "postern"

    def __init__(self, tmp_path, name="sender"):
        self.inst = Instance(tmp_path, name=name)
        self.port = self.inst.port
        self.spool = self.inst.spool
        self.etc = self.inst.etc
        # Local delivery only for demo.test; everything else goes out.
        self.inst.set_main(myhostname="sender.example", **FAST)

    def set_main(self, **params):
        self.inst.set_main(**params)

    def set_dns(self, server):
        self.inst.set_main(import_environment=f"{DEFAULT_IMPORT_ENV} "
                                              f"POSTERN_DNS_SERVERS={server}")

    def start(self):
        self.inst.start()

    def stop(self):
        self.inst.stop()

    def log(self):
        return self.inst.log_text()

    def mailq(self):
        return subprocess.run([str(BIN / "postqueue"), "-c", str(self.etc), "-p"],
                              capture_output=True, text=True, timeout=30).stdout

    def flush(self):
        subprocess.run([str(BIN / "postqueue"), "-c", str(self.etc), "-f"],
                       capture_output=True, text=True, timeout=30)

    def close(self):
        self.inst.__exit__(None, None, None)


class PostfixSender(_Sender):
    """Debian's Postfix doing the same job: the reference behaviour."""
    kind = "postfix"

    def __init__(self, tmp_path, name="sender"):
        del name
        self.port = free_port()
        self.pf = PostfixInstance(tmp_path, self.port, hostname="sender.example")
        self.spool = self.pf.spool
        self.etc = self.pf.etc
        self.pf.set_main(**FAST)

    def set_main(self, **params):
        self.pf.set_main(**params)

    def set_dns(self, server):
        raise NotImplementedError("Postfix uses the system resolver")

    def start(self):
        self.pf.start()

    def stop(self):
        self.pf.stop()

    def log(self):
        return self.pf.log()

    def mailq(self):
        return self.pf.command("postqueue", "-p").stdout

    def flush(self):
        self.pf.command("postqueue", "-f")

    def close(self):
        self.pf.__exit__(None, None, None)


def make_sender(kind, tmp_path, name="sender"):
    if kind == "postfix":
        if not postfix_oracle.available():
            import pytest
            pytest.skip("Debian's Postfix is not installed or we are not root")
        return PostfixSender(tmp_path, name)
    return PosternSender(tmp_path, name)


# --- relay targets ----------------------------------------------------------

def submission_settings(certs, dovecot_socket):
    """smtpd main.cf settings (same names in Postern and Postfix) for a
    port-587-style service: STARTTLS required, AUTH only after it, and only
    authenticated clients may send."""
    return dict(smtpd_tls_security_level="encrypt",
                smtpd_tls_cert_file=str(certs / "server-rsa.pem"),
                smtpd_tls_key_file=str(certs / "server-rsa.key"),
                smtpd_tls_auth_only="yes",
                smtpd_sasl_auth_enable="yes",
                smtpd_sasl_type="dovecot",
                smtpd_sasl_path=str(dovecot_socket),
                smtpd_tls_received_header="yes",
                smtpd_relay_restrictions="permit_sasl_authenticated, reject",
                smtpd_recipient_restrictions="permit_sasl_authenticated, reject")


def postern_relay_target(tmp_path, certs, dovecot_socket, name="target"):
    """A second Postern instance: submission smtpd, remote.test into
    Maildirs under inst.dir/mail/<user>/. Started; the caller stops it."""
    inst = Instance(tmp_path, name=name)
    inst.set_main(myhostname="mail.example.com", mydomain="remote.test",
                  virtual_mailbox_domains="remote.test", mynetworks="127.0.0.2/32",
                  **submission_settings(certs, dovecot_socket))
    inst.start()
    return inst


def target_maildir_messages(mail_dir, user, count=1, timeout=30):
    new = pathlib.Path(mail_dir) / user / "new"
    wait_until(lambda: new.is_dir() and len(list(new.iterdir())) >= count, timeout,
               what=f"{count} message(s) in {new}")
    return [p.read_text(errors="replace") for p in sorted(new.iterdir())]


class PostfixTarget:
    """Debian's Postfix as the relay target (an independent implementation):
    submission smtpd on .port, all of remote.test into the Maildir .mail/all/
    (Postfix's virtual forbids regexp substitutions)."""

    def __init__(self, tmp_path, certs, dovecot_socket):
        self.port = free_port()
        self.pf = PostfixInstance(tmp_path, self.port, hostname="mail.example.com")
        self.mail = self.pf.base / "mail"
        self.mail.mkdir()
        pw = pwd.getpwnam("postfix")
        os.chown(self.mail, pw.pw_uid, pw.pw_gid)
        self.pf.set_main(mynetworks="127.0.0.2/32", virtual_mailbox_domains="remote.test",
                         virtual_mailbox_base=str(self.mail),
                         virtual_mailbox_maps="static:all/",
                         virtual_uid_maps=f"static:{pw.pw_uid}",
                         virtual_gid_maps=f"static:{pw.pw_gid}",
                         virtual_minimum_uid="1",
                         **submission_settings(certs, dovecot_socket))
        self.pf.start()

    def log(self):
        return self.pf.log()

    def close(self):
        self.pf.__exit__(None, None, None)


def relay_client_settings(port, certs, level="encrypt", user="alice", password="secret"):
    """Sender main.cf settings: relayhost [127.0.0.1]:port with STARTTLS and SASL."""
    return dict(relayhost=f"[127.0.0.1]:{port}",
                smtp_tls_security_level=level,
                smtp_tls_CAfile=str(certs / "ca.pem"),
                smtp_tls_loglevel="1",
                smtp_sasl_auth_enable="yes",
                smtp_sasl_password_maps=f"static:{user}:{password}",
                smtp_sasl_security_options="noanonymous",
                smtp_sasl_tls_security_options="noanonymous")


# --- smtp-sink ---------------------------------------------------------------

class SmtpSink:
    """Debian's smtp-sink on 127.0.0.1:port (plain SMTP only: it has no TLS).
    With `dump_dir`, each message is saved there (-d)."""

    def __init__(self, port=None, backlog=256, dump_dir=None, extra=()):
        self.port = port or free_port()
        argv = ["/usr/sbin/smtp-sink", "-u", "nobody", "-c", "-4", *extra]
        if dump_dir:
            pathlib.Path(dump_dir).mkdir(parents=True, exist_ok=True)
            os.chmod(dump_dir, 0o777)
            argv += ["-d", str(pathlib.Path(dump_dir) / "%M%S")]
        argv += [f"127.0.0.1:{self.port}", str(backlog)]
        if os.geteuid() != 0:
            argv.remove("-u")
            argv.remove("nobody")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.count = 0  # messages received so far (from -c's "mesg=N" counter)
        threading.Thread(target=self._read_counter, daemon=True).start()
        postfix_oracle.wait_for_port(self.port, 10)

    def _read_counter(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            buf = (buf + chunk)[-200:]
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                self.count = max(self.count, int(found[-1]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tls_sink(tmp_path, certs):
    """smtp-sink cannot do TLS: a Debian Postfix smtpd with STARTTLS that
    discards what it receives (transport discard:). Returns a started
    PostfixInstance (close with __exit__)."""
    pf = PostfixInstance(tmp_path, free_port(), hostname="mail.example.com")
    pf.set_main(smtpd_tls_security_level="may",
                smtpd_tls_cert_file=str(certs / "server-rsa.pem"),
                smtpd_tls_key_file=str(certs / "server-rsa.key"),
                relay_domains="static:all", transport_maps="static:discard:sunk",
                smtpd_recipient_restrictions="permit", smtpd_tls_loglevel="1",
                smtpd_tls_received_header="yes")
    pf.start()
    return pf


# --- DNS -----------------------------------------------------------------------

def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DnsServer:
    """dnsmasq on 127.0.0.1:port answering only for *.test from its
    command line. `records` are dnsmasq options such as
    "--mx-host=example.test,mx1.example.test,10"."""

    def __init__(self, records):
        if not os.path.exists("/usr/sbin/dnsmasq"):
            import pytest
            pytest.skip("dnsmasq is not installed (tools/deps installs it)")
        self.port = _free_udp_port()
        self.server = f"127.0.0.1:{self.port}"
        argv = ["/usr/sbin/dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
                "--local=/test/", "--pid-file=", "--log-facility=-"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.proc = subprocess.Popen(argv + list(records), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_until(self._answers, 10, what="dnsmasq answering")

    def _answers(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"dnsmasq exited: {self.proc.stderr.read().decode()}")
        # A minimal A query for "probe.test"; any reply means it is up.
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x05probe\x04test\x00\x00\x01\x00\x01")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return s.recv(512)[:2] == b"\x12\x34"
            except OSError:
                return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- Dovecot LMTP --------------------------------------------------------------

class DovecotLmtp:
    """Dovecot's LMTP service (Debian's dovecot-lmtpd) on a UNIX socket
    (.socket, mode 0666) and on 127.0.0.1:.port, delivering every user into
    .mail/<user>/Maildir as the dovecot user."""

    def __init__(self):
        if not os.path.exists("/usr/lib/dovecot/lmtp") or os.geteuid() != 0:
            import pytest
            pytest.skip("dovecot-lmtpd is not installed or we are not root")
        self.dir = shared_dir("postern-lmtp-")
        self.mail = self.dir / "mail"
        self.mail.mkdir()
        dv = pwd.getpwnam("dovecot")
        os.chown(self.mail, dv.pw_uid, dv.pw_gid)
        self.socket = self.dir / "lmtp"
        self.port = free_port()
        conf = self.dir / "dovecot.conf"
        conf.write_text(f"""\
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
info_log_path = {self.dir}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
default_login_user = dovenull
default_internal_user = dovecot
ssl = no
mail_location = maildir:{self.mail}/%n/Maildir
lmtp_save_to_detail_mailbox = no
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={dv.pw_uid} gid={dv.pw_gid} home={self.mail}/%n
}}
service lmtp {{
  unix_listener {self.socket} {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
""")
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: self.socket.exists() and self._port_open(), 15,
                       what="dovecot lmtp")
        except TimeoutError:
            self.close()
            raise

    def _port_open(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def messages(self, user, count=1, timeout=30):
        new = self.mail / user / "Maildir" / "new"
        wait_until(lambda: new.is_dir() and len(list(new.iterdir())) >= count, timeout,
                   what=f"{count} message(s) in {new}")
        return [p.read_text(errors="replace") for p in sorted(new.iterdir())]

    def log(self):
        p = self.dir / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- a scriptable fake SMTP server --------------------------------------------------

class FakeSmtp:
    """An SMTP server on `host`:port (threads) whose misbehaviour is chosen by
    attributes, to be changed between sessions:

      greeting        the first reply ("220 fake.test ESMTP")
      greeting_mode   "normal" | "endless" (220- lines until the client
                      leaves) | "silent" (says nothing)
      ehlo_mode       "normal" | "garbage" (a line that is no reply) |
                      "unterminated" (250- lines, then silence) |
                      "overlong" (a 250 line of 100,000 characters)
      starttls        None | (cert, key) to offer and do STARTTLS |
                      "broken" (offer it, answer 220, then send no TLS)
      rcpt_reply      function(address) -> reply line ("250 2.1.5 Ok")
      drop_in_data    number of sessions (from now) that hang up in DATA

    What happened: .sessions (one dict per connection: "commands" the
    client sent, "tls"), .messages (delivered: dict mail_from, rcpts, data).
    """

    def __init__(self, host="127.0.0.1", port=None):
        self.host = host
        self.greeting = "220 fake.test ESMTP"
        self.greeting_mode = "normal"
        self.ehlo_mode = "normal"
        self.starttls = None
        self.rcpt_reply = lambda addr: "250 2.1.5 Ok"
        self.drop_in_data = 0
        self.sessions = []
        self.messages = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(32)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    # -- what the tests look at
    def all_commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s["commands"]]

    def mail_from_seen(self):
        return [c for c in self.all_commands() if c.upper().startswith("MAIL FROM")]

    def delivered_tags(self):
        """The `tag`s (see MESSAGE) of the messages delivered, in order."""
        out = []
        with self.lock:
            for m in self.messages:
                found = re.search(r"this is (\S+)\.", m["data"])
                out.append(found.group(1) if found else None)
        return out

    # -- the server
    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        session = {"commands": [], "tls": False}
        with self.lock:
            self.sessions.append(session)
        conn.settimeout(60)
        try:
            self._converse(conn, session)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _readline(f, limit=100000):
        line = f.readline(limit)
        if not line:
            raise ValueError("eof")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def _endless(self, conn, prefix, seconds=15):
        """Sends `prefix` continuation lines until the client hangs up (or
        `seconds` have passed: then it says nothing more)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.stopping:
            conn.sendall(f"{prefix}-still talking, never done\r\n".encode() * 20)
            time.sleep(0.01)

    def _converse(self, conn, session):
        if self.greeting_mode == "endless":
            self._endless(conn, "220")
            time.sleep(60)
            return
        if self.greeting_mode == "silent":
            time.sleep(60)
            return
        conn.sendall(self.greeting.encode() + b"\r\n")
        if not self.greeting.startswith("2"):
            f = conn.makefile("rb")
            while True:  # answer 503 until QUIT, like Postfix's smtpd
                cmd = self._readline(f)
                session["commands"].append(cmd)
                if cmd.upper().startswith("QUIT"):
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                conn.sendall(b"503 5.5.1 Error: go away\r\n")
        f = conn.makefile("rb")
        mail_from, rcpts = None, []
        while True:
            cmd = self._readline(f)
            session["commands"].append(cmd)
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO", "LHLO"):
                if self.ehlo_mode == "garbage":
                    conn.sendall(b"\x01\x02 this is not an SMTP reply \xff\r\n")
                    continue
                if self.ehlo_mode == "unterminated":
                    conn.sendall(b"250-fake.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n")
                    time.sleep(60)
                    return
                if self.ehlo_mode == "overlong":
                    conn.sendall(b"250 " + b"x" * 100000 + b"\r\n")
                    continue
                lines = ["fake.test", "8BITMIME", "ENHANCEDSTATUSCODES"]
                if self.starttls and not session["tls"]:
                    lines.append("STARTTLS")
                if verb == "HELO":
                    lines = lines[:1]
                conn.sendall("".join(f"250{'-' if i < len(lines) - 1 else ' '}{t}\r\n"
                                     for i, t in enumerate(lines)).encode())
            elif verb == "STARTTLS" and self.starttls:
                conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                if self.starttls == "broken":
                    conn.sendall(b"this is no TLS handshake\r\n")
                    time.sleep(2)
                    return
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(*self.starttls)
                conn = ctx.wrap_socket(conn, server_side=True)
                session["tls"] = True
                f = conn.makefile("rb")
            elif verb == "MAIL":
                mail_from, rcpts = cmd[10:].split(">", 1)[0] + ">", []
                conn.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                addr = cmd[8:].split(">", 1)[0].lstrip("<")
                reply = self.rcpt_reply(addr)
                if reply.startswith("2"):
                    rcpts.append(addr)
                conn.sendall(reply.encode() + b"\r\n")
            elif verb == "DATA":
                if not rcpts:
                    conn.sendall(b"554 5.5.1 Error: no valid recipients\r\n")
                    continue
                conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                data = []
                drop = False
                with self.lock:
                    if self.drop_in_data > 0:
                        self.drop_in_data -= 1
                        drop = True
                while True:
                    line = self._readline(f)
                    if drop:
                        return  # hang up in the middle of the message
                    if line == ".":
                        break
                    data.append(line[1:] if line.startswith(".") else line)
                with self.lock:
                    self.messages.append({"mail_from": mail_from, "rcpts": rcpts,
                                          "data": "\n".join(data)})
                conn.sendall(b"250 2.0.0 Ok: queued as FAKE%d\r\n" % len(self.messages))
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            elif verb == "NOOP":
                conn.sendall(b"250 2.0.0 Ok\r\n")
            else:
                conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)
