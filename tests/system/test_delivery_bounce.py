# ctest-timeout: 180
"""error and discard transports, the bounce/ log, and the non-delivery
notification that bounce sends through cleanup (a fake cleanup here, so
this does not depend on the cleanup daemon)."""
import os
import re

import pytest

from delivery_helpers import FAST, FakeCleanup, inject, maildir_messages, queue_files
from instance import Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")


def setup_instance(i, **extra):
    master = (i.etc / "master.cf").read_text()
    # public/cleanup is the test's fake, not a master service.
    master = "\n".join(l for l in master.split("\n") if not l.startswith("cleanup "))
    i.write_master_cf(master + "\n")
    (i.etc / "transport").write_text("fail.test error:5.1.1 mailbox gone\n"
                                     "void.test discard:silently dropped\n"
                                     "later.test retry:4.2.2 come back later\n")
    i.set_main(transport_maps=f"texthash:{i.etc}/transport", **FAST, **extra)
    i.start()


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        setup_instance(i)
        yield i


def test_error_transport_bounces_and_notifies_sender(inst):
    qid = inject(inst, ["x@fail.test", "bob@demo.test"])
    inst.wait_for_log(rf"{qid}: to=<x@fail.test>, relay=none, delay=[\d.]+, "
                      r"delays=[\d./]+, dsn=5\.1\.1, status=bounced \(mailbox gone\)", timeout=20)
    assert maildir_messages(inst, "bob")
    # No cleanup yet: the notification cannot go out, so the message waits
    # in deferred/ with its bounce log.
    wait_until(lambda: queue_files(inst, "deferred") == [qid], 15, what="deferred")
    [blog] = list((inst.spool / "bounce").rglob(qid))
    text = blog.read_text()
    assert "recipient=x@fail.test\n" in text
    assert "status=5.1.1\n" in text
    assert "action=failed\n" in text
    assert "reason=mailbox gone\n" in text
    assert "bob@demo.test" not in text
    # With cleanup back, the retry sends the notification and removes it all.
    fake = FakeCleanup(inst.spool / "public" / "cleanup")
    try:
        inst.wait_for_log(rf"{qid}: sender non-delivery notification: FAKE0NDR1", timeout=30)
        inst.wait_for_log(rf"{qid}: removed", timeout=10)
        records, body = fake.messages[0]
        assert ("S", "") in records
        assert ("R", "alice@example.com") in records
        assert "Content-Type: multipart/report; report-type=delivery-status;" in body
        assert "Final-Recipient: rfc822; x@fail.test" in body
        assert "Status: 5.1.1" in body
        assert "Action: failed" in body
        assert f"X-Postfix-Queue-ID: {qid}" in body
        assert "<x@fail.test>: mailbox gone" in body
        assert "Subject: delivery test" in body  # the returned message
        assert "To: alice@example.com" in body
    finally:
        fake.close()
    assert queue_files(inst) == []
    assert not list((inst.spool / "bounce").rglob(qid))


def test_null_sender_bounce_is_not_returned(inst):
    qid = inject(inst, ["x@fail.test"], sender="")
    inst.wait_for_log(rf"{qid}: to=<x@fail.test>, .*status=bounced", timeout=20)
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    assert "non-delivery notification" not in inst.log_text()


def test_discard_and_retry_transports(inst):
    qid = inject(inst, ["y@void.test", "z@later.test"])
    inst.wait_for_log(rf"{qid}: to=<y@void.test>, relay=none, .*dsn=2\.0\.0, "
                      r"status=sent \(silently dropped\)", timeout=20)
    inst.wait_for_log(rf"{qid}: to=<z@later.test>, relay=none, .*dsn=4\.2\.2, "
                      r"status=deferred \(come back later\)", timeout=20)
    wait_until(lambda: queue_files(inst, "deferred") == [qid], 15, what="deferred")
    [dlog] = list((inst.spool / "defer").rglob(qid))
    assert "recipient=z@later.test\n" in dlog.read_text()
    assert "y@void.test" not in dlog.read_text()


def test_content_filter_sends_every_recipient_to_the_filter(inst):
    qid = inject(inst, ["bob@demo.test", "x@fail.test"], content_filter="discard:filtered away")
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    log = inst.log_text()
    assert re.search(rf"discard\[\d+\]: {qid}: to=<bob@demo.test>, relay=none, .*status=sent "
                     r"\(filtered away\)", log), log
    assert re.search(rf"{qid}: to=<x@fail.test>, relay=none, .*status=sent \(filtered away\)", log)
    assert not (inst.dir / "mail" / "bob").exists()


def test_delay_warning_sent_once(inst):
    (inst.dir / "mail" / "slowpoke").write_text("not a directory\n")
    fake = FakeCleanup(inst.spool / "public" / "cleanup", queue_id="FAKE0WARN")
    try:
        qid = inject(inst, ["slowpoke@demo.test"], warn_after=0)
        inst.wait_for_log(rf"{qid}: sender delay notification: FAKE0WARN", timeout=20)
        # A later attempt defers again without a second warning.
        inst.wait_for_log(rf"{qid}: to=<slowpoke@demo.test>, .*status=deferred", count=2,
                          timeout=30)
        assert inst.log_text().count("delay notification") == 1
        records, body = fake.messages[0]
        assert ("R", "alice@example.com") in records
        assert "Subject: Delayed Mail (still being retried)" in body
        assert "Action: delayed" in body
        assert "Final-Recipient: rfc822; slowpoke@demo.test" in body
        assert "Content-Type: text/rfc822-headers" in body
        assert "Subject: delivery test" in body and "Hello Bob." not in body
        # As Debian's Postfix: when the mail system gives up (arrival +
        # maximal_queue_lifetime, 5d by default).
        assert re.search(r"\nDiagnostic-Code: X-Postfix; .*\nWill-Retry-Until: \w{3}, [ \d]?\d \w{3} "
                         r"\d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)\n", body), body
    finally:
        fake.close()


def test_notify_success_sends_delivery_report(inst):
    fake = FakeCleanup(inst.spool / "public" / "cleanup", queue_id="FAKE0DSN")
    try:
        qid = inject(inst, ["bob@demo.test"], notify_success=True)
        inst.wait_for_log(rf"{qid}: sender delivery status notification: FAKE0DSN", timeout=20)
        inst.wait_for_log(rf"{qid}: removed", timeout=10)
        records, body = fake.messages[0]
        assert ("R", "alice@example.com") in records
        assert "Subject: Successful Mail Delivery Report" in body
        assert "Action: delivered" in body
        assert "Final-Recipient: rfc822; bob@demo.test" in body
        assert "Hello Bob." not in body
    finally:
        fake.close()
    assert not list((inst.spool / "trace").rglob(qid))


def test_postmaster_copies_per_notify_classes(tmp_path):
    with Instance(tmp_path) as inst:
        setup_instance(inst, notify_classes="bounce, 2bounce, resource, software")
        postmaster_copies(inst)


def postmaster_copies(inst):
    fake = FakeCleanup(inst.spool / "public" / "cleanup", queue_id="FAKE0PM")
    try:
        qid = inject(inst, ["x@fail.test"])
        inst.wait_for_log(rf"{qid}: sender non-delivery notification: FAKE0PM", timeout=20)
        inst.wait_for_log(rf"{qid}: postmaster non-delivery notification: FAKE0PM", timeout=20)
        null = inject(inst, ["x@fail.test"], sender="")
        inst.wait_for_log(rf"{null}: postmaster non-delivery notification: FAKE0PM", timeout=20)
        inst.wait_for_log(rf"{null}: removed", timeout=20)
        assert f"{null}: sender non-delivery" not in inst.log_text()
        rcpts = [[d for t, d in records if t == "R"][0] for records, _ in fake.messages]
        assert rcpts == ["alice@example.com", "postmaster", "postmaster"]
        copy = fake.messages[1][1]
        assert "Subject: Postmaster Copy: Undelivered Mail" in copy
        assert "Content-Type: text/rfc822-headers" in copy
        assert "Hello Bob." not in copy
    finally:
        fake.close()
