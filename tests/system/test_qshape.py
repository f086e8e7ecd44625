# ctest-timeout: 300
"""qshape compared with Debian's Postfix qshape for the same queue files.
Rows with equal totals come out in hash order in Postfix's Perl script, so
they are compared as sets; header, TOTAL line and row order by count are
compared exactly."""
import os
import subprocess
import time

import pytest

import postfix_oracle
from instance import Instance
from qadmin_helpers import mail_owner, write_queue_file

pytestmark = pytest.mark.skipif(not postfix_oracle.available() or not os.path.exists("/usr/sbin/qshape"),
                                reason="needs root and Debian's Postfix qshape")


def fill(spool, owner, now):
    w = lambda q, s, r, age: write_queue_file(spool, q, s, r, arrival=now - age, owner=owner)
    w("deferred", "a@sender.example", ["x@mx.example.com", "y@MX.example.com", "z@other.test"], 30)
    w("deferred", "b@sender.example", ["x@sub.mx.example.com"], 700)
    w("deferred", "", ["q@verylongdomainname-abcdefghijklmnopqrstuvwxyz.example.org"], 100000)
    w("deferred", "c@s2.test", [f"u{i}@many.test" for i in range(120)], 4000)
    w("active", "c@s2.test", ["x@mx.example.com"], 3000)
    w("incoming", "d@s3.test", ["y@a.b.c.d.e.example.net"], 200)
    w("hold", "c@s2.test", ["h@held.test"], 3000)


def rows(text):
    lines = text.splitlines()
    head, total, body = lines[0], lines[1], lines[2:]
    counts = [int(line.split()[1]) for line in body]
    return head, total, sorted(body), counts


@pytest.mark.parametrize("args", [[], ["deferred"], ["-s", "deferred"], ["-p", "-m", "1", "deferred"],
                                  ["-p", "-m", "2", "deferred", "active"], ["-b", "3", "-t", "1", "deferred"],
                                  ["-l", "-b", "4", "deferred"], ["-w", "100", "deferred"], ["hold"],
                                  ["-s", "incoming", "active", "deferred", "hold"], ["maildrop"]])
def test_qshape_matches_postfix(tmp_path, args):
    pf = postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port())
    assert pf.command("postfix", "check").returncode == 0
    with Instance(tmp_path) as inst:
        inst.postfix("check")
        now = int(time.time())
        fill(pf.spool, "postfix", now)
        fill(inst.spool, mail_owner(inst), now)
        theirs = subprocess.run(["/usr/sbin/qshape", "-c", str(pf.etc), *args],
                                capture_output=True, text=True, timeout=60)
        ours = subprocess.run([str(inst.bin / "qshape"), "-c", str(inst.etc), *args],
                              capture_output=True, text=True, timeout=60)
    assert ours.returncode == theirs.returncode == 0
    t, o = rows(theirs.stdout), rows(ours.stdout)
    assert o[0] == t[0]
    assert o[1] == t[1]
    assert o[2] == t[2]
    assert o[3] == t[3]  # rows in descending count order
