# ctest-timeout: 300
"""The smtp/lmtp client end to end: a Postern instance relays through a
relayhost that is Debian's smtp-sink (plain, rejecting, down), finds a
server by MX through a dnsmasq started by the test, converts 8-bit mail
for a server without 8BITMIME, and delivers by LMTP to a UNIX socket.
The log lines are compared with Postfix's client's format."""
import os
import pathlib
import re
import shutil
import signal
import base64
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import SOURCE, run
from delivery_helpers import FAST, INJECT, inject, queue_files
from instance import Instance, free_port, wait_until

SINK = "/usr/sbin/smtp-sink"
DNSMASQ = "/usr/sbin/dnsmasq"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(str(INJECT)), reason="tests/queue-inject not built"),
    pytest.mark.skipif(not os.path.exists(SINK), reason="smtp-sink (postfix) not installed"),
]

SENT = re.compile(r"(\w+): to=<([^>]+)>, relay=(\S+), delay=[\d.]+, "
                  r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=(\d\.\d+\.\d+), status=(\w+) \((.*)\)")


class Sink:
    """smtp-sink on `address` ("127.0.0.1:port" or "unix:/path"), dumping
    each message into `dump`/; stopped by PID."""

    def __init__(self, tmp_path, address, *options):
        self.dump = tmp_path / f"dump-{abs(hash(address))}"
        self.dump.mkdir(exist_ok=True)
        os.chmod(self.dump, 0o777)
        self.log = open(tmp_path / "sink.log", "ab")
        argv = [SINK]
        if os.getuid() == 0:
            argv += ["-u", "nobody"]
        argv += ["-d", str(self.dump) + "/%M.", *options, address, "20"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        if address.startswith("unix:"):
            path = address[5:]
            wait_until(lambda: os.path.exists(path), 10, what="smtp-sink socket")
            os.chmod(path, 0o666)
        else:
            host, port = address.rsplit(":", 1)

            def up():
                try:
                    socket.create_connection((host, int(port)), timeout=1).close()
                    return True
                except OSError:
                    return False
            wait_until(up, 10, what="smtp-sink")

    def messages(self, count=1, timeout=30):
        wait_until(lambda: len(list(self.dump.iterdir())) >= count, timeout,
                   what="message in smtp-sink dump")
        time.sleep(0.2)
        return [p.read_bytes().decode("latin-1") for p in sorted(self.dump.iterdir())]

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


@pytest.fixture
def sinks(tmp_path):
    made = []

    def make(address, *options):
        s = Sink(tmp_path, address, *options)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(**FAST)
        yield i


def status_lines(inst, qid):
    return [m.groups() for m in SENT.finditer(inst.log_text()) if m.group(1) == qid]


def test_relayhost_delivery_to_smtp_sink(inst, sinks):
    port = free_port()
    sink = sinks(f"127.0.0.1:{port}")
    inst.set_main(relayhost=f"[127.0.0.1]:{port}")
    inst.start()
    qid = inject(inst, ["carol@remote.example", "dave@remote.example"])
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    [dump] = sink.messages()
    assert "Subject: delivery test" in dump
    assert "Hello Bob." in dump
    # Both recipients in one transaction, the envelope as smtp-sink saw it.
    assert "RCPT TO:<carol@remote.example>" in dump or "carol@remote.example" in dump
    lines = status_lines(inst, qid)
    assert {l[1] for l in lines} == {"carol@remote.example", "dave@remote.example"}
    for _, _, relay, dsn, status, text in lines:
        assert relay == f"127.0.0.1[127.0.0.1]:{port}"
        assert dsn == "2.0.0"
        assert status == "sent"
        assert text.startswith("250 2.0.0 Ok")
    assert not queue_files(inst)


def test_recipient_rejected_bounces_with_remote_reply(inst, sinks):
    port = free_port()
    sinks(f"127.0.0.1:{port}", "-f", "RCPT")
    inst.set_main(relayhost=f"[127.0.0.1]:{port}")
    inst.start()
    qid = inject(inst, ["nobody@remote.example"])
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    [(_, rcpt, relay, dsn, status, text)] = status_lines(inst, qid)
    assert status == "bounced"
    assert dsn.startswith("5.")
    assert relay == f"127.0.0.1[127.0.0.1]:{port}"
    assert re.fullmatch(r"host 127\.0\.0\.1\[127\.0\.0\.1\] said: 5\d\d .* \(in reply to RCPT TO command\)",
                        text), text


def test_temporary_rejection_and_server_down_defer(inst, sinks):
    port = free_port()
    sinks(f"127.0.0.1:{port}", "-r", "RCPT")
    down = free_port()
    inst.set_main(transport_maps=f"inline:{{soft.example=smtp:[127.0.0.1]:{port}, "
                                 f"down.example=smtp:[127.0.0.1]:{down}}}")
    inst.start()
    q1 = inject(inst, ["x@soft.example"])
    q2 = inject(inst, ["y@down.example"])
    inst.wait_for_log(rf"{q1}: to=<x@soft.example>.*status=deferred", timeout=30)
    inst.wait_for_log(rf"{q2}: to=<y@down.example>.*status=deferred", timeout=30)
    [(_, _, relay, dsn, _, text)] = status_lines(inst, q1)[:1]
    assert dsn.startswith("4.")
    assert "(in reply to RCPT TO command)" in text
    [(_, _, relay2, dsn2, _, text2)] = status_lines(inst, q2)[:1]
    assert relay2 == "none"
    assert dsn2 == "4.4.1"
    assert text2 == f"connect to 127.0.0.1[127.0.0.1]:{down}: Connection refused"
    # Both wait in the queue, and mailq says why.
    wait_until(lambda: len(queue_files(inst, "deferred")) == 2, 20, what="deferred mail")
    r = subprocess.run([str(inst.bin / "postqueue"), "-c", str(inst.etc), "-p"],
                       capture_output=True, text=True, timeout=30)
    assert "Connection refused" in r.stdout


def test_eight_bit_mail_is_converted_for_a_seven_bit_server(inst, sinks):
    port = free_port()
    sink = sinks(f"127.0.0.1:{port}", "-8")
    inst.set_main(relayhost=f"[127.0.0.1]:{port}")
    inst.start()
    body = ("From: a@example.com\nTo: b@remote.example\nSubject: 8bit\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "gr\u00fc\u00dfe = hello\n.leading dot\n")
    qid = inject(inst, ["b@remote.example"], body=body)
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    [dump] = sink.messages()
    assert "Content-Transfer-Encoding: quoted-printable" in dump
    assert "gr=C3=BC=C3=9Fe =3D hello" in dump
    assert ".leading dot" in dump
    assert all(ord(c) < 128 for c in dump)


def _dnsmasq(tmp_path, port, *records):
    if not os.path.exists(DNSMASQ):
        pytest.skip("dnsmasq not installed")
    argv = [DNSMASQ, "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}",
            "--local=/test/", "--pid-file=", "--user=root", *records]
    log = open(tmp_path / "dnsmasq.log", "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=log)
    time.sleep(0.5)
    return proc


def test_mx_lookup_null_mx_and_unknown_domain(inst, sinks, tmp_path):
    port = free_port()
    sink = sinks(f"127.0.0.2:{port}")
    dport = free_port()
    dns = _dnsmasq(tmp_path, dport,
                   "--mx-host=mx.test,mx1.mx.test,10", "--mx-host=mx.test,mx2.mx.test,20",
                   "--host-record=mx1.mx.test,127.0.0.3",  # nobody listens there
                   "--host-record=mx2.mx.test,127.0.0.2",
                   "--mx-host=nullmx.test,.,0")
    try:
        inst.set_main(smtp_tcp_port=str(port), smtp_connect_timeout="5s",
                      import_environment=f"MAIL_CONFIG MAIL_DEBUG POSTERN_DNS_SERVERS=127.0.0.1:{dport}")
        inst.start()
        q1 = inject(inst, ["mx@mx.test"])
        q2 = inject(inst, ["n@nullmx.test"])
        q3 = inject(inst, ["u@nonexistent.test"])
        for q in (q1, q2, q3):
            inst.wait_for_log(rf"{q}: removed", timeout=40)
        [dump] = sink.messages()
        assert "mx@mx.test" in dump
        [(_, _, relay, dsn, status, _)] = status_lines(inst, q1)
        assert (relay, dsn, status) == (f"mx2.mx.test[127.0.0.2]:{port}", "2.0.0", "sent")
        [(_, _, relay, dsn, status, text)] = status_lines(inst, q2)
        assert (relay, dsn, status) == ("none", "5.1.0", "bounced")  # as Postfix 3.7
        assert text == "Domain nullmx.test does not accept mail (nullMX)"
        [(_, _, relay, dsn, status, text)] = status_lines(inst, q3)
        assert (relay, status) == ("none", "bounced")
        assert dsn == "5.4.4"
        assert "Name service error for name=nonexistent.test" in text
    finally:
        dns.terminate()
        dns.wait(10)


def test_lmtp_to_unix_socket(inst, sinks, tmp_path):
    path = str(tmp_path / "lmtp.sock")
    sink = sinks(f"unix:{path}", "-L")
    inst.set_main(transport_maps=f"inline:{{lmtp.example=lmtp:unix:{path}}}")
    inst.start()
    qid = inject(inst, ["a@lmtp.example", "b@lmtp.example"])
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    sink.messages()
    lines = status_lines(inst, qid)
    assert {l[1] for l in lines} == {"a@lmtp.example", "b@lmtp.example"}
    for _, _, relay, dsn, status, text in lines:
        assert status == "sent"
        assert relay.endswith(f"[{path}]")
    assert re.search(rf"postfix/lmtp\[\d+\]: {qid}: to=<a@lmtp.example>", inst.log_text())


class FakeServer:
    """A scripted ESMTP server with STARTTLS and AUTH PLAIN: records each
    command with whether TLS was on, accepts every message."""

    def __init__(self, certs, user="joe", password="secret", cert="server-rsa"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(certs / f"{cert}.pem"), str(certs / f"{cert}.key"))
        self.expected = [user.encode(), password.encode()]
        self.log = []          # (tls, command line)
        self.messages = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
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

    def _session(self, conn):
        conn.settimeout(20)
        tls = False
        f = conn.makefile("rwb")

        def say(text):
            f.write(text.encode() + b"\r\n")
            f.flush()
        say("220 fake.example ESMTP")
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            self.log.append((tls, cmd))
            verb = cmd.split(" ")[0].upper()
            if verb == "EHLO":
                say("250-fake.example")
                say("250-PIPELINING")
                if not tls:
                    say("250-STARTTLS")
                say("250-AUTH PLAIN")
                say("250 8BITMIME")
            elif verb == "STARTTLS":
                say("220 2.0.0 Ready to start TLS")
                conn = self.ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rwb")
                tls = True
            elif verb == "AUTH":
                parts = cmd.split(" ")
                try:
                    fields = base64.b64decode(parts[2]).split(b"\0") if len(parts) == 3 else []
                except ValueError:
                    fields = []
                self.auth_fields = fields
                if len(fields) == 3 and fields[1:] == self.expected:
                    say("235 2.7.0 Authentication successful")
                else:
                    say("535 5.7.8 Error: authentication failed: bad credentials")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                say("250 2.0.0 Ok")
            elif verb == "DATA":
                say("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    l = f.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data.append(l)
                self.messages.append((tls, b"".join(data).decode("latin-1")))
                say("250 2.0.0 Ok: queued as FAKE1")
            elif verb == "QUIT":
                say("221 2.0.0 Bye")
                return
            else:
                say("502 5.5.2 Error: command not recognized")

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    r = run(["sh", str(SOURCE / "tests/unit/tls/make_certs.sh"), str(d)])
    assert r.returncode == 0, r.stderr
    for p in d.iterdir():
        if p.is_file():
            os.chmod(p, 0o644)
    return d


@pytest.fixture
def fake(certs):
    servers = []

    def make(**kw):
        s = FakeServer(certs, **kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def test_starttls_and_sasl_to_a_relayhost(inst, fake, certs, tmp_path):
    srv = fake()
    policy = tmp_path / "tls_policy"
    policy.write_text(f"[127.0.0.1]:{srv.port} verify match=mail.example.com\n")
    os.chmod(policy, 0o644)
    inst.set_main(relayhost=f"[127.0.0.1]:{srv.port}",
                  smtp_tls_security_level="may",
                  smtp_tls_policy_maps=f"texthash:{policy}",
                  smtp_tls_CAfile=str(certs / "ca.pem"),
                  smtp_tls_loglevel="1",
                  smtp_sasl_auth_enable="yes", smtp_sasl_tls_security_options="noanonymous",
                  smtp_sasl_password_maps=f"inline:{{[127.0.0.1]:{srv.port}=joe:secret}}")
    inst.start()
    qid = inject(inst, ["far@remote.example"])
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    [(_, _, relay, dsn, status, text)] = status_lines(inst, qid)
    assert status == "sent"
    assert text == "250 2.0.0 Ok: queued as FAKE1"
    # Nothing but EHLO and STARTTLS in clear; AUTH and the mail inside TLS.
    clear = [c for tls, c in srv.log if not tls]
    assert [c.split()[0] for c in clear] == ["EHLO", "STARTTLS"]
    assert any(c.startswith("AUTH PLAIN ") for tls, c in srv.log if tls)
    assert srv.messages and srv.messages[0][0]
    assert re.search(r"Verified TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:"
                     rf"{srv.port}: TLSv1\.[23] with cipher", inst.log_text())


def test_encrypt_with_untrusted_certificate_at_verify_defers(inst, fake, certs):
    srv = fake(cert="rogue")
    inst.set_main(relayhost=f"[127.0.0.1]:{srv.port}",
                  smtp_tls_security_level="verify", smtp_tls_CAfile=str(certs / "ca.pem"))
    inst.start()
    qid = inject(inst, ["far@remote.example"])
    inst.wait_for_log(rf"{qid}: to=<far@remote.example>.*status=deferred", timeout=30)
    [(_, _, relay, dsn, status, text)] = status_lines(inst, qid)[:1]
    assert dsn == "4.7.5"
    assert text == "Server certificate not verified"
    assert not srv.messages
    assert all(not c.startswith(("MAIL", "RCPT", "AUTH")) for _, c in srv.log)


def test_sasl_failure_defers_with_the_server_reply(inst, fake, certs):
    srv = fake(password="other")
    inst.set_main(relayhost=f"[127.0.0.1]:{srv.port}",
                  smtp_tls_security_level="encrypt",
                  smtp_sasl_auth_enable="yes", smtp_sasl_tls_security_options="noanonymous",
                  smtp_sasl_password_maps=f"inline:{{[127.0.0.1]:{srv.port}=joe:secret}}")
    inst.start()
    qid = inject(inst, ["far@remote.example"])
    inst.wait_for_log(rf"{qid}: to=<far@remote.example>.*status=deferred", timeout=30)
    [(_, _, relay, dsn, status, text)] = status_lines(inst, qid)[:1]
    assert dsn == "4.7.8"
    assert text == (f"SASL authentication failed; server 127.0.0.1[127.0.0.1] said: "
                    "535 5.7.8 Error: authentication failed: bad credentials")
    assert not srv.messages


def test_no_credentials_in_clear(inst, fake):
    """Without TLS, PLAIN is not allowed by smtp_sasl_security_options'
    default noplaintext: the client must not send AUTH."""
    srv = fake()
    inst.set_main(relayhost=f"[127.0.0.1]:{srv.port}",
                  smtp_sasl_auth_enable="yes", smtp_sasl_tls_security_options="noanonymous",
                  smtp_sasl_password_maps=f"inline:{{[127.0.0.1]:{srv.port}=joe:secret}}")
    inst.start()
    qid = inject(inst, ["far@remote.example"])
    inst.wait_for_log(rf"{qid}: to=<far@remote.example>.*status=deferred", timeout=30)
    assert all(not c.startswith("AUTH") for _, c in srv.log)
    assert not srv.messages
    assert ("SASL authentication failed; cannot authenticate to server 127.0.0.1[127.0.0.1]: "
            "no mechanism available") in inst.log_text()


class BadServer:
    """A server that misbehaves in one way (`mode`), for fault tests:
    "garbage" greets with a line that is no SMTP reply, "endless" sends a
    multi-line greeting that never ends, "drop" accepts everything and
    closes the connection in the middle of the message content."""

    def __init__(self, mode):
        self.mode = mode
        self.sessions = 0
        self.got_dot = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.sessions += 1
            try:
                self._session(conn)
            except Exception:
                pass
            finally:
                conn.close()

    def _session(self, conn):
        conn.settimeout(30)
        f = conn.makefile("rwb")
        if self.mode == "garbage":
            f.write(b"\x00\xffHELLO THERE this is not SMTP\r\n")
            f.flush()
            f.readline()
            return
        if self.mode == "endless":
            while not self.stopping:
                f.write(b"220-still greeting you\r\n")
                f.flush()
                time.sleep(0.2)
            return
        f.write(b"220 bad.example ESMTP\r\n")
        f.flush()
        while True:
            line = f.readline()
            if not line:
                return
            verb = line.split(b" ")[0].strip().upper()
            if verb == b"EHLO":
                tls = b"250-STARTTLS\r\n" if self.mode == "badtls" else b""
                f.write(b"250-bad.example\r\n" + tls + b"250 8BITMIME\r\n")
            elif verb == b"STARTTLS":
                f.write(b"220 2.0.0 Ready to start TLS\r\n")
                f.flush()
                f.write(b"this is no TLS handshake\r\n" * 10)
                f.flush()
                return
            elif verb == b"DATA" and self.mode == "drop":
                f.write(b"354 go ahead\r\n")
                f.flush()
                f.readline()  # one line of content, then drop
                return
            elif verb == b"DATA":
                f.write(b"354 go ahead\r\n")
                f.flush()
                while f.readline() not in (b".\r\n", b""):
                    pass
                self.got_dot = True
                f.write(b"250 2.0.0 Ok: queued as BAD1\r\n")
            elif verb == b"QUIT":
                f.write(b"221 bye\r\n")
                f.flush()
                return
            else:
                f.write(b"250 2.0.0 Ok\r\n")
            f.flush()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("mode,reason", [
    ("garbage", r"host 127\.0\.0\.1\[127\.0\.0\.1\] sent an invalid reply while receiving the "
                r"initial server greeting: malformed reply: .*"),
    ("endless", r"conversation with 127\.0\.0\.1\[127\.0\.0\.1\] timed out while receiving the "
                r"initial server greeting"),
    ("drop", r"lost connection with 127\.0\.0\.1\[127\.0\.0\.1\] while sending (message body|"
             r"end of data -- message may be sent more than once)"),
])
def test_misbehaving_servers_defer(inst, mode, reason):
    srv = BadServer(mode)
    try:
        inst.set_main(relayhost=f"[127.0.0.1]:{srv.port}", smtp_helo_timeout="3s",
                      smtp_data_xfer_timeout="5s")
        inst.start()
        qid = inject(inst, ["far@remote.example"])
        inst.wait_for_log(rf"{qid}: to=<far@remote.example>.*status=deferred", timeout=30)
        (_, _, relay, dsn, status, text) = status_lines(inst, qid)[0]
        assert dsn.startswith("4.")
        assert re.fullmatch(reason, text), text
        # The message waits in the queue, not marked delivered.
        wait_until(lambda: qid in queue_files(inst, "deferred"), 20, what="deferred message")
        assert "status=sent" not in inst.log_text()
    finally:
        srv.close()


def test_encrypt_without_starttls_defers_and_sends_nothing(inst, sinks):
    port = free_port()
    sink = sinks(f"127.0.0.1:{port}")
    inst.set_main(relayhost=f"[127.0.0.1]:{port}", smtp_tls_security_level="encrypt")
    inst.start()
    qid = inject(inst, ["far@remote.example"])
    inst.wait_for_log(rf"{qid}: to=<far@remote.example>.*status=deferred", timeout=30)
    (_, _, relay, dsn, status, text) = status_lines(inst, qid)[0]
    assert dsn == "4.7.4"
    assert text == "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]"
    assert not list(sink.dump.iterdir())


def test_relay_to_a_second_postern_with_starttls(tmp_path, certs):
    """Instance A relays demo.test over STARTTLS (encrypt) to instance B's
    smtpd, which delivers into a Maildir; B's log shows the TLS session."""
    from delivery_helpers import maildir_messages
    with Instance(tmp_path, name="b") as b, Instance(tmp_path, name="a") as a:
        b.set_main(smtpd_tls_security_level="may",
                   smtpd_tls_cert_file=str(certs / "server-rsa.pem"),
                   smtpd_tls_key_file=str(certs / "server-rsa.key"),
                   smtpd_tls_loglevel="1", myhostname="b.localhost", **FAST)
        b.start()
        a.set_main(transport_maps=f"inline:{{demo.test=smtp:[127.0.0.1]:{b.port}}}",
                   smtp_tls_security_level="encrypt", **FAST)
        a.start()
        qid = inject(a, ["bob@demo.test"])
        a.wait_for_log(rf"{qid}: removed", timeout=30)
        [(_, _, relay, dsn, status, text)] = status_lines(a, qid)
        assert (relay, dsn, status) == (f"127.0.0.1[127.0.0.1]:{b.port}", "2.0.0", "sent")
        m = re.fullmatch(r"250 2\.0\.0 Ok: queued as (\w+)", text)
        assert m, text
        [msg] = maildir_messages(b, "bob")
        assert "Subject: delivery test" in msg
        assert "Hello Bob." in msg
        b.wait_for_log(r"TLS connection established from localhost\[127\.0\.0\.1\]", timeout=10)
        b.wait_for_log(rf"{m.group(1)}: removed", timeout=20)


def test_envelope_parameters_reach_the_server(inst, sinks):
    """The DSN request (NOTIFY=SUCCESS, ORCPT) on RCPT, as smtp-sink records
    it in its dump (X-Mail-Args, X-Rcpt-Args); the server took it, so no
    success notice of our own goes to the sender."""
    port = free_port()
    sink = sinks(f"127.0.0.1:{port}")
    inst.set_main(relayhost=f"[127.0.0.1]:{port}")
    inst.start()
    qid = inject(inst, ["dsn@remote.example"], notify_success=True)
    inst.wait_for_log(rf"{qid}: to=<dsn@remote.example>.*status=sent", timeout=30)
    [dump] = sink.messages()
    mail = re.search(r"^X-Mail-Args: (.*)$", dump, re.M).group(1)
    rcpt = re.search(r"^X-Rcpt-Args: (.*)$", dump, re.M).group(1)
    # smtp-sink announces no SIZE, so no SIZE= parameter.
    assert mail.strip() == "<alice@example.com>", mail
    assert rcpt.startswith("<dsn@remote.example> NOTIFY=SUCCESS"), rcpt
    time.sleep(2)
    assert len(list(sink.dump.iterdir())) == 1


def test_long_lines_are_broken_at_the_line_length_limit(inst, sinks):
    port = free_port()
    sink = sinks(f"127.0.0.1:{port}")
    inst.set_main(relayhost=f"[127.0.0.1]:{port}", smtp_line_length_limit="100")
    inst.start()
    long = "".join(chr(ord("a") + i % 26) for i in range(250))
    qid = inject(inst, ["long@remote.example"],
                 body=f"From: a@example.com\nSubject: long\n\n{long}\nend\n")
    inst.wait_for_log(rf"{qid}: to=<long@remote.example>.*status=sent", timeout=30)
    [dump] = sink.messages()
    body = dump.split("\n\n", 1)[1].replace("\r\n", "\n")
    lines = body.split("\n")
    i = lines.index(long[:100])
    assert lines[i + 1] == " " + long[100:199]
    assert lines[i + 2] == " " + long[199:]
    assert lines[i + 3] == "end"


def test_failed_handshake_at_may_falls_back_to_plain_text(inst):
    srv = BadServer("badtls")
    try:
        inst.set_main(relayhost=f"[127.0.0.1]:{srv.port}", smtp_tls_security_level="may")
        inst.start()
        qid = inject(inst, ["far@remote.example"])
        inst.wait_for_log(rf"{qid}: to=<far@remote.example>.*status=sent", timeout=30)
        assert srv.got_dot
        assert srv.sessions == 2
    finally:
        srv.close()


def test_failed_handshake_at_encrypt_defers(inst):
    srv = BadServer("badtls")
    try:
        inst.set_main(relayhost=f"[127.0.0.1]:{srv.port}", smtp_tls_security_level="encrypt")
        inst.start()
        qid = inject(inst, ["far@remote.example"])
        inst.wait_for_log(rf"{qid}: to=<far@remote.example>.*status=deferred", timeout=30)
        (_, _, relay, dsn, status, text) = status_lines(inst, qid)[0]
        assert (dsn, text) == ("4.7.5", "Cannot start TLS: handshake failure")
        assert not srv.got_dot
    finally:
        srv.close()


def test_same_results_and_texts_as_postfix(tmp_path, sinks):
    """Debian's Postfix and Postern relay the same recipients to the same
    servers (accepting, rejecting, temporarily rejecting, down, unknown
    host): the relay, dsn, status and reason of each log line agree."""
    import postfix_oracle
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix is not available (or not root)")
    down = free_port()
    behaviours = {  # domain: smtp-sink options
        "ok": [], "bad": ["-f", "RCPT"], "soft": ["-r", "MAIL"], "greet5": ["-f", "CONNECT"],
        "greet4": ["-r", "CONNECT"], "data5": ["-f", "DATA"], "dot5": ["-f", "."],
        "dot4": ["-r", "."], "dropdot": ["-q", "."], "tls": [],
    }
    ports = {}
    for name, options in behaviours.items():
        ports[name] = free_port()
        sinks(f"127.0.0.1:{ports[name]}", *options)
    routes = [f"{n}.example=smtp:[127.0.0.1]:{p}" for n, p in ports.items()]
    routes += [f"down.example=smtp:[127.0.0.1]:{down}",
               "nohost.example=smtp:[nonexistent.invalid]"]
    transports = "inline:{" + ", ".join(routes) + "}"
    policy = f"inline:{{[127.0.0.1]:{ports['tls']}=encrypt}}"
    rcpts = [f"{n}@{n}.example" for n in behaviours] + ["d@down.example", "e@nohost.example"]
    body = "From: a@example.com\nSubject: oracle\n\nhello\n"

    def results(log):
        out = {}
        for m in SENT.finditer(log):
            if m.group(2) in rcpts and m.group(2) not in out:
                out[m.group(2)] = (m.group(3), m.group(4), m.group(5),
                                   re.sub(r"queued as \w+", "queued as X", m.group(6)))
        return out

    with postfix_oracle.PostfixInstance(tmp_path, port=free_port()) as pf:
        pf.set_main(transport_maps=transports, smtp_host_lookup="native",
                    smtp_tls_policy_maps=policy)
        pf.start()
        import smtplib
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
            s.sendmail("a@example.com", rcpts, body)
        wait_until(lambda: len(results(pf.log())) == len(rcpts), 30, what="Postfix results")
        theirs = results(pf.log())
    with Instance(tmp_path, name="ours") as inst:
        inst.set_main(transport_maps=transports, smtp_host_lookup="native",
                      smtp_tls_policy_maps=policy, **FAST)
        inst.start()
        inject(inst, rcpts)
        wait_until(lambda: len(results(inst.log_text())) == len(rcpts), 30, what="our results")
        ours = results(inst.log_text())
    for r in rcpts:
        assert (r, ours.get(r)) == (r, theirs.get(r))


def test_fallback_relay_takes_mail_the_destination_refuses(inst, sinks):
    port = free_port()
    sink = sinks(f"127.0.0.1:{port}")
    down = free_port()
    inst.set_main(relayhost=f"[127.0.0.1]:{down}", smtp_fallback_relay=f"[127.0.0.1]:{port}")
    inst.start()
    qid = inject(inst, ["far@remote.example"])
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    [(_, _, relay, dsn, status, _)] = status_lines(inst, qid)
    assert (relay, status) == (f"127.0.0.1[127.0.0.1]:{port}", "sent")
    assert f"connect to 127.0.0.1[127.0.0.1]:{down}: Connection refused" in inst.log_text()
    sink.messages()


def test_dns_timeout_defers(inst):
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.bind(("127.0.0.1", 0))  # a DNS server that never answers
    try:
        inst.set_main(import_environment="MAIL_CONFIG MAIL_DEBUG "
                                         f"POSTERN_DNS_SERVERS=127.0.0.1:{quiet.getsockname()[1]}")
        inst.start()
        qid = inject(inst, ["x@slow.test"])
        inst.wait_for_log(rf"{qid}: to=<x@slow.test>.*status=deferred", timeout=90)
        (_, _, relay, dsn, status, text) = status_lines(inst, qid)[0]
        assert (relay, dsn) == ("none", "4.4.3")
        assert text == ("Host or domain name not found. Name service error for "
                        "name=slow.test type=MX: Host not found, try again")
    finally:
        quiet.close()


def test_eight_bit_mail_goes_as_is_with_body_8bitmime(inst, sinks):
    """Mail received with BODY=8BITMIME keeps the parameter and its bytes
    when the next server offers 8BITMIME."""
    import smtplib
    port = free_port()
    sink = sinks(f"127.0.0.1:{port}")
    inst.set_main(relayhost=f"[127.0.0.1]:{port}")
    inst.start()
    body = ("From: a@example.com\r\nSubject: 8\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "gr\u00fc\u00dfe\r\n").encode()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.example")
        s.sendmail("a@example.com", ["b@remote.example"], body, mail_options=["BODY=8BITMIME"])
    [dump] = sink.messages()
    assert re.search(r"^X-Mail-Args: <a@example\.com> BODY=8BITMIME", dump, re.M), dump
    assert "gr\u00c3\u00bc\u00c3\u009fe" in dump  # the UTF-8 bytes, read as latin-1
    assert "Content-Transfer-Encoding: 8bit" in dump


def test_lmtp_over_tcp_with_per_recipient_replies(inst, sinks):
    port = free_port()
    sinks(f"127.0.0.1:{port}", "-L", "-r", ".")
    inst.set_main(transport_maps=f"inline:{{lmtp.example=lmtp:inet:127.0.0.1:{port}}}")
    inst.start()
    qid = inject(inst, ["a@lmtp.example", "b@lmtp.example"])
    inst.wait_for_log(rf"{qid}: to=<b@lmtp.example>.*status=deferred", timeout=30)
    inst.wait_for_log(rf"{qid}: to=<a@lmtp.example>.*status=deferred", timeout=30)
    lines = status_lines(inst, qid)
    for _, _, relay, dsn, status, text in lines[:2]:
        assert relay == f"127.0.0.1[127.0.0.1]:{port}"
        assert dsn.startswith("4.")
        assert text.endswith("(in reply to end of DATA command)")


def test_fingerprint_level(inst, fake, certs, tmp_path):
    """"fingerprint" accepts the certificate whose digest the policy names
    (self-signed or not) and refuses another one."""
    good = fake()
    other = fake(cert="rogue")
    fpr = (certs / "server-rsa.fpr").read_text().strip()
    policy = tmp_path / "fp_policy"
    wrong = ":".join(["AB"] * 32)
    policy.write_text(f"[127.0.0.1]:{good.port} fingerprint match={wrong}|{fpr}\n"
                      f"[127.0.0.1]:{other.port} fingerprint match={fpr}\n")
    os.chmod(policy, 0o644)
    inst.set_main(smtp_tls_policy_maps=f"texthash:{policy}",
                  transport_maps=f"inline:{{good.example=smtp:[127.0.0.1]:{good.port}, "
                                 f"other.example=smtp:[127.0.0.1]:{other.port}}}")
    inst.start()
    q1 = inject(inst, ["a@good.example"])
    q2 = inject(inst, ["b@other.example"])
    inst.wait_for_log(rf"{q1}: to=<a@good.example>.*status=sent", timeout=30)
    inst.wait_for_log(rf"{q2}: to=<b@other.example>.*status=deferred", timeout=30)
    assert good.messages and good.messages[0][0]
    assert not other.messages
    (_, _, _, dsn, _, text) = status_lines(inst, q2)[0]
    assert (dsn, text) == ("4.7.5", "Server certificate not verified")


def test_address_probe_stops_after_rcpt(inst, sinks):
    """reject_unverified_recipient sends a probe through the smtp client:
    it asks RCPT TO and reports the reply (deliverable/undeliverable)
    without sending DATA."""
    from smtpd_helpers import Client
    ok_port, bad_port = free_port(), free_port()
    ok_sink = sinks(f"127.0.0.1:{ok_port}")
    sinks(f"127.0.0.1:{bad_port}", "-f", "RCPT")
    inst.set_main(transport_maps=f"inline:{{ok.example=smtp:[127.0.0.1]:{ok_port}, "
                                 f"bad.example=smtp:[127.0.0.1]:{bad_port}}}",
                  relay_domains="ok.example bad.example",
                  smtpd_recipient_restrictions="reject_unverified_recipient",
                  unverified_recipient_reject_code="550", address_verify_poll_count="1")
    inst.start()

    def ask(address):
        c = Client(inst.port)
        try:
            c.cmd("EHLO client.test")
            c.cmd("MAIL FROM:<alice@demo.test>")
            return c.cmd(f"RCPT TO:<{address}>")
        finally:
            c.close()

    def settled(address, prefix):
        return lambda: ask(address).startswith(prefix)
    wait_until(settled("x@ok.example", "250"), 40, interval=0.5, what="probe answer for ok")
    try:
        wait_until(settled("y@bad.example", "550"), 40, interval=0.5, what="probe answer for bad")
    except TimeoutError:
        raise AssertionError(ask("y@bad.example") + "\n" + "\n".join(
            l for l in inst.log_text().splitlines() if "smtpd" not in l and "cleanup" not in l))
    log = inst.log_text()
    assert re.search(rf"to=<x@ok\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{ok_port}, .*"
                     r"status=deliverable \(250 ", log), log
    assert re.search(r"to=<y@bad\.example>, relay=.*status=undeliverable \(host 127\.0\.0\.1"
                     r"\[127\.0\.0\.1\] said: 500 5\.3\.0 .*\(in reply to RCPT TO command\)\)", log)
    time.sleep(1)
    assert not list(ok_sink.dump.iterdir())  # no DATA for a probe
