# ctest-timeout: 240
"""Delivery faults: the reason for a deferred recipient in mailq, a full
disk (a tiny tmpfs, root only) deferred and delivered once there is room,
a .forward loop, a local command that hangs (command_time_limit), and a
delivery agent killed mid-delivery whose recipient is delivered on retry."""
import os
import pwd
import re
import subprocess

import pytest

from delivery_helpers import FAST, inject, maildir_messages, proc_name, queue_files
from instance import BIN, Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(**FAST)
        i.start()
        yield i


def mailq(inst):
    r = subprocess.run([str(BIN / "postqueue"), "-c", str(inst.etc), "-p"], capture_output=True,
                       text=True, timeout=30)
    return r.stdout


def test_unwritable_mailbox_reason_in_mailq(inst):
    (inst.dir / "mail" / "frank").write_text("not a directory\n")
    qid = inject(inst, ["frank@demo.test"])
    # Debian's Postfix: "maildir delivery failed: create maildir file DIR/tmp/NAME: Not a directory".
    inst.wait_for_log(rf"{qid}: to=<frank@demo.test>, relay=virtual, .*dsn=4\.2\.0, status=deferred "
                      rf"\(maildir delivery failed: create maildir file {re.escape(str(inst.dir))}"
                      r"/mail/frank/tmp/\d+\.P\d+\.[^:]+: Not a directory\)", timeout=20)
    wait_until(lambda: queue_files(inst, "deferred") == [qid], 10, what="deferred file")
    out = wait_until(lambda: (lambda t: t if "maildir delivery failed" in t else None)(mailq(inst)),
                     10, what="reason in mailq")
    assert re.search(rf"^{qid}\s+\d+ .* alice@example\.com$", out, re.M), out
    # As Postfix's mailq: the reason in parentheses, from the first column.
    assert re.search(r"^\(maildir delivery failed: .*frank.*\)$", out, re.M), out
    assert re.search(r"^\s+frank@demo\.test$", out, re.M), out


def can_mount():
    if os.geteuid() != 0:
        return False
    probe = "/tmp/.postern-mount-probe"
    os.makedirs(probe, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", probe],
                        capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", probe])
    os.rmdir(probe)
    return ok


@pytest.mark.skipif(not can_mount(), reason="needs root and tmpfs mounts")
def test_full_disk_is_deferred_then_delivered(inst):
    box = inst.dir / "mail" / "dora"
    box.mkdir(parents=True)
    st = os.stat(inst.dir / "mail")
    os.chown(box, st.st_uid, st.st_gid)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(box)], check=True)
    mounted = True
    try:
        body = "Subject: big\n\n" + ("z" * 99 + "\n") * 1000
        qid = inject(inst, ["dora@demo.test"], body=body)
        # A full file system is temporary (4.3.1), not a full mailbox (5.2.2).
        inst.wait_for_log(rf"{qid}: to=<dora@demo.test>, relay=virtual, .*dsn=4\.3\.1, "
                          r"status=deferred \(maildir delivery failed: .*No space left on device",
                          timeout=20)
        wait_until(lambda: queue_files(inst, "deferred") == [qid], 10, what="deferred")
        # No partial file is left behind in new/.
        assert not list((box / "new").glob("*")) if (box / "new").exists() else True
        subprocess.run(["umount", str(box)], check=True)
        mounted = False
        inst.wait_for_log(rf"{qid}: removed", timeout=30)
        [msg] = maildir_messages(inst, "dora")
        assert msg.endswith(("z" * 99 + "\n") * 3)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(box)])


def local_instance(tmp_path, **main):
    i = Instance(tmp_path)
    spool = i.dir / "spool-mail"
    spool.mkdir()
    i.set_main(mail_spool_directory=str(spool), **FAST, **main)
    return i


LOCAL_USER = "postern" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name


def test_forward_loop_is_bounced(tmp_path):
    # LOCAL_USER's .forward sends mail to carol@loop.test, which
    # virtual_alias_maps sends back to LOCAL_USER: the second time round,
    # local finds its own Delivered-To: header.
    with local_instance(tmp_path) as inst:
        fwd = inst.dir / "forward"
        fwd.mkdir()
        os.chmod(fwd, 0o755)
        (fwd / LOCAL_USER).write_text("carol@loop.test\n")
        os.chmod(fwd / LOCAL_USER, 0o644)
        (inst.etc / "valias").write_text(f"carol@loop.test {LOCAL_USER}@localhost\n")
        inst.set_main(forward_path=f"{fwd}/$user", virtual_alias_maps=f"texthash:{inst.etc}/valias")
        inst.start()
        qid = inject(inst, [f"{LOCAL_USER}@localhost"], sender="")
        inst.wait_for_log(rf"{qid}: to=<{LOCAL_USER}@localhost>, .*status=sent \(forwarded as ",
                          timeout=20)
        inst.wait_for_log(rf"local\[\d+\]: (\w+): to=<{LOCAL_USER}@localhost>, .*dsn=5\.4\.6, "
                              rf"status=bounced \(mail forwarding loop for {LOCAL_USER}@localhost\)",
                              timeout=30)
        assert not (inst.dir / "spool-mail" / LOCAL_USER).exists()


def test_hanging_mailbox_command_is_killed(tmp_path):
    with local_instance(tmp_path, mailbox_command="sleep 60", command_time_limit="2s") as inst:
        inst.start()
        qid = inject(inst, [f"{LOCAL_USER}@localhost"])
        # As Postfix: the command is killed and the mail returned (5.3.0).
        inst.wait_for_log(rf"{qid}: to=<{LOCAL_USER}@localhost>, relay=local, .*dsn=5\.3\.0, "
                          r"status=bounced \(Command time limit exceeded: \"sleep 60\"\)", timeout=30)
        assert "warning: pipe_command_read: read time limit exceeded" in inst.log_text()
        inst.wait_for_log(rf"{qid}: removed", timeout=20)


SLOW_ONCE = """#!/bin/sh
out={out}
cat > "$out/msg.$$"
if [ ! -e "$out/slept" ]; then touch "$out/slept"; echo $$ > "$out/started"; sleep 60; fi
echo "$1" >> "$out/delivered"
exit 0
"""


def test_agent_killed_mid_delivery_then_delivered(tmp_path):
    with Instance(tmp_path) as inst:
        out = inst.dir / "out"
        out.mkdir()
        os.chmod(out, 0o1777)
        script = inst.dir / "slow.sh"
        script.write_text(SLOW_ONCE.format(out=out))
        os.chmod(script, 0o755)
        runas = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        with open(inst.etc / "master.cf", "a") as f:
            f.write(f"slowpipe unix - n n - - pipe\n  user={runas} argv={script} ${{recipient}}\n")
        (inst.etc / "transport").write_text("slow.test slowpipe:\n")
        inst.set_main(transport_maps=f"texthash:{inst.etc}/transport", **FAST)
        inst.start()
        qid = inject(inst, ["a@slow.test", "bob@demo.test"])
        wait_until(lambda: (out / "started").exists(), 20, what="command started")
        pids = [p for p in inst.children() if proc_name(p) == "pipe"]
        assert pids
        for p in pids:
            os.kill(p, 9)
        # The retry (short back-off) delivers the recipient that was being
        # delivered; the other one was delivered once.
        inst.wait_for_log(rf"{qid}: to=<a@slow.test>, relay=slowpipe, .*status=sent", timeout=40)
        inst.wait_for_log(rf"{qid}: removed", timeout=20)
        assert (out / "delivered").read_text() == "a@slow.test\n"
        assert len(maildir_messages(inst, "bob")) == 1
        assert queue_files(inst) == []


def test_mailbox_size_limit_and_unwritable_file(tmp_path):
    # Texts and codes as Debian's Postfix logs them.
    with local_instance(tmp_path, mailbox_size_limit="2000", message_size_limit="1000") as inst:
        out = inst.dir / "out"
        out.mkdir()
        os.chmod(out, 0o1777)
        (out / "ro").mkdir()
        os.chmod(out / "ro", 0o555)
        (inst.etc / "aliases").write_text(f"denied: {out}/ro/file\n")
        r = subprocess.run([str(BIN / "postalias"), "-c", str(inst.etc), f"hash:{inst.etc}/aliases"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        inst.set_main(alias_maps=f"hash:{inst.etc}/aliases")
        box = inst.dir / "spool-mail" / LOCAL_USER
        box.write_text("x" * 1900)
        pw = pwd.getpwnam(LOCAL_USER)
        os.chown(box, pw.pw_uid, pw.pw_gid)
        inst.start()
        qid = inject(inst, [f"{LOCAL_USER}@localhost", "denied@localhost"], sender="")
        inst.wait_for_log(rf"{qid}: to=<{LOCAL_USER}@localhost>, relay=local, .*dsn=5\.2\.2, "
                          rf"status=bounced \(cannot update mailbox {re.escape(str(box))} for user "
                          rf"{LOCAL_USER}\. error writing message: File too large\)", timeout=20)
        inst.wait_for_log(rf"{qid}: to=<denied@localhost>, relay=local, .*dsn=5\.2\.0, "
                          rf"status=bounced \(cannot append message to file {re.escape(str(out))}/ro/file: "
                          r"cannot create file exclusively: Permission denied\)", timeout=20)
        assert box.read_text() == "x" * 1900  # the partial copy was cut off again


def test_virtual_mailbox_limit(inst):
    (inst.etc / "vbox").write_text("gina@demo.test gina\n")
    inst.set_main(virtual_mailbox_maps=f"texthash:{inst.etc}/vbox", virtual_mailbox_limit="2000",
                  message_size_limit="1000")
    inst.postfix("reload")
    box = inst.dir / "mail" / "gina"
    box.write_text("x" * 1900)
    st = os.stat(inst.dir / "mail")
    os.chown(box, st.st_uid, st.st_gid)
    qid = inject(inst, ["gina@demo.test"], sender="")
    # Debian's Postfix: the same code and text.
    inst.wait_for_log(rf"{qid}: to=<gina@demo.test>, relay=virtual, .*dsn=5\.2\.2, status=bounced "
                      rf"\(delivery failed to mailbox {re.escape(str(box))}: error writing message: "
                      r"File too large\)", timeout=20)
    assert box.read_text() == "x" * 1900
