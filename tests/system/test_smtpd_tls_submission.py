# ctest-timeout: 300
"""The submission (587) and smtps (465) entries of conf/master.cf, taken as
shipped (commented) and uncommented: STARTTLS + AUTH required on
submission, implicit TLS on smtps, relaying only after AUTH, with Dovecot's
authentication service, driven by Python's smtplib."""
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


@pytest.fixture(scope="module")
def dovecot():
    from test_sasl_dovecot import Dovecot
    d = Dovecot()
    yield d
    d.cleanup()


def shipped_entries(ports):
    """The commented submission/smtps blocks of conf/master.cf, uncommented,
    listening on 127.0.0.1 test ports, without chroot."""
    text = (SOURCE / "conf/master.cf").read_text()
    out, keep = [], False
    for line in text.splitlines():
        m = re.match(r"#(submission|smtps)\s+inet\s", line)
        if m:
            keep = True
            fields = line[1:].split()
            fields[0] = f"127.0.0.1:{ports[m.group(1)]}"
            fields[4] = "n"  # no chroot in tests
            out.append(" ".join(fields))
            continue
        if keep and line.startswith("#  -o"):
            out.append(line[1:])
            continue
        keep = False
    return "\n".join(out) + "\n"


def context(certs):
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.check_hostname = False
    return ctx


def test_master_cf_has_commented_entries():
    entries = shipped_entries({"submission": 587, "smtps": 465})
    assert "127.0.0.1:587 inet n - n - - smtpd" in entries
    assert "127.0.0.1:465 inet n - n - - smtpd" in entries
    assert "-o smtpd_tls_wrappermode=yes" in entries
    assert "-o milter_macro_daemon_name=ORIGINATING" in entries


def test_submission_and_smtps(tmp_path, certs, dovecot):
    ports = {"submission": free_port(), "smtps": free_port()}
    i = smtpd_instance(tmp_path, master_extra=shipped_entries(ports),
                       smtpd_tls_cert_file=str(certs / "server-rsa.pem"),
                       smtpd_tls_key_file=str(certs / "server-rsa.key"),
                       smtpd_sasl_type="dovecot", smtpd_sasl_path=str(dovecot.socket))
    try:
        from instance import wait_until
        from smtpd_helpers import _port_open
        for p in ports.values():
            wait_until(lambda: _port_open(p), 10, what="submission ports")
        # Port 25 as configured in main.cf: no TLS, no AUTH.
        c = Client(i.port)
        c.send("EHLO client.example")
        assert not any("STARTTLS" in l or "AUTH" in l for l in c.reply())
        c.close()
        # submission: TLS first, then AUTH, then mail.
        c = Client(ports["submission"])
        c.send("EHLO client.example")
        lines = c.reply()
        assert "250-STARTTLS" in lines and not any("AUTH" in l for l in lines), lines
        assert c.cmd("MAIL FROM:<alice@example.com>") == \
            "530 5.7.0 Must issue a STARTTLS command first"
        assert c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==") == \
            "503 5.5.1 Error: authentication not enabled"
        c.close()
        with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as s:
            s.ehlo("client.example")
            s.starttls(context=context(certs))
            s.ehlo("client.example")
            assert "PLAIN" in s.esmtp_features["auth"]
            # Not yet authenticated: the client restrictions say no.
            code, msg = s.docmd("MAIL FROM:<alice@example.com>")
            assert code == 250
            code, msg = s.docmd("RCPT TO:<x@elsewhere.example>")
            assert code == 554 and b"Client host rejected: Access denied" in msg, msg
            s.rset()
            s.login("alice", "secret")
            s.sendmail("alice@example.com", ["x@elsewhere.example"], "Subject: sub\r\n\r\nhi\r\n")
        msg = i.cleanup.messages[-1]
        text = [d.decode() for t, d in msg["records"] if t == "N"]
        assert any("with ESMTPSA id" in l for l in text), text
        # smtps: implicit TLS.
        with smtplib.SMTP_SSL("127.0.0.1", ports["smtps"], timeout=30,
                              context=context(certs)) as s:
            s.ehlo("client.example")
            assert "starttls" not in s.esmtp_features
            s.login("alice", "secret")
            s.sendmail("alice@example.com", ["y@elsewhere.example"], "Subject: smtps\r\n\r\nhi\r\n")
        assert any(d == b"y@elsewhere.example" for t, d in i.cleanup.messages[-1]["records"]
                   if t == "R")
        i.wait_for_log(r"postfix/submission/smtpd\[\d+\]: \S+: client=\S+, sasl_method=PLAIN, "
                       r"sasl_username=alice")
        i.wait_for_log(r"postfix/smtps/smtpd\[\d+\]: \S+: client=\S+, sasl_method=PLAIN, "
                       r"sasl_username=alice")
    finally:
        if i.cleanup:
            i.cleanup.close()
        i.stop()
