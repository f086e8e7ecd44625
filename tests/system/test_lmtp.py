# ctest-timeout: 300
"""LMTP delivery into a real Dovecot (Debian's dovecot-lmtpd) started by
the test: over a UNIX socket and over TCP, with Postern's lmtp client and
with Debian's Postfix as the reference. Each recipient gets its own LMTP
reply and its own log line."""
import re

import pytest

import postfix_oracle
from smtp_helpers import DovecotLmtp, make_sender, postern_param

pytestmark = pytest.mark.skipif(not postfix_oracle.available(),
                                reason="Debian's Postfix is not installed or not root")

SENDERS = ["postfix", postern_param()]


@pytest.fixture
def dovecot():
    d = DovecotLmtp()
    yield d
    d.close()


@pytest.fixture
def sender_factory(tmp_path):
    made = []

    def make(kind):
        s = make_sender(kind, tmp_path)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("kind", SENDERS)
@pytest.mark.parametrize("via", ["unix", "inet"])
def test_lmtp_into_dovecot(kind, via, dovecot, sender_factory):
    s = sender_factory(kind)
    nexthop = (f"unix:{dovecot.socket}" if via == "unix" else f"inet:127.0.0.1:{dovecot.port}")
    s.set_main(virtual_mailbox_domains="lmtp.test", virtual_transport=f"lmtp:{nexthop}")
    s.start()
    qid = s.submit(["bob@lmtp.test", "carol@lmtp.test"], tag=f"lmtp-{via}")
    relay = (re.escape(f"[{dovecot.socket}]") if via == "unix"
             else rf"127\.0\.0\.1\[127\.0\.0\.1\]:{dovecot.port}")
    for rcpt in ("bob", "carol"):
        s.wait_for_log(rf"lmtp\[\d+\]: {qid}: to=<{rcpt}@lmtp\.test>, relay=[^,\s]*{relay}, "
                       r"delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                       r"status=sent \(250 2\.0\.0 <" + rcpt + r"@lmtp\.test> \S+ Saved\)")
    s.wait_for_log(rf"{qid}: removed")
    [bob] = dovecot.messages("bob")
    [carol] = dovecot.messages("carol")
    assert f"this is lmtp-{via}." in bob and f"this is lmtp-{via}." in carol
    assert re.search(r"^Return-Path: <alice@example\.com>", bob, re.M), bob
    assert re.search(r"^\tby \S+ with LMTP$", bob, re.M), bob
    assert s.queue_ids() == []
