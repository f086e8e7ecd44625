# ctest-timeout: 180
"""qmgr crash recovery: files left in active/ (by a killed qmgr, or found
at start-up) are delivered, nothing lost; maximal_queue_lifetime expiry."""
import os
import re
import signal

import pytest

from delivery_helpers import (FAST, inject, maildir_messages, qmgr_pids, queue_files,
                              trigger_qmgr)
from instance import Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")


def test_active_files_found_at_start_are_delivered(tmp_path):
    with Instance(tmp_path) as inst:
        inst.set_main(**FAST)
        inst.postfix("check")
        ids = [inject(inst, [f"user{n}@demo.test"], queue="active", trigger=False)
               for n in range(3)]
        assert sorted(queue_files(inst, "active")) == sorted(ids)
        inst.start()
        # No trigger: master wakes qmgr at start, as Postfix's does, and qmgr
        # recovers active/ (the wakeup interval, 300 s, is far beyond the wait).
        for qid in ids:
            inst.wait_for_log(rf"{qid}: removed", timeout=20)
        for n in range(3):
            assert maildir_messages(inst, f"user{n}")
        assert queue_files(inst) == []


def test_killed_qmgr_recovers_active_queue(tmp_path):
    with Instance(tmp_path) as inst:
        inst.set_main(**FAST)
        inst.start()
        first = inject(inst, ["before@demo.test"])
        inst.wait_for_log(rf"{first}: removed", timeout=20)
        [pid] = wait_until(lambda: qmgr_pids(inst), 10, what="qmgr process")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pid not in qmgr_pids(inst), 10, what="qmgr gone")
        # Mail that a dying qmgr left in active/.
        left = [inject(inst, [f"left{n}@demo.test"], queue="active", trigger=False)
                for n in range(2)]
        trigger_qmgr(inst, b"W")
        for qid in left:
            inst.wait_for_log(rf"{qid}: removed", timeout=30)
        assert maildir_messages(inst, "left0") and maildir_messages(inst, "left1")
        assert queue_files(inst) == []


def test_expired_message_is_returned(tmp_path):
    with Instance(tmp_path) as inst:
        inst.set_main(maximal_queue_lifetime="0", bounce_queue_lifetime="0", **FAST)
        inst.start()
        (inst.dir / "mail" / "gone").write_text("not a directory\n")
        qid = inject(inst, ["gone@demo.test"], sender="")
        inst.wait_for_log(rf"{qid}: to=<gone@demo.test>, .*status=deferred", timeout=20)
        inst.wait_for_log(rf"{qid}: from=<>, status=expired, returned to sender", timeout=20)
        inst.wait_for_log(rf"{qid}: removed", timeout=20)
        assert re.search(rf"{qid}: to=<gone@demo.test>, relay=none, .*dsn=5\.4\.7, "
                         r"status=bounced \(maildir delivery failed: ", inst.log_text())
        assert queue_files(inst) == []


def test_corrupt_queue_file_is_saved_not_delivered(tmp_path):
    with Instance(tmp_path) as inst:
        inst.set_main(**FAST)
        inst.start()
        # A truncated copy of a good file, complete by its mode. The good
        # file is made in hold/ (which qmgr never scans: it runs from the
        # start) and both enter incoming/ once the copy is ready.
        good = inject(inst, ["whole@demo.test"], queue="hold", trigger=False)
        path = inst.spool / "hold" / good
        data = path.read_bytes()
        bad = "ABCDE12345"
        bad_path = inst.spool / "incoming" / bad
        tmp_path_bad = inst.spool / "hold" / bad
        tmp_path_bad.write_bytes(data[: len(data) // 2])
        st = path.stat()
        os.chown(tmp_path_bad, st.st_uid, st.st_gid)
        os.chmod(tmp_path_bad, 0o700)
        os.rename(tmp_path_bad, bad_path)
        os.rename(path, inst.spool / "incoming" / good)
        trigger_qmgr(inst, b"I")
        inst.wait_for_log(rf"{good}: removed", timeout=20)
        inst.wait_for_log(rf'saving corrupt file "{bad}" from queue "active" to queue "corrupt"',
                          timeout=20)
        assert (inst.spool / "corrupt" / bad).exists()
        assert queue_files(inst) == []


def test_resolver_down_defers(tmp_path):
    with Instance(tmp_path) as inst:
        master = (inst.etc / "master.cf").read_text()
        inst.write_master_cf("\n".join(l for l in master.split("\n")
                                       if not l.startswith("rewrite ")) + "\n")
        inst.set_main(**FAST)
        inst.start()
        qid = inject(inst, ["a1@demo.test", "a2@demo.test"])
        inst.wait_for_log(rf"{qid}: to=<a2@demo.test>, relay=none, .*dsn=4\.3\.0, "
                          r"status=deferred \(address resolver failure\)", timeout=20)
        wait_until(lambda: queue_files(inst, "deferred") == [qid], 15, what="deferred")
        assert not (inst.dir / "mail" / "a1").exists()
