# ctest-timeout: 300
"""The queue administration one-liners from ../shared/seeds, run by bash
against a live instance holding deferred, held, active and incoming mail,
with our programs first on PATH (mailq is postqueue under that name) and
MAIL_CONFIG naming the instance. Each checks the output and the queue."""
import os
import re
import subprocess
import time

import pytest

from instance import Instance, wait_until
from qadmin_helpers import (TriggerSink, find_queue_file, mail_owner, start_qadmin_instance,
                            write_queue_file)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="queue files are written as mail_owner")


@pytest.fixture
def live(tmp_path):
    with Instance(tmp_path) as inst:
        start_qadmin_instance(inst, fast_flush_domains="example.com")
        bindir = tmp_path / "bin"
        bindir.mkdir()
        for prog in ("postqueue", "postsuper", "qshape"):
            (bindir / prog).symlink_to(inst.bin / prog)
        (bindir / "mailq").symlink_to(inst.bin / "postqueue")
        owner = mail_owner(inst)
        now = time.time()
        ids = {
            "spam1": write_queue_file(inst.spool, "deferred", "spam@example.com", ["a@remote.test"],
                                      owner=owner, arrival=now - 3600,
                                      reasons={"a@remote.test": "connect to remote.test[192.0.2.1]:25: "
                                                                "Connection timed out"}),
            "spam2": write_queue_file(inst.spool, "deferred", "spam@example.com", ["b@remote.test"],
                                      owner=owner, arrival=now - 7200),
            "spam_active": write_queue_file(inst.spool, "active", "spam@example.com", ["c@remote.test"],
                                            owner=owner),
            "sender": write_queue_file(inst.spool, "deferred", "sender@domain.com", ["d@example.com"],
                                       owner=owner, arrival=now - 600),
            "held": write_queue_file(inst.spool, "hold", "held@example.org", ["e@remote.test"],
                                     owner=owner),
            "incoming": write_queue_file(inst.spool, "incoming", "in@example.org", ["f@example.com"],
                                         owner=owner),
        }
        env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", MAIL_CONFIG=str(inst.etc))
        yield inst, ids, env


def sh(env, script, stdin=None):
    """Runs a seed line the way the seeds show it (sudo dropped: we are root)."""
    script = re.sub(r"^sudo ", "", script.strip())
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                          timeout=60, input=stdin)


def where(inst, ids, name):
    return find_queue_file(inst.spool, ids[name])


def test_view_queue(live):
    inst, ids, env = live
    for line in ("postqueue -p", "mailq", "sudo postqueue -p"):
        r = sh(env, line)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n")
        assert f"{ids['spam_active']}*" in r.stdout and f"{ids['held']}!" in r.stdout
        assert "(connect to remote.test[192.0.2.1]:25: Connection timed out)" in r.stdout
    assert sh(env, "mailq | tail -1").stdout == "-- 0 Kbytes in 6 Requests.\n"
    assert sh(env, "postqueue -p | tail -1").stdout == "-- 0 Kbytes in 6 Requests.\n"
    r = sh(env, "QUEUE_SIZE=$(mailq | tail -1 | awk '{print $5}'); echo \"Mail queue: $QUEUE_SIZE messages\"")
    assert r.stdout == "Mail queue: 6 messages\n"
    r = sh(env, 'postqueue -p | grep "^[A-F0-9]"')
    assert sorted(line.split()[0].rstrip("*!") for line in r.stdout.splitlines()) == sorted(ids.values())


def test_alert_on_large_queue(live):
    inst, ids, env = live
    line = "[ $(mailq | tail -1 | awk '{print $5}') -gt 100 ] && echo \"Queue size exceeded\""
    assert sh(env, line).stdout == ""
    for i in range(100):
        write_queue_file(inst.spool, "deferred", "bulk@example.com", [f"r{i}@remote.test"],
                         owner=mail_owner(inst))
    assert sh(env, line).stdout == "Queue size exceeded\n"


def test_delete_by_sender_with_awk(live):
    inst, ids, env = live
    r = sh(env, "mailq | grep sender@domain.com | awk '{print $1}' | postsuper -d -")
    assert r.returncode == 0
    assert r.stderr == f"postsuper: {ids['sender']}: removed\npostsuper: Deleted: 1 message\n"
    assert where(inst, ids, "sender") is None


def test_delete_by_sender_with_cut(live):
    inst, ids, env = live
    r = sh(env, "mailq | grep '^[A-F0-9]' | grep 'spam@example.com' | cut -d' ' -f1 | postsuper -d -")
    assert r.returncode == 0
    # The active message's line reads "ID*": as with Postfix, not an ID.
    assert f"postsuper: warning: invalid mail queue id: {ids['spam_active']}*\n" in r.stderr
    assert r.stderr.endswith("postsuper: Deleted: 2 messages\n")
    assert where(inst, ids, "spam1") is None and where(inst, ids, "spam2") is None
    assert where(inst, ids, "spam_active") == "active"


def test_hold_release_requeue_delete_all(live):
    inst, ids, env = live
    r = sh(env, "postsuper -h ALL")
    assert r.stderr == "postsuper: Placed on hold: 5 messages\n"
    assert {where(inst, ids, n) for n in ids} == {"hold"}
    r = sh(env, f"postsuper -H {ids['spam1']}")
    assert r.stderr == f"postsuper: {ids['spam1']}: released from hold\npostsuper: Released from hold: 1 message\n"
    assert where(inst, ids, "spam1") == "deferred"
    r = sh(env, "postsuper -H ALL")
    assert r.stderr == "postsuper: Released from hold: 5 messages\n"
    r = sh(env, f"postsuper -h {ids['spam2']}")
    assert r.stderr == f"postsuper: {ids['spam2']}: placed on hold\npostsuper: Placed on hold: 1 message\n"
    r = sh(env, f"postsuper -r {ids['spam2']}")
    assert r.stderr == f"postsuper: {ids['spam2']}: requeued\npostsuper: Requeued: 1 message\n"
    assert where(inst, ids, "spam2") == "maildrop"
    r = sh(env, "sudo postsuper -d ALL deferred")
    assert r.stderr == "postsuper: Deleted: 5 messages\n"
    assert sh(env, "mailq | tail -1").stdout == "-- 0 Kbytes in 1 Request.\n"  # the maildrop one
    r = sh(env, "postsuper -r ALL")
    assert r.stderr == "postsuper: Requeued: 0 messages\n"
    r = sh(env, "sudo postsuper -d ALL")
    assert r.stderr == "postsuper: Deleted: 0 messages\n"  # maildrop is not a default queue
    r = sh(env, f"postsuper -d {ids['spam2']} maildrop")
    assert r.stderr.endswith("postsuper: Deleted: 1 message\n")
    assert sh(env, "mailq").stdout == "Mail queue is empty\n"


def test_flush(live):
    inst, ids, env = live
    r = sh(env, "postqueue -f")
    assert r.returncode == 69  # no qmgr in this instance: Postfix's message
    assert r.stderr == ("postqueue: warning: unable to look up public/qmgr: No such file or directory\n"
                        "postqueue: fatal: Cannot flush mail queue - mail system is down\n")
    qmgr = TriggerSink(inst.spool / "public" / "qmgr")
    pickup = TriggerSink(inst.spool / "public" / "pickup")
    try:
        assert sh(env, "sudo postqueue -f").returncode == 0
        wait_until(lambda: qmgr.received and pickup.received, 5, what="triggers")
        r = sh(env, "postqueue -s example.com")
        assert (r.returncode, r.stderr) == (0, "")
        r = sh(env, "postqueue -s other.example")
        assert r.returncode == 69
    finally:
        qmgr.close()
        pickup.close()


def test_qshape_lines(live):
    inst, ids, env = live
    for line in ("qshape deferred", "qshape active", "qshape -s active | head -11",
                 "qshape -s deferred | head -11"):
        r = sh(env, line)
        assert r.returncode == 0, (line, r.stderr)
        head = r.stdout.splitlines()
        assert head[0].split() == ["T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"]
        assert head[1].split()[0] == "TOTAL"
    r = sh(env, "qshape -s deferred | head -11")
    assert [l.split()[:2] for l in r.stdout.splitlines()[1:]] == [["TOTAL", "3"], ["example.com", "2"],
                                                                    ["domain.com", "1"]]
    r = sh(env, "qshape deferred")
    assert [l.split()[:2] for l in r.stdout.splitlines()[1:]] == [["TOTAL", "3"], ["remote.test", "2"],
                                                                    ["example.com", "1"]]
