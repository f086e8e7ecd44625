# ctest-timeout: 900
"""Bad peers and faults for the smtp client (issue 7, "Bad input and
faults"): a relayhost that is a scriptable fake SMTP server (smtp_helpers.
FakeSmtp) misbehaves once; the message must be deferred with a reason, and
once the peer behaves it is delivered exactly once — nothing lost, nothing
duplicated. TLS faults at `encrypt`/`verify` must never send mail in clear.
Each case runs with Postern's client and with Debian's Postfix as the
reference."""
import re

import pytest

import postfix_oracle
from smtp_helpers import FakeSmtp, make_certs, make_sender, postern_param, shared_dir
from instance import wait_until

pytestmark = pytest.mark.skipif(not postfix_oracle.available(),
                                reason="Debian's Postfix is not installed or not root")

SENDERS = ["postfix", postern_param()]


@pytest.fixture(scope="module")
def certs():
    d = shared_dir("postern-smtp-pki-")
    yield make_certs(d)
    import shutil
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake():
    f = FakeSmtp()
    yield f
    f.close()


@pytest.fixture
def sender_factory(tmp_path):
    made = []

    def make(kind, **params):
        s = make_sender(kind, tmp_path)
        made.append(s)
        s.set_main(**params)
        s.start()
        return s
    yield make
    for s in made:
        s.close()


def deferred_then_delivered(s, fake, qid, rcpt, tag, reason, timeout=30):
    """The message is deferred with `reason` (a regex) in the log and in
    mailq; after the fake server is repaired it is delivered exactly once."""
    s.wait_for_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=[^,]+, .*dsn=4\.\d+\.\d+, "
                   rf"status=deferred \({reason}", timeout=timeout)
    wait_until(lambda: qid in s.queue_ids("deferred"), 20, what="deferred queue file")
    q = s.mailq()
    assert re.search(rf"^{qid}\s", q, re.M), q
    assert re.search(reason, q.replace("\n", " ").replace("  ", " ")) or \
        re.search(reason, s.defer_reason(qid)), q
    # Repair the peer, then retry.
    fake.greeting_mode = fake.ehlo_mode = "normal"
    fake.greeting = "220 fake.test ESMTP"
    fake.starttls = None
    fake.rcpt_reply = lambda addr: "250 2.1.5 Ok"
    s.flush()
    s.wait_for_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=[^,]+, .*dsn=2\.0\.0, status=sent",
                   timeout=60)
    s.wait_for_log(rf"{qid}: removed")
    assert fake.delivered_tags() == [tag]
    assert s.queue_ids() == []


def relay(fake):
    return dict(relayhost=f"[127.0.0.1]:{fake.port}")


@pytest.mark.parametrize("kind", SENDERS)
def test_garbage_reply(kind, fake, sender_factory):
    fake.ehlo_mode = "garbage"
    s = sender_factory(kind, **relay(fake))
    qid = s.submit(["a@remote.test"], tag="garbage")
    deferred_then_delivered(s, fake, qid, "a@remote.test", "garbage",
                            # Postfix reads on until its timeout; Postern
                            # says so at once. Both defer.
                            r"(conversation with 127\.0\.0\.1\[127\.0\.0\.1\] timed out|"
                            r"host 127\.0\.0\.1\[127\.0\.0\.1\] said: |"
                            r"host 127\.0\.0\.1\[127\.0\.0\.1\] sent an invalid reply)")


@pytest.mark.parametrize("kind", SENDERS)
def test_multiline_reply_without_end(kind, fake, sender_factory):
    fake.ehlo_mode = "unterminated"
    s = sender_factory(kind, **relay(fake))
    qid = s.submit(["b@remote.test"], tag="unterminated")
    deferred_then_delivered(s, fake, qid, "b@remote.test", "unterminated",
                            r"conversation with 127\.0\.0\.1\[127\.0\.0\.1\] timed out while "
                            r"performing the EHLO handshake")


@pytest.mark.parametrize("kind", SENDERS)
def test_never_ending_greeting(kind, fake, sender_factory):
    fake.greeting_mode = "endless"
    s = sender_factory(kind, **relay(fake))
    qid = s.submit(["c@remote.test"], tag="endless")
    # The fake server talks for 15s, then falls silent: Postfix reads on
    # (with a warning) until its read times out; a client may also give up
    # earlier, but either way the message is deferred, not lost.
    deferred_then_delivered(s, fake, qid, "c@remote.test", "endless",
                            r"[^)]*(greeting|timed out|too long)", timeout=60)


@pytest.mark.parametrize("kind", SENDERS)
def test_reply_over_line_limit(kind, fake, sender_factory):
    # A 100,000-character EHLO reply: the client cuts it at its line limit
    # and carries on; the message arrives once.
    fake.ehlo_mode = "overlong"
    s = sender_factory(kind, **relay(fake))
    qid = s.submit(["d@remote.test"], tag="overlong")
    s.wait_for_log(rf"{qid}: to=<d@remote\.test>, relay=[^,]+, .*status=(sent|deferred)")
    if re.search(rf"{qid}: to=<d@remote\.test>, .*status=deferred", s.log()):
        fake.ehlo_mode = "normal"
        s.flush()
    s.wait_for_log(rf"{qid}: removed", timeout=60)
    assert fake.delivered_tags() == ["overlong"]


@pytest.mark.parametrize("kind", SENDERS)
def test_drop_during_data(kind, fake, sender_factory):
    fake.drop_in_data = 1
    s = sender_factory(kind, **relay(fake))
    qid = s.submit(["e@remote.test"], tag="dropped")
    s.wait_for_log(rf"{qid}: to=<e@remote\.test>, relay=[^,]+, .*dsn=4\.\d+\.\d+, "
                   r"status=deferred \(lost connection with 127\.0\.0\.1\[127\.0\.0\.1\] "
                   r"while sending (message body|end of data)")
    assert fake.delivered_tags() == []
    # Retried (not only by flush: the back-off is 2s) and delivered once.
    s.wait_for_log(rf"{qid}: to=<e@remote\.test>, relay=[^,]+, .*dsn=2\.0\.0, status=sent",
                   timeout=60)
    s.wait_for_log(rf"{qid}: removed")
    assert fake.delivered_tags() == ["dropped"]


@pytest.mark.parametrize("kind", SENDERS)
def test_5xx_greeting(kind, fake, sender_factory):
    fake.greeting = "554 5.7.1 fake.test does not want you"
    s = sender_factory(kind, **relay(fake))
    qid = s.submit(["f@remote.test"], tag="greeting5xx")
    deferred_then_delivered(s, fake, qid, "f@remote.test", "greeting5xx",
                            r"host 127\.0\.0\.1\[127\.0\.0\.1\] refused to talk to me: "
                            r"554 5\.7\.1 fake\.test does not want you")


@pytest.mark.parametrize("kind", SENDERS)
def test_4xx_and_5xx_per_recipient(kind, fake, sender_factory):
    fake.rcpt_reply = lambda a: ("450 4.2.0 <%s>: try later" % a if a.startswith("later")
                                 else "550 5.1.1 <%s>: no such user" % a if a.startswith("nobody")
                                 else "250 2.1.5 Ok")
    s = sender_factory(kind, **relay(fake))
    qid = s.submit(["ok@remote.test", "later@remote.test", "nobody@remote.test"], tag="mixed")
    s.wait_for_log(rf"{qid}: to=<ok@remote\.test>, relay=[^,]+, .*dsn=2\.0\.0, status=sent")
    s.wait_for_log(rf"{qid}: to=<later@remote\.test>, relay=[^,]+, .*dsn=4\.2\.0, "
                   r"status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 450 4\.2\.0 "
                   r"<later@remote\.test>: try later \(in reply to RCPT TO command\)\)")
    s.wait_for_log(rf"{qid}: to=<nobody@remote\.test>, relay=[^,]+, .*dsn=5\.1\.1, "
                   r"status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 "
                   r"<nobody@remote\.test>: no such user \(in reply to RCPT TO command\)\)")
    first = [m for m in fake.messages if m["mail_from"] != "<>"]
    assert [m["rcpts"] for m in first] == [["ok@remote.test"]]
    # The sender's bounce notice goes out too (to alice@example.com).
    wait_until(lambda: any(m["mail_from"] == "<>" for m in fake.messages), 30,
               what="the non-delivery notice")
    fake.rcpt_reply = lambda a: "250 2.1.5 Ok"
    s.flush()
    s.wait_for_log(rf"{qid}: to=<later@remote\.test>, relay=[^,]+, .*dsn=2\.0\.0, status=sent",
                   timeout=60)
    s.wait_for_log(rf"{qid}: removed")
    mine = [m["rcpts"] for m in fake.messages if m["mail_from"] != "<>"]
    assert mine == [["ok@remote.test"], ["later@remote.test"]]


@pytest.mark.parametrize("kind", SENDERS)
def test_encrypt_handshake_failure_never_in_clear(kind, fake, sender_factory, certs):
    fake.starttls = "broken"
    s = sender_factory(kind, smtp_tls_security_level="encrypt", **relay(fake))
    qid = s.submit(["g@remote.test"], tag="tlsfail")
    s.wait_for_log(rf"{qid}: to=<g@remote\.test>, relay=[^,]+, .*dsn=4\.\d+\.\d+, "
                   r"status=deferred \(Cannot start TLS: handshake failure\)")
    wait_until(lambda: qid in s.queue_ids("deferred"), 20, what="deferred queue file")
    # Retried too, still never in clear.
    s.flush()
    s.wait_for_log(r"status=deferred \(Cannot start TLS: handshake failure\)", count=2,
                   timeout=60)
    assert any(c.upper() == "STARTTLS" for c in fake.all_commands())
    assert fake.mail_from_seen() == []
    assert fake.messages == []


@pytest.mark.parametrize("kind", SENDERS)
def test_encrypt_without_starttls_offered(kind, fake, sender_factory):
    s = sender_factory(kind, smtp_tls_security_level="encrypt", **relay(fake))
    qid = s.submit(["h@remote.test"], tag="notls")
    s.wait_for_log(rf"{qid}: to=<h@remote\.test>, relay=[^,]+, .*dsn=4\.7\.4, "
                   r"status=deferred \(TLS is required, but was not offered by host "
                   r"127\.0\.0\.1\[127\.0\.0\.1\]\)")
    assert fake.mail_from_seen() == []


@pytest.mark.parametrize("kind", SENDERS)
def test_verify_bad_certificate(kind, fake, sender_factory, certs):
    # A certificate from an unrelated CA: not verified, so not used.
    fake.starttls = (str(certs / "rogue.pem"), str(certs / "rogue.key"))
    s = sender_factory(kind, smtp_tls_security_level="verify",
                       smtp_tls_CAfile=str(certs / "ca.pem"), **relay(fake))
    qid = s.submit(["i@remote.test"], tag="badcert")
    s.wait_for_log(rf"{qid}: to=<i@remote\.test>, relay=[^,]+, .*dsn=4\.7\.5, "
                   r"status=deferred \(Server certificate not verified\)")
    assert any(c.upper() == "STARTTLS" for c in fake.all_commands())
    assert fake.mail_from_seen() == []
    wait_until(lambda: qid in s.queue_ids("deferred"), 20, what="deferred queue file")
