# ctest-timeout: 300
"""Queue administration on a full running instance (sendmail, pickup,
cleanup, qmgr, the error transport as a deferring `retry`): mail really
deferred shows up in mailq with its reason; hold, release, requeue
(through pickup) and delete act on it while qmgr runs."""
import os
import re
import subprocess
import time

import pytest

from instance import Instance, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="privileged instance")


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(default_transport="retry:4.4.1 remote site is down")
        i.start()
        yield i


def cmd(inst, *args, stdin=None):
    return subprocess.run([str(inst.bin / args[0]), "-c", str(inst.etc), *args[1:]],
                          capture_output=True, text=True, timeout=60, input=stdin)


def send(inst, rcpt):
    r = subprocess.run([str(inst.bin / "sendmail"), "-C", str(inst.etc), "-f", "alice@demo.test", rcpt],
                       input="Subject: test\n\nbody\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def ids_in(listing):
    return [line.split()[0].rstrip("*!#") for line in listing.splitlines()
            if re.match(r"^[0-9A-F]{6,}", line)]


def test_deferred_mail_through_the_admin_commands(inst):
    send(inst, "bob@remote.test")
    send(inst, "carol@remote.test")
    inst.wait_for_log(r"status=deferred \(remote site is down\)", count=2)
    listing = cmd(inst, "postqueue", "-p").stdout
    assert listing.count(" " * 57 + "(remote site is down)\n") == 2
    assert listing.endswith("-- 0 Kbytes in 2 Requests.\n")
    bob, carol = ids_in(listing)[0], ids_in(listing)[1]

    r = cmd(inst, "postsuper", "-h", bob)
    assert r.stderr == f"postsuper: {bob}: placed on hold\npostsuper: Placed on hold: 1 message\n"
    assert f"{bob}!" in cmd(inst, "postqueue", "-p").stdout

    # Requeue: through maildrop, pickup and cleanup, a new queue file and ID.
    r = cmd(inst, "postsuper", "-r", carol)
    assert r.stderr == f"postsuper: {carol}: requeued\npostsuper: Requeued: 1 message\n"
    inst.wait_for_log(r"pickup\[\d+\]: [0-9A-F]+: uid=\d+ from=<alice@demo\.test>")
    inst.wait_for_log(r"status=deferred \(remote site is down\)", count=3)
    wait_until(lambda: len(ids_in(cmd(inst, "postqueue", "-p").stdout)) == 2, 10, what="requeued")
    assert "corrupt" not in inst.log_text()
    ids = ids_in(cmd(inst, "postqueue", "-p").stdout)
    assert bob in ids and carol not in ids
    assert "carol@remote.test" in cmd(inst, "postqueue", "-p").stdout

    r = cmd(inst, "postsuper", "-H", "ALL")
    assert r.stderr == "postsuper: Released from hold: 1 message\n"
    r = cmd(inst, "postqueue", "-f")
    assert (r.returncode, r.stderr) == (0, "")
    inst.wait_for_log(r"status=deferred \(remote site is down\)", count=5)

    r = cmd(inst, "postsuper", "-d", "ALL")
    assert r.stderr == "postsuper: Deleted: 2 messages\n"
    assert cmd(inst, "postqueue", "-p").stdout == "Mail queue is empty\n"
    assert cmd(inst, "postqueue", "-j").stdout == ""
