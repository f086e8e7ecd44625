# ctest-timeout: 600
"""Relaying through a relayhost with STARTTLS and SASL (issue 7, "Done when"):
the sender is Postern's smtp client, and Debian's Postfix doing the same job
as the reference; the relay target is a second Postern instance and Debian's
Postfix (a submission-style smtpd requiring STARTTLS and AUTH, with Dovecot's
auth service). Also: smtp-sink as a plain target, a TLS sink, wrong
credentials and a relayhost that is down."""
import re

import pytest

import postfix_oracle
from smtp_helpers import (FakeSmtp, PostfixTarget, SmtpSink, make_certs, make_sender,
                          postern_param, postern_relay_target, relay_client_settings, shared_dir,
                          target_maildir_messages, tls_sink)
from instance import wait_until

needs_postfix = pytest.mark.skipif(not postfix_oracle.available(),
                                   reason="Debian's Postfix is not installed or not root")
pytestmark = needs_postfix

SENDERS = ["postfix", postern_param()]


@pytest.fixture(scope="module")
def certs():
    d = shared_dir("postern-smtp-pki-")
    yield make_certs(d)
    import shutil
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def dovecot():
    from test_sasl_dovecot import Dovecot
    d = Dovecot()
    yield d
    d.cleanup()


@pytest.fixture
def sender_factory(tmp_path):
    made = []

    def make(kind, name="sender"):
        s = make_sender(kind, tmp_path, name)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def sent_line(qid, rcpt, port, proto="smtp"):
    return (rf"{proto}\[\d+\]: {qid}: to=<{re.escape(rcpt)}>, "
            rf"relay=[^,\s]+\[127\.0\.0\.1\]:{port}, delay=[\d.]+, "
            rf"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent \(250 ")


def tls_line(port):
    return (rf"(Trusted|Untrusted|Verified|Anonymous) TLS connection established to "
            rf"[^\s]+\[127\.0\.0\.1\]:{port}: TLSv1\.[23] with cipher \S+")


@pytest.mark.parametrize("kind", SENDERS)
def test_relay_starttls_sasl_to_postern(kind, tmp_path, certs, dovecot, sender_factory):
    target = postern_relay_target(tmp_path, certs, dovecot.socket)
    try:
        s = sender_factory(kind)
        s.set_main(**relay_client_settings(target.port, certs))
        s.start()
        qid = s.submit(["bob@remote.test", "carol@remote.test"], tag="relay1")
        for rcpt in ("bob@remote.test", "carol@remote.test"):
            s.wait_for_log(sent_line(qid, rcpt, target.port))
        s.wait_for_log(tls_line(target.port))
        s.wait_for_log(rf"{qid}: removed")
        [bob] = target_maildir_messages(target.dir / "mail", "bob")
        [carol] = target_maildir_messages(target.dir / "mail", "carol")
        assert "this is relay1." in bob and "this is relay1." in carol
        # The target saw TLS and AUTH: its Received: line says ESMTPSA.
        assert re.search(r"with ESMTPSA id ", bob), bob
        target.wait_for_log(r"sasl_method=PLAIN, sasl_username=alice")
        assert s.queue_ids() == []
    finally:
        target.stop()
        target.remove()


@pytest.mark.parametrize("kind", SENDERS)
def test_relay_starttls_sasl_to_postfix(kind, tmp_path, certs, dovecot, sender_factory):
    target = PostfixTarget(tmp_path, certs, dovecot.socket)
    try:
        s = sender_factory(kind)
        s.set_main(**relay_client_settings(target.port, certs))
        s.start()
        qid = s.submit(["dave@remote.test"], tag="relay2")
        s.wait_for_log(sent_line(qid, "dave@remote.test", target.port))
        s.wait_for_log(tls_line(target.port))
        [dave] = target_maildir_messages(target.mail, "all")
        assert "this is relay2." in dave
        assert re.search(r"with ESMTPSA id ", dave), dave
        assert re.search(r"sasl_method=PLAIN, sasl_username=alice", target.log())
        s.wait_for_log(rf"{qid}: removed")
    finally:
        target.close()


@pytest.mark.parametrize("kind", SENDERS)
def test_wrong_credentials_defer_with_reason(kind, tmp_path, certs, dovecot, sender_factory):
    target = postern_relay_target(tmp_path, certs, dovecot.socket)
    try:
        s = sender_factory(kind)
        s.set_main(**relay_client_settings(target.port, certs, password="wrong"))
        s.start()
        qid = s.submit(["bob@remote.test"], tag="badauth")
        s.wait_for_log(rf"{qid}: to=<bob@remote\.test>, relay=[^,\s]+\[127\.0\.0\.1\]:"
                       rf"{target.port}, .*dsn=4\.7\.8, status=deferred \(SASL authentication "
                       r"failed; server [^\s]+\[127\.0\.0\.1\] said: 535 5\.7\.8 ")
        wait_until(lambda: qid in s.queue_ids("deferred"), 20, what="deferred queue file")
        q = s.mailq()
        assert qid in q and "SASL authentication failed" in q, q
        assert not (target.dir / "mail" / "bob").exists()
    finally:
        target.stop()
        target.remove()


@pytest.mark.parametrize("kind", SENDERS)
def test_relayhost_down_waits_then_delivers(kind, sender_factory, tmp_path):
    fake = FakeSmtp()
    port = fake.port
    fake.close()  # nobody listens there now
    s = sender_factory(kind)
    s.set_main(relayhost=f"[127.0.0.1]:{port}")
    s.start()
    qid = s.submit(["erin@remote.test"], tag="down1")
    s.wait_for_log(rf"{qid}: to=<erin@remote\.test>, relay=none, .*status=deferred "
                   rf"\(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:{port}: Connection refused\)")
    wait_until(lambda: qid in s.queue_ids("deferred"), 20, what="deferred queue file")
    q = s.mailq()
    assert re.search(rf"^{qid}\s", q, re.M), q
    assert f"(connect to 127.0.0.1[127.0.0.1]:{port}: Connection refused)" in q, q
    assert "erin@remote.test" in q
    # The relayhost comes back: the next attempt delivers, exactly once.
    fake = FakeSmtp(port=port)
    try:
        s.flush()
        s.wait_for_log(sent_line(qid, "erin@remote.test", port), timeout=40)
        s.wait_for_log(rf"{qid}: removed")
        assert fake.delivered_tags() == ["down1"]
    finally:
        fake.close()


@pytest.mark.parametrize("kind", SENDERS)
def test_deliver_to_smtp_sink(kind, sender_factory, tmp_path):
    sink = SmtpSink(dump_dir=tmp_path / "sunk")
    try:
        s = sender_factory(kind)
        s.set_main(relayhost=f"[127.0.0.1]:{sink.port}")
        s.start()
        qids = [s.submit([f"u{i}@remote.test"], tag=f"sink{i}") for i in range(3)]
        for i, qid in enumerate(qids):
            s.wait_for_log(sent_line(qid, f"u{i}@remote.test", sink.port))
        wait_until(lambda: len(list((tmp_path / "sunk").iterdir())) >= 3, 20, what="dumps")
        texts = [p.read_text(errors="replace") for p in (tmp_path / "sunk").iterdir()]
        assert sorted(t for t in ("sink0", "sink1", "sink2") if any(t in x for x in texts)) \
            == ["sink0", "sink1", "sink2"]
    finally:
        sink.close()


@pytest.mark.parametrize("kind", SENDERS)
def test_deliver_to_tls_sink(kind, sender_factory, tmp_path, certs):
    sink = tls_sink(tmp_path, certs)
    try:
        s = sender_factory(kind)
        s.set_main(relayhost=f"[127.0.0.1]:{sink.port}", smtp_tls_security_level="may",
                   smtp_tls_CAfile=str(certs / "ca.pem"), smtp_tls_loglevel="1")
        s.start()
        qid = s.submit(["sunk@remote.test"], tag="tlssink")
        s.wait_for_log(sent_line(qid, "sunk@remote.test", sink.port))
        s.wait_for_log(tls_line(sink.port))
        wait_until(lambda: re.search(r"to=<sunk@remote\.test>, relay=none, .*status=sent",
                                     sink.log()), 20, what="the sink's discard line")
        assert re.search(r"Anonymous TLS connection established from|TLS connection "
                         r"established from", sink.log())
    finally:
        sink.__exit__(None, None, None)
