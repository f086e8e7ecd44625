# ctest-timeout: 300
"""postqueue -p/-j (and mailq) against a live instance's showq service,
the mail-system-down paths, permissions, and -f/-s/-i with the flush
service. Queue states are written directly as queue files."""
import json
import os
import pwd
import stat
import subprocess
import time

import pytest

from instance import Instance, wait_until
from qadmin_helpers import (TriggerSink, attr0_request, find_queue_file, mail_owner,
                            queue_path, start_qadmin_instance, write_queue_file)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="queue files are written as mail_owner")


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        start_qadmin_instance(i)
        yield i


def postqueue(inst, *args, user=None, stdin=None, argv0=None, env=None):
    argv = [str(argv0 or inst.bin / "postqueue"), "-c", str(inst.etc), *map(str, args)]
    kw = {}
    if user:
        pw = pwd.getpwnam(user)

        import grp
        postdrop = grp.getgrnam("postdrop").gr_gid  # postqueue is set-gid postdrop when installed

        def become():
            os.setgroups([postdrop])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        kw["preexec_fn"] = become
        os.chmod(inst.etc / "main.cf", 0o644)
        os.chmod(inst.etc / "master.cf", 0o644)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, input=stdin,
                          env=env, **kw)


def asctime20(t):
    return time.asctime(time.localtime(t))[:20]


def populate(inst):
    """A queue with every kind of entry; returns {name: id}."""
    sp, owner = inst.spool, mail_owner(inst)
    ids = {}
    ids["deferred"] = write_queue_file(
        sp, "deferred", "alice@example.com",
        ["bob@remote.test", "carol@remote.test", "dave@other.test"], arrival=1700000000,
        reasons={"bob@remote.test": "connect to remote.test[192.0.2.1]:25: Connection refused",
                 "carol@remote.test": "connect to remote.test[192.0.2.1]:25: Connection refused",
                 "dave@other.test": "host other.test[192.0.2.9] said: 450 4.2.0 <dave@other.test>: "
                                    "Recipient address rejected: Greylisted (in reply to RCPT TO command)"},
        owner=owner)
    ids["hold"] = write_queue_file(sp, "hold", "", ['x"y\\z@q.test'], arrival=1700000100,
                                   owner=owner, size_lines=400)
    ids["active"] = write_queue_file(sp, "active", "me@here.test", ["u@v.test"], arrival=1700000200,
                                     owner=owner, mode=0o710)
    ids["incoming"] = write_queue_file(sp, "incoming", "in@here.test", ["w@v.test", "done@v.test"],
                                       arrival=1700000300, owner=owner, done={"done@v.test"})
    ids["maildrop"] = write_queue_file(sp, "maildrop", "md@here.test", ["m@v.test"],
                                       arrival=1700000400, owner=owner)
    return ids


def blocks(text):
    """The per-message blocks of postqueue -p output (header and trailer cut)."""
    body = text.split("\n", 1)[1].rsplit("\n\n--", 1)[0]
    return body.split("\n\n")


def test_listing_layout(inst):
    ids = populate(inst)
    r = postqueue(inst, "-p")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.split("\n")
    assert lines[0] == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
    assert r.stdout.endswith("\n\n-- 4 Kbytes in 5 Requests.\n")
    got = {b.split()[0].rstrip("*!#"): b for b in blocks(r.stdout)}
    refused = "(connect to remote.test[192.0.2.1]:25: Connection refused)"
    greylisted = ("(host other.test[192.0.2.9] said: 450 4.2.0 <dave@other.test>: Recipient "
                  "address rejected: Greylisted (in reply to RCPT TO command))")
    assert got[ids["deferred"]] == "\n".join([
        f"{ids['deferred']:<11} {41:>7} {asctime20(1700000000)} alice@example.com",
        " " * (78 - len(refused)) + refused,
        " " * 41 + "bob@remote.test",
        " " * 41 + "carol@remote.test",
        greylisted,
        " " * 41 + "dave@other.test"])
    assert got[ids["hold"]] == "\n".join([
        f"{ids['hold'] + '!':<11} {3907:>7} {asctime20(1700000100)} MAILER-DAEMON",
        " " * 41 + '"x\\"y\\\\z"@q.test'])
    assert got[ids["active"]].startswith(f"{ids['active']}*#      41 {asctime20(1700000200)} me@here.test\n")
    # Done recipients are not listed; maildrop sizes are file sizes.
    assert got[ids["incoming"]].endswith("\n" + " " * 41 + "w@v.test")
    assert "done@v.test" not in r.stdout
    md = os.path.getsize(queue_path(inst.spool, "maildrop", ids["maildrop"]))
    assert got[ids["maildrop"]].split()[1] == str(md)
    # showq's order: maildrop, active, incoming, deferred, hold.
    order = [b.split()[0].rstrip("*!#") for b in blocks(r.stdout)]
    assert order == [ids[q] for q in ("maildrop", "active", "incoming", "deferred", "hold")]


def test_json_lines(inst):
    ids = populate(inst)
    r = postqueue(inst, "-j")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 5
    objs = {json.loads(line)["queue_id"]: json.loads(line) for line in lines}
    d = objs[ids["deferred"]]
    assert list(d) == ["queue_name", "queue_id", "arrival_time", "message_size", "forced_expire",
                       "sender", "recipients"]
    assert d["queue_name"] == "deferred" and d["arrival_time"] == 1700000000
    assert d["recipients"][0] == {"address": "bob@remote.test",
                                  "delay_reason": "connect to remote.test[192.0.2.1]:25: Connection refused"}
    assert objs[ids["active"]]["forced_expire"] is True
    assert objs[ids["hold"]]["sender"] == "MAILER-DAEMON"
    assert objs[ids["incoming"]]["recipients"] == [{"address": "w@v.test"}]
    # Postfix's separators and escapes, byte for byte.
    hold_line = next(x for x in lines if ids["hold"] in x)
    assert '"recipients": [{"address": "\\"x\\\\\\"y\\\\\\\\z\\"@q.test"}]}' in hold_line
    assert hold_line.startswith('{"queue_name": "hold", "queue_id": ')


def test_empty_queue_and_mailq_name(inst, tmp_path):
    r = postqueue(inst, "-p")
    assert (r.returncode, r.stdout, r.stderr) == (0, "Mail queue is empty\n", "")
    r = postqueue(inst, "-j")
    assert (r.returncode, r.stdout) == (0, "")
    mailq = tmp_path / "mailq"
    mailq.symlink_to(inst.bin / "postqueue")
    write_queue_file(inst.spool, "hold", "a@b.test", ["c@d.test"], owner=mail_owner(inst))
    a = postqueue(inst, argv0=mailq)
    b = postqueue(inst, "-p")
    assert a.returncode == 0 and a.stdout == b.stdout and "-- 0 Kbytes in 1 Request." in a.stdout


def test_mail_system_down(inst):
    populate(inst)
    up = postqueue(inst, "-p").stdout
    inst.stop()
    wait_until(lambda: inst.master_pid() is None, 10, what="master gone")
    r = postqueue(inst, "-p")
    assert r.returncode == 0
    assert r.stderr.startswith("postqueue: warning: Mail system is down -- accessing queue "
                               "directly (Connect to the Postfix showq service: ")
    assert r.stdout == up
    r = postqueue(inst, "-p", user="nobody")
    assert r.returncode == 69
    assert r.stderr == "postqueue: fatal: Queue report unavailable - mail system is down\n"
    r = postqueue(inst, "-f")
    assert r.returncode == 69
    assert r.stderr.endswith("postqueue: fatal: Cannot flush mail queue - mail system is down\n")


def test_authorized_users(inst):
    inst.set_main(authorized_mailq_users="root", authorized_flush_users="static:anyone")
    r = postqueue(inst, "-p", user="nobody")
    uid = pwd.getpwnam("nobody").pw_uid
    assert r.returncode == 77
    assert r.stderr == f"postqueue: fatal: User nobody({uid}) is not allowed to view the mail queue\n"
    inst.set_main(authorized_mailq_users="static:anyone", authorized_flush_users="!nobody, static:anyone")
    assert postqueue(inst, "-p", user="nobody").returncode == 0
    r = postqueue(inst, "-f", user="nobody")
    assert r.returncode == 77
    assert "is not allowed to flush the mail queue" in r.stderr


def test_usage(inst):
    r = postqueue(inst, "-p", "-f")
    assert r.returncode == 69 and "usage: postqueue" in r.stderr
    r = postqueue(inst)
    assert r.returncode == 69


def test_flush_all_triggers_qmgr_and_pickup(inst):
    qmgr = TriggerSink(inst.spool / "public" / "qmgr")
    pickup = TriggerSink(inst.spool / "public" / "pickup")
    try:
        r = postqueue(inst, "-f")
        assert (r.returncode, r.stderr) == (0, "")
        wait_until(lambda: qmgr.received and pickup.received, 5, what="triggers")
        assert qmgr.received == [b"FADI"]
        assert pickup.received == [b"W"]
    finally:
        qmgr.close()
        pickup.close()


def test_flush_site_and_one_message(inst):
    inst.set_main(fast_flush_domains="example.com")
    owner = mail_owner(inst)
    a = write_queue_file(inst.spool, "deferred", "s@x.test", ["r@example.com"], owner=owner,
                         arrival=time.time() - 600)
    os.utime(queue_path(inst.spool, "deferred", a), (time.time() + 3600,) * 2)
    b = write_queue_file(inst.spool, "deferred", "s@x.test", ["r@elsewhere.test"], owner=owner)
    qmgr = TriggerSink(inst.spool / "public" / "qmgr")
    try:
        flush = inst.spool / "public" / "flush"
        ann, rep = attr0_request(flush, [("request", "add"), ("site", "Example.COM"), ("queue_id", a)])
        assert ann == {"protocol": "queue_flush_protocol"} and rep == {"status": "0"}
        _, rep = attr0_request(flush, [("request", "add"), ("site", "elsewhere.test"), ("queue_id", b)])
        assert rep == {"status": "4"}  # not in fast_flush_domains
        assert (inst.spool / "flush" / "example.com").read_text() == a + "\n"

        r = postqueue(inst, "-s", "example.com")
        assert (r.returncode, r.stderr) == (0, "")
        assert find_queue_file(inst.spool, a) == "incoming"
        st = os.stat(queue_path(inst.spool, "incoming", a))
        assert st.st_mode & stat.S_IRGRP and st.st_mtime <= time.time() + 1
        wait_until(lambda: b"I" in qmgr.received, 5, what="qmgr trigger")

        r = postqueue(inst, "-s", "elsewhere.test")
        assert r.returncode == 69
        assert r.stderr == ('postqueue: fatal: Flush service is not configured for destination '
                            '"elsewhere.test"\n')
        r = postqueue(inst, "-i", b)
        assert (r.returncode, r.stderr) == (0, "")
        assert find_queue_file(inst.spool, b) == "incoming"
    finally:
        qmgr.close()


def test_corrupt_and_unfinished_files_do_not_break_the_listing(inst):
    owner = mail_owner(inst)
    good = write_queue_file(inst.spool, "deferred", "ok@example.com", ["a@b.test"], owner=owner)
    bad = write_queue_file(inst.spool, "deferred", "x@example.com", ["c@d.test"], owner=owner)
    with open(queue_path(inst.spool, "deferred", bad), "r+b") as f:
        f.truncate(30)  # cut in the middle of a record
    unfinished = write_queue_file(inst.spool, "incoming", "y@example.com", ["e@f.test"],
                                  owner=owner, mode=0o600)  # still being written
    r = postqueue(inst, "-p")
    assert r.returncode == 0
    assert good in r.stdout and bad not in r.stdout and unfinished not in r.stdout
    assert r.stdout.endswith("-- 0 Kbytes in 1 Request.\n")
    inst.wait_for_log(r"showq\[\d+\]: warning: .*" + bad)
