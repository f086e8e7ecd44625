# ctest-timeout: 300
"""mailq / postqueue -p and postqueue -j compared with Debian's Postfix for
the same queue state: identical queue files (same senders, recipients,
arrival times, defer logs, modes) written into both spools. Queue IDs come
from inode numbers and differ, so they are mapped to tokens; messages
within one queue may be listed in a different directory order, so blocks
are compared as sorted lists, and everything else byte for byte."""
import json
import os
import subprocess

import pytest

import postfix_oracle
from instance import Instance, wait_until
from qadmin_helpers import mail_owner, normalize_ids, start_qadmin_instance, write_queue_file

pytestmark = pytest.mark.skipif(not postfix_oracle.available(),
                                reason="needs root and Debian's Postfix")

LONG_REASON = ("host mx.other.test[192.0.2.9] said: 450 4.2.0 <dave@other.test>: Recipient address "
               "rejected: Greylisted, see http://postgrey.example/ (in reply to RCPT TO command)")

STATE = [
    # queue, sender, recipients, arrival, reasons, extra
    ("deferred", "alice@example.com", ["bob@remote.test", "carol@remote.test", "dave@other.test"],
     1700000000, {"bob@remote.test": "connect to remote.test[192.0.2.1]:25: Connection refused",
                  "carol@remote.test": "connect to remote.test[192.0.2.1]:25: Connection refused",
                  "dave@other.test": LONG_REASON}, {}),
    ("deferred", "tab\there@example.com", ["e@remote.test", "f@remote.test"], 1700000050,
     {"f@remote.test": "delivery temporarily suspended: \"quoted\" \\ text"}, {}),
    ("hold", "", ['x"y\\z@q.test'], 1700000100, None, {"size_lines": 400}),
    ("active", "me@here.test", ["u@v.test"], 1700000200, None, {"mode": 0o710}),
    ("incoming", "in@here.test", ["w@v.test", "done@v.test"], 1700000300, None,
     {"done": {"done@v.test"}}),
    ("maildrop", "md@here.test", ["m@v.test"], 1700000400, None, {}),
    ("deferred", "big@example.com", [f"user{i}@many.test" for i in range(30)], 1700000500,
     None, {"size_lines": 3000}),
]


def fill(spool, owner):
    ids = {}
    for n, (queue, sender, rcpts, arrival, reasons, extra) in enumerate(STATE):
        qid = write_queue_file(spool, queue, sender, rcpts, arrival=arrival, reasons=reasons,
                               owner=owner, **extra)
        ids[qid] = f"QID{n:02d}"
    return ids


def run(argv):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)


def split_listing(text):
    head, rest = text.split("\n", 1)
    body, tail = rest.rsplit("\n\n", 1)
    return head, sorted(body.split("\n\n")), tail


@pytest.fixture
def both(tmp_path):
    pf = postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port())
    assert pf.command("postfix", "check").returncode == 0
    with Instance(tmp_path) as inst:
        start_qadmin_instance(inst)
        pf_ids = fill(pf.spool, "postfix")
        our_ids = fill(inst.spool, mail_owner(inst))
        yield pf, pf_ids, inst, our_ids


def test_mailq_matches_postfix(both):
    pf, pf_ids, inst, our_ids = both
    theirs = run(["/usr/sbin/postqueue", "-c", pf.etc, "-p"])
    ours = run([inst.bin / "postqueue", "-c", inst.etc, "-p"])
    assert theirs.returncode == ours.returncode == 0
    t = split_listing(normalize_ids(theirs.stdout, pf_ids))
    o = split_listing(normalize_ids(ours.stdout, our_ids))
    assert o[0] == t[0]
    assert o[2] == t[2]
    assert o[1] == t[1]
    # Postfix's mailq has not got master running: it reads the queue itself.
    assert theirs.stderr.startswith("postqueue: warning: Mail system is down")


def test_postqueue_json_matches_postfix(both):
    pf, pf_ids, inst, our_ids = both
    theirs = run(["/usr/sbin/postqueue", "-c", pf.etc, "-j"])
    ours = run([inst.bin / "postqueue", "-c", inst.etc, "-j"])
    assert theirs.returncode == ours.returncode == 0
    t = sorted(normalize_ids(theirs.stdout, pf_ids).splitlines())
    o = sorted(normalize_ids(ours.stdout, our_ids).splitlines())
    assert len(o) == len(STATE)
    for a, b in zip(o, t):
        assert json.loads(a) == json.loads(b)
        assert a == b  # key order, separators, escapes


def test_queue_order_matches_postfix(both):
    pf, pf_ids, inst, our_ids = both
    theirs = run(["/usr/sbin/postqueue", "-c", pf.etc, "-j"]).stdout.splitlines()
    ours = run([inst.bin / "postqueue", "-c", inst.etc, "-j"]).stdout.splitlines()
    assert [json.loads(x)["queue_name"] for x in ours] == [json.loads(x)["queue_name"] for x in theirs]


def test_mail_system_down_matches_postfix(both):
    pf, pf_ids, inst, our_ids = both
    inst.stop()
    wait_until(lambda: inst.master_pid() is None, 10, what="master gone")
    # The Postfix instance never ran: no sockets at all. Make ours alike.
    for name in ("showq", "qmgr", "pickup", "flush"):
        (inst.spool / "public" / name).unlink(missing_ok=True)
    for opt in ("-p", "-j"):
        theirs = run(["/usr/sbin/postqueue", "-c", pf.etc, opt])
        ours = run([inst.bin / "postqueue", "-c", inst.etc, opt])
        assert ours.stderr == theirs.stderr
        assert ours.returncode == theirs.returncode == 0
    theirs = run(["/usr/sbin/postqueue", "-c", pf.etc, "-f"])
    ours = run([inst.bin / "postqueue", "-c", inst.etc, "-f"])
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)


def test_empty_queue_matches_postfix(tmp_path):
    pf = postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port())
    assert pf.command("postfix", "check").returncode == 0
    with Instance(tmp_path) as inst:
        inst.postfix("check")
        for opt in ("-p", "-j"):
            theirs = run(["/usr/sbin/postqueue", "-c", pf.etc, opt])
            ours = run([inst.bin / "postqueue", "-c", inst.etc, opt])
            assert (ours.returncode, ours.stdout, ours.stderr) == \
                (theirs.returncode, theirs.stdout, theirs.stderr)


@pytest.mark.parametrize("args", [["-p", "-f"], [], ["-x"], ["-p", "extra"], ["-s"]])
def test_usage_matches_postfix(tmp_path, args):
    pf = postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port())
    with Instance(tmp_path) as inst:
        theirs = run(["/usr/sbin/postqueue", "-c", pf.etc, *args])
        ours = run([inst.bin / "postqueue", "-c", inst.etc, *args])
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr)
