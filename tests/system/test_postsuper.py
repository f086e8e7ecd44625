# ctest-timeout: 300
"""postsuper -d/-h/-H/-r/-e/-f with IDs, ALL, queue names and `-` against
queue files written into a Postern instance, and the same commands run by
Debian's Postfix on an identical queue: same messages, same exit status,
same resulting queue for every message. Also -s renaming and the lock that
keeps a message being delivered from being reported deleted too early."""
import fcntl
import os
import pathlib
import stat
import subprocess
import threading
import time

import pytest

import postfix_oracle
from instance import Instance
from qadmin_helpers import (find_queue_file, mail_owner, normalize_ids, queue_path,
                            start_qadmin_instance, write_queue_file)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="postsuper is for the superuser")

# name -> (queue, sender, recipients, extra)
STATE = {
    "d0": ("deferred", "a@example.com", ["b@remote.test"], {"reasons": {"b@remote.test": "refused"}}),
    "d1": ("deferred", "spam@example.com", ["c@remote.test"], {}),
    "d2": ("deferred", "spam@example.com", ["d@remote.test"], {}),
    "d3": ("deferred", "ok@example.com", ["e@remote.test"], {}),
    "h0": ("hold", "held@example.com", ["f@remote.test"], {}),
    "h1": ("hold", "held@example.com", ["g@remote.test"], {}),
    "a0": ("active", "act@example.com", ["h@remote.test"], {}),
    "i0": ("incoming", "in@example.com", ["i@remote.test"], {}),
    "i1": ("incoming", "in@example.com", ["j@remote.test"], {}),
}

# Commands, with {name} standing for that message's queue ID.
COMMANDS = [
    (["-h", "{d0}"], None),
    (["-h", "{d0}"], None),          # already on hold: nothing to do
    (["-H", "{d0}"], None),
    (["-e", "{i0}"], None),
    (["-f", "{h0}"], None),
    (["-r", "{d3}"], None),
    (["-d", "{a0}", "-d", "ABCDEF12345"], None),
    (["-d", "bad/id"], None),
    (["-d", "-"], "{d1}\n{d2}\nnot/valid\n\n"),
    (["-h", "-"], "{i1}*\n {i1} \n{i1}\t\n"),  # lines are taken verbatim
    (["-h", "ALL", "deferred"], None),
    (["-d", "ALL", "hold"], None),
    (["-H", "ALL"], None),
    (["-h", "{i1}", "deferred"], None),  # not in the named queue
    (["-d", "ALL", "foo"], None),
    (["-x"], None),
]


def fill(spool, owner):
    ids = {}
    for name, (queue, sender, rcpts, extra) in STATE.items():
        ids[name] = write_queue_file(spool, queue, sender, rcpts, owner=owner, **extra)
    return ids


def run_all(program, confdir, spool, ids):
    results = []
    for args, stdin in COMMANDS:
        argv = [program, "-c", str(confdir)] + [a.format(**ids) for a in args]
        argv = argv[:1] + ["-v"] + argv[1:] if os.environ.get("QA_DEBUG") else argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           input=stdin.format(**ids) if stdin else None)
        state = {n: (find_queue_file(spool, q), _group_bits(spool, q)) for n, q in ids.items()}
        results.append((args, r.returncode, normalize_ids(r.stderr, {v: k for k, v in ids.items()}),
                        state))
    return results


def _group_bits(spool, qid):
    for q in ("maildrop", "incoming", "active", "deferred", "hold"):
        p = queue_path(spool, q, qid)
        if os.path.exists(p):
            return oct(os.stat(p).st_mode & 0o070)
    return None


@pytest.mark.skipif(not postfix_oracle.available(), reason="needs Debian's Postfix")
def test_operations_match_postfix(tmp_path):
    pf = postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port())
    assert pf.command("postfix", "check").returncode == 0
    # Postfix's postsuper also logs: to syslog here (not compared), so that
    # no log file permission problem can make it fail.
    pf.set_main(maillog_file="")
    with Instance(tmp_path) as inst:
        inst.postfix("check")
        theirs = run_all("/usr/sbin/postsuper", pf.etc, pf.spool, fill(pf.spool, "postfix"))
        ours = run_all(str(inst.bin / "postsuper"), inst.etc, inst.spool,
                       fill(inst.spool, mail_owner(inst)))
    for (args, rc_o, err_o, st_o), (_, rc_t, err_t, st_t) in zip(ours, theirs):
        assert (args, rc_o, err_o) == (args, rc_t, err_t), err_t
        assert (args, err_o) == (args, err_t)
        assert (args, st_o) == (args, st_t)


def _ids_of(user):
    import pwd
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        start_qadmin_instance(i)
        yield i


def postsuper(inst, *args, stdin=None):
    return subprocess.run([str(inst.bin / "postsuper"), "-c", str(inst.etc), *map(str, args)],
                          capture_output=True, text=True, timeout=60, input=stdin)


def test_messages_and_log(inst):
    owner = mail_owner(inst)
    a = write_queue_file(inst.spool, "deferred", "x@y.test", ["z@w.test"], owner=owner,
                         reasons={"z@w.test": "refused"})
    b = write_queue_file(inst.spool, "incoming", "x@y.test", ["z@w.test"], owner=owner)
    r = postsuper(inst, "-d", a, "-d", b)
    assert r.returncode == 0
    assert r.stderr == f"postsuper: {a}: removed\npostsuper: {b}: removed\npostsuper: Deleted: 2 messages\n"
    assert find_queue_file(inst.spool, a) is None
    assert not os.path.exists(queue_path(inst.spool, "defer", a))  # its defer log went too
    inst.wait_for_log(rf"postfix/postsuper\[\d+\]: {a}: removed")
    inst.wait_for_log(r"postfix/postsuper\[\d+\]: Deleted: 2 messages")


def test_requeue_goes_to_maildrop(inst):
    owner = mail_owner(inst)
    a = write_queue_file(inst.spool, "hold", "x@y.test", ["z@w.test"], owner=owner)
    r = postsuper(inst, "-r", "ALL")
    assert (r.returncode, r.stderr) == (0, "postsuper: Requeued: 1 message\n")
    assert find_queue_file(inst.spool, a) == "maildrop"


def test_structure_check_renames_to_inode(inst):
    owner = mail_owner(inst)
    a = write_queue_file(inst.spool, "incoming", "x@y.test", ["z@w.test"], owner=owner)
    d = write_queue_file(inst.spool, "deferred", "x@y.test", ["z@w.test"], owner=owner,
                         reasons={"z@w.test": "refused"})
    wrong_a, wrong_d = a[:5] + "1", d[:5] + "2"
    os.rename(queue_path(inst.spool, "incoming", a), queue_path(inst.spool, "incoming", wrong_a))
    # Also in the wrong hash directory, with its defer log under the wrong name.
    uid, gid = _ids_of(owner)
    for hashdir in (inst.spool / "deferred" / "F",
              pathlib.Path(queue_path(inst.spool, "defer", wrong_d)).parent):
        hashdir.mkdir(exist_ok=True)
        os.chown(hashdir, uid, gid)
    os.rename(queue_path(inst.spool, "deferred", d), inst.spool / "deferred" / "F" / wrong_d)
    os.rename(queue_path(inst.spool, "defer", d), queue_path(inst.spool, "defer", wrong_d))
    (inst.spool / "hold" / "ZZ").write_text("junk")
    r = postsuper(inst, "-s")
    assert r.returncode == 0
    assert "postsuper: warning: bogus file name: hold/ZZ\n" in r.stderr
    assert r.stderr.endswith("postsuper: Renamed to match inode number: 2 messages\n"
                             "postsuper: warning: QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS\n")
    assert find_queue_file(inst.spool, a) == "incoming"
    assert find_queue_file(inst.spool, d) == "deferred"
    assert os.path.exists(queue_path(inst.spool, "defer", d))
    r = postsuper(inst)  # no options: the structure check again; nothing to rename
    assert "Renamed" not in r.stderr


def test_delete_waits_for_delivery_lock(inst):
    owner = mail_owner(inst)
    a = write_queue_file(inst.spool, "active", "x@y.test", ["z@w.test"], owner=owner)
    path = queue_path(inst.spool, "active", a)
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)  # as a delivery agent does
    events = []
    proc = subprocess.Popen([str(inst.bin / "postsuper"), "-c", str(inst.etc), "-d", a],
                            stderr=subprocess.PIPE, text=True)

    def release():
        time.sleep(0.5)
        events.append(("exists-before-release", os.path.exists(path)))
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    t = threading.Thread(target=release)
    t.start()
    err = proc.communicate(timeout=60)[1]
    t.join()
    # The file was not unlinked while the agent held its lock.
    assert events == [("exists-before-release", True)]
    assert err == f"postsuper: {a}: removed\npostsuper: Deleted: 1 message\n"
    assert not os.path.exists(path)


def test_not_root(inst):
    r = subprocess.run([str(inst.bin / "postsuper"), "-c", str(inst.etc), "-d", "ALL"],
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: os.setuid(65534))
    assert r.returncode == 1
    assert r.stderr == "postsuper: fatal: use of this command is reserved for the superuser\n"
