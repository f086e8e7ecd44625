# ctest-timeout: 300
"""smtpd with STARTTLS (src/tls), wrapper mode, and AUTH (src/sasl with
Dovecot's auth service), driven by Python's smtplib."""
import os
import re
import smtplib
import ssl

import pytest

from conftest import SOURCE, run
from instance import free_port
from smtpd_helpers import Client, smtpd_instance


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    r = run(["sh", SOURCE / "tests/unit/tls/make_certs.sh", d])
    assert r.returncode == 0, r.stderr
    return d


def tls_settings(certs, level="may"):
    return dict(smtpd_tls_security_level=level,
                smtpd_tls_cert_file=str(certs / "server-rsa.pem"),
                smtpd_tls_key_file=str(certs / "server-rsa.key"))


def client_context(certs):
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.check_hostname = False
    return ctx


def stop(i):
    if i.cleanup:
        i.cleanup.close()
    i.stop()


def test_starttls_then_mail(tmp_path, certs):
    i = smtpd_instance(tmp_path, **tls_settings(certs))
    try:
        with smtplib.SMTP("127.0.0.1", i.port, timeout=20) as s:
            s.ehlo("client.example")
            assert s.has_extn("starttls")
            code, _ = s.starttls(context=client_context(certs))
            assert code == 220
            s.ehlo("client.example")
            assert not s.has_extn("starttls")
            s.sendmail("s@example.com", ["u@oracle.test"], "Subject: tls\r\n\r\nhello\r\n")
        msg = i.cleanup.messages[-1]
        received = [d.decode() for t, d in msg["records"] if t == "N"][:3]
        assert "with ESMTPS id" in received[1], received
        # Pipelined commands after STARTTLS are thrown away, not run.
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
        assert c.reply() == ["220 2.0.0 Ready to start TLS"]
        tls = client_context(certs).wrap_socket(c.s, server_hostname="mail.example.com")
        tls.sendall(b"RCPT TO:<u@oracle.test>\r\n")
        assert tls.recv(1000).startswith(b"503 5.5.1 Error: need MAIL command")
        tls.close()
    finally:
        stop(i)


def test_encrypt_requires_starttls(tmp_path, certs):
    i = smtpd_instance(tmp_path, **tls_settings(certs, "encrypt"))
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert c.cmd("MAIL FROM:<s@example.com>") == "530 5.7.0 Must issue a STARTTLS command first"
        assert c.cmd("STARTTLS x") == "501 5.5.4 Syntax: STARTTLS"
        c.close()
    finally:
        stop(i)


def test_wrappermode(tmp_path, certs):
    port = free_port()
    extra = f"127.0.0.1:{port} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n"
    i = smtpd_instance(tmp_path, master_extra=extra, **tls_settings(certs))
    try:
        import time
        for _ in range(50):
            try:
                s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=20, context=client_context(certs))
                break
            except OSError:
                time.sleep(0.1)
        with s:
            code, _ = s.ehlo("client.example")
            assert code == 250
            assert not s.has_extn("starttls")
    finally:
        stop(i)


def test_missing_key_disables_tls(tmp_path, certs):
    i = smtpd_instance(tmp_path, smtpd_tls_security_level="may",
                       smtpd_tls_cert_file=str(certs / "nonexistent.pem"),
                       smtpd_tls_key_file=str(certs / "nonexistent.key"))
    try:
        c = Client(i.port)
        reply = c.cmd("EHLO client.example")
        assert reply.startswith("250 ")
        assert c.cmd("STARTTLS") == "502 5.5.1 Error: command not implemented"
        c.close()
        i.wait_for_log(r"warning: .*nonexistent.*: disabling TLS support")
    finally:
        stop(i)


@pytest.fixture(scope="module")
def dovecot():
    from test_sasl_dovecot import Dovecot
    d = Dovecot()
    yield d
    d.cleanup()


def test_auth_with_dovecot(tmp_path, dovecot):
    i = smtpd_instance(tmp_path, smtpd_sasl_auth_enable="yes", smtpd_sasl_type="dovecot",
                       smtpd_sasl_path=str(dovecot.socket))
    try:
        c = Client(i.port)
        c.send("EHLO client.example")
        lines = c.reply()
        assert "250-AUTH PLAIN LOGIN" in lines, lines
        assert c.cmd("AUTH") == "501 5.5.4 Syntax: AUTH mechanism"
        assert c.cmd("AUTH PLAIN AGFsaWNlAHdyb25n").startswith(
            "535 5.7.8 Error: authentication failed")
        # Strangers may not relay; after AUTH (permit_sasl_authenticated) they may.
        c.cmd("MAIL FROM:<alice@example.com>")
        assert c.cmd("RCPT TO:<x@elsewhere.example>")[:3] == "454"
        c.cmd("RSET")
        assert c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==") == "235 2.7.0 Authentication successful"
        assert c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==") == "503 5.5.1 Error: already authenticated"
        c.cmd("MAIL FROM:<alice@example.com>")
        assert c.cmd("RCPT TO:<x@elsewhere.example>") == "250 2.1.5 Ok"
        c.cmd("QUIT")
        c.close()
        i.wait_for_log(r"client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=alice")
        i.wait_for_log(r"warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed")
        # smtplib's LOGIN exchange (334 challenges).
        with smtplib.SMTP("127.0.0.1", i.port, timeout=20) as s:
            s.ehlo("client.example")
            s.user, s.password = "alice", "secret"
            code, _ = s.auth("LOGIN", s.auth_login)
            assert code == 235
    finally:
        stop(i)
