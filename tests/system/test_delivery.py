# ctest-timeout: 180
"""Queue file in incoming/ -> qmgr -> virtual -> Maildir, on a real
instance made by tools/make-instance (the README demo's configuration):
headers and content of the delivered file, the log trail, an empty queue;
an unwritable mailbox deferred with its reason and delivered on retry."""
import os
import re
import pwd
import shutil

import pytest

from delivery_helpers import FAST, MESSAGE, inject, maildir_messages, queue_files
from instance import Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(**FAST)
        i.start()
        yield i


def test_maildir_delivery_with_headers_and_log(inst):
    qid = inject(inst, ["bob@demo.test"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    [text] = maildir_messages(inst, "bob")
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "Return-Path: <alice@example.com>"
    assert lines[1] == "X-Original-To: bob@demo.test"
    assert lines[2] == "Delivered-To: bob@demo.test"
    assert lines[3] == "Received: from test by demo.localhost"
    assert "Subject: delivery test" in lines
    assert body == "Hello Bob.\nFrom here on this line starts with From.\n"
    log = inst.log_text()
    assert re.search(rf"qmgr\[\d+\]: {qid}: from=<alice@example.com>, size=\d+, nrcpt=1 "
                     r"\(queue active\)", log), log
    assert re.search(rf"virtual\[\d+\]: {qid}: to=<bob@demo.test>, relay=virtual, "
                     r"delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                     r"status=sent \(delivered to maildir\)", log), log
    assert queue_files(inst) == []
    # The Maildir file name is Postfix's: SEC.VdevIinoMusec.host
    [name] = os.listdir(inst.dir / "mail" / "bob" / "new")
    assert re.fullmatch(r"\d+\.V[0-9a-f]+I[0-9a-f]+M\d+\..+", name), name


def test_several_recipients_and_extension(inst):
    qid = inject(inst, ["carol@demo.test", "dave+lists@demo.test", "erin@demo.localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    assert maildir_messages(inst, "carol")
    [dave] = maildir_messages(inst, "dave")
    assert "Delivered-To: dave+lists@demo.test\n" in dave
    assert maildir_messages(inst, "erin")
    assert inst.log_text().count(f"{qid}: to=<") == 3
    assert queue_files(inst) == []


def test_unwritable_mailbox_is_deferred_then_delivered(inst):
    blocker = inst.dir / "mail" / "frank"
    blocker.write_text("not a directory\n")
    qid = inject(inst, ["frank@demo.test"])
    inst.wait_for_log(rf"{qid}: to=<frank@demo.test>, relay=virtual, .*dsn=4\.2\.0, "
                      r"status=deferred \(maildir delivery failed: ", timeout=20)
    # The message waits in deferred/ with the reason in its defer log.
    wait_until(lambda: queue_files(inst, "deferred") == [qid], 10, what="deferred file")
    defer_logs = list((inst.spool / "defer").rglob(qid))
    assert defer_logs, "no defer log"
    text = defer_logs[0].read_text()
    assert "recipient=frank@demo.test\n" in text
    assert "action=delayed\n" in text
    assert re.search(r"reason=maildir delivery failed: .*frank", text), text
    # Once the mailbox can be made, the retry (short back-off) delivers.
    blocker.unlink()
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    assert maildir_messages(inst, "frank")
    assert queue_files(inst) == []
    assert not list((inst.spool / "defer").rglob(qid))


def test_many_messages_in_parallel_all_delivered(inst):
    inst.set_main(virtual_destination_concurrency_limit="4", initial_destination_concurrency="2")
    inst.postfix("reload")
    ids = [inject(inst, [f"m{n % 5}@demo.test", f"n{n % 3}@demo.localhost"]) for n in range(30)]
    for qid in ids:
        inst.wait_for_log(rf"{qid}: removed", timeout=60)
    total = sum(len(os.listdir(inst.dir / "mail" / u / "new"))
                for u in [f"m{i}" for i in range(5)] + [f"n{i}" for i in range(3)])
    assert total == 60
    assert queue_files(inst) == []


def test_destination_rate_delay_spaces_deliveries(inst):
    # A restart rather than a reload: a qmgr of the old generation could
    # still take the first message before it exits.
    inst.stop()
    inst.set_main(virtual_destination_rate_delay="1s")
    inst.start()
    ids = [inject(inst, [f"paced{n}@demo.test"]) for n in range(3)]
    for qid in ids:
        inst.wait_for_log(rf"{qid}: removed", timeout=30)
    stamps = re.findall(r"^\w+ +\d+ (\d\d:\d\d:\d\d) .*to=<paced\d@demo.test>.*status=sent",
                        inst.log_text(), re.M)
    assert len(stamps) == 3
    # One delivery per second at most: three different seconds.
    assert len(set(stamps)) == 3, stamps


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make an instance for another user")
def test_unprivileged_instance_delivers(tmp_path):
    with Instance(tmp_path, user="nobody", name="unpriv") as inst:
        inst.set_main(**FAST)
        inst.start()
        qid = inject(inst, ["una@demo.test"])
        inst.wait_for_log(rf"{qid}: removed", timeout=20)
        [text] = maildir_messages(inst, "una")
        assert "Delivered-To: una@demo.test\n" in text
        new = inst.dir / "mail" / "una" / "new"
        assert next(new.iterdir()).stat().st_uid == pwd.getpwnam("nobody").pw_uid
