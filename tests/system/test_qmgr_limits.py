# ctest-timeout: 240
"""qmgr: a message with many recipients is read in slices
(qmgr_message_recipient_limit) and every recipient is delivered once;
deferred mail is registered with the fast flush service, and
`postqueue -s site` delivers that site's deferred mail (and only it)."""
import os
import re
import subprocess

import pytest

from delivery_helpers import inject, queue_files
from instance import BIN, Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")

SLOW_RETRY = dict(minimal_backoff_time="3600s", maximal_backoff_time="7200s",
                  queue_run_delay="3600s")


def new_files(inst, user):
    d = inst.dir / "mail" / user / "new"
    return sorted(d.iterdir()) if d.is_dir() else []


def test_many_recipients_are_read_in_slices_and_all_delivered(tmp_path):
    with Instance(tmp_path) as inst:
        # 45 recipients, 7 at a time in memory; small delivery requests so
        # several requests make up each slice.
        inst.set_main(qmgr_message_recipient_limit="7", qmgr_message_recipient_minimum="3",
                      virtual_destination_recipient_limit="2", **SLOW_RETRY)
        inst.postfix("check")
        inst.start()
        rcpts = [f"u{n}@demo.test" for n in range(45)]
        qid = inject(inst, rcpts)
        inst.wait_for_log(rf"{qid}: removed", timeout=60)
        log = inst.log_text()
        sent = re.findall(rf"{qid}: to=<(u\d+@demo\.test)>.*status=sent", log)
        assert sorted(sent) == sorted(rcpts)  # each exactly once
        for n in range(45):
            files = new_files(inst, f"u{n}")
            assert len(files) == 1, f"u{n}: {files}"
        assert f"{qid}: from=<alice@example.com>, size=" in log
        assert queue_files(inst) == []


def test_slices_with_a_deferred_recipient_defer_the_message_once(tmp_path):
    with Instance(tmp_path) as inst:
        inst.set_main(qmgr_message_recipient_limit="2", qmgr_message_recipient_minimum="1",
                      **SLOW_RETRY)
        # One mailbox whose parent the delivery agent cannot write to.
        locked = inst.dir / "mail" / "locked"
        locked.mkdir(mode=0o555)
        (inst.etc / "vmailbox").write_text("/^stuck@/\tlocked/stuck/\n/^([^@+]+)(\\+[^@]*)?@/\t${1}/\n")
        inst.postfix("check")
        inst.start()
        rcpts = ["a1@demo.test", "a2@demo.test", "stuck@demo.test", "a3@demo.test", "a4@demo.test"]
        qid = inject(inst, rcpts)
        wait_until(lambda: qid in queue_files(inst, "deferred"), 60, what="message deferred")
        log = inst.log_text()
        for r in rcpts:
            if r.startswith("stuck"):
                assert re.search(rf"{qid}: to=<{r}>.*status=deferred", log)
            else:
                assert len(re.findall(rf"{qid}: to=<{r}>.*status=sent", log)) == 1
        # The defer log names the stuck recipient only.
        defer = subprocess.run([str(BIN / "postqueue"), "-c", str(inst.etc), "-p"],
                               capture_output=True, text=True, timeout=30).stdout
        assert "stuck@demo.test" in defer and "a1@demo.test" not in defer


def test_postqueue_s_delivers_the_sites_deferred_mail(tmp_path):
    with Instance(tmp_path) as inst:
        inst.set_main(virtual_mailbox_domains="demo.test, flush.test, other.test",
                      fast_flush_domains="flush.test", **SLOW_RETRY)
        locked = inst.dir / "mail" / "locked"
        locked.mkdir(mode=0o555)
        (inst.etc / "vmailbox").write_text(
            "/@flush\\.test$/\tlocked/flushed/\n/@other\\.test$/\tlocked/other/\n")
        inst.postfix("check")
        inst.start()
        mine = inject(inst, ["someone@flush.test"])
        theirs = inject(inst, ["someone@other.test"])
        wait_until(lambda: {mine, theirs} <= set(queue_files(inst, "deferred")), 60,
                   what="both messages deferred")
        # qmgr told the flush service about the deferral to flush.test.
        site_log = inst.spool / "flush" / "flush.test"
        wait_until(lambda: site_log.exists() and mine in site_log.read_text(), 20,
                   what=f"{mine} in the flush log of flush.test")
        assert not (inst.spool / "flush" / "other.test").exists()
        os.chmod(locked, 0o777)
        r = subprocess.run([str(BIN / "postqueue"), "-c", str(inst.etc), "-s", "flush.test"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        inst.wait_for_log(rf"{mine}: removed", timeout=30)
        assert len(new_files(inst, "locked/flushed")) == 1
        # The other site's mail waits for its retry time.
        assert theirs in queue_files(inst, "deferred")
        assert new_files(inst, "locked/other") == []
        # Postfix's postqueue refuses a site that fast_flush_domains does not list.
        r = subprocess.run([str(BIN / "postqueue"), "-c", str(inst.etc), "-s", "other.test"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
