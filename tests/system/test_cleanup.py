# ctest-timeout: 300
"""cleanup under master: queue files written by cleanup for local
submissions (sendmail) and for clients speaking the cleanup protocol, with
header checks, virtual aliases, hold, and clients or cleanup dying
mid-message. Compared with Debian's Postfix where that is cheap."""
import os
import re
import signal
import subprocess
import time

import pytest

from cleanup_helpers import (QueueFile, start_oracle, cleanup_connect, cleanup_submit, encode_record,
                             intake_instance, message_records, queue_files, sendmail,
                             wait_for_queue_file, attr_read)
from instance import wait_until, process_alive

MESSAGE = "To: Ann <ann@example.com>, bob@example.com\nSubject: hello\n\nbody line\n"


@pytest.fixture
def inst(tmp_path):
    inst = intake_instance(tmp_path)
    yield inst
    inst.stop()


def test_sendmail_t_makes_a_complete_queue_file(inst):
    inst.start()
    r = sendmail(inst, ["-t", "-f", "me@example.com", "-F", "Me Myself"], MESSAGE)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    [qf] = wait_for_queue_file(inst.spool, "incoming")
    assert qf.mode == 0o700
    assert qf.types()[0] == "C" and qf.types()[-1] == "E"
    assert qf.sender == "me@example.com"
    assert qf.recipients == ["ann@example.com", "bob@example.com"]
    # Headers cleanup adds for a local submission, after the message's own.
    names = [h.split(":")[0] for h in qf.headers if not h.startswith("\t")]
    assert names == ["Received", "To", "Subject", "Message-Id", "Date", "From"]
    qid = qf.path.name
    assert qf.header("Received").startswith("by demo.localhost (")
    assert f"id {qid};" in qf.headers[1]
    assert re.fullmatch(rf"<\d{{14}}\.{qid}@demo\.localhost>", qf.header("Message-Id"))
    assert qf.header("From") == "Me Myself <me@example.com>"
    assert qf.lines[-1] == "body line"
    inst.wait_for_log(rf"postfix/cleanup\[\d+\]: {qid}: message-id=<\d{{14}}\.{qid}@demo\.localhost>", 30)
    inst.wait_for_log(rf"{qid}: uid=0 from=<me@example.com>", 30)


def test_header_checks_reject_reaches_sendmail(inst):
    (inst.etc / "header_checks").write_text("/^Subject: .*lottery/ REJECT No lottery mail\n")
    inst.set_main(header_checks=f"regexp:{inst.etc}/header_checks")
    inst.start()
    r = sendmail(inst, ["-f", "me@example.com", "ann@example.com"],
                 "Subject: you won the lottery\n\nclick\n")
    assert r.returncode == 65, (r.returncode, r.stderr)  # EX_DATAERR
    assert "5.7.1 No lottery mail" in r.stderr
    inst.wait_for_log(r": reject: header Subject: you won the lottery from local; "
                      r"from=<me@example.com> to=<ann@example.com>: 5\.7\.1 No lottery mail", 30)
    assert queue_files(inst.spool, "incoming") == []
    assert queue_files(inst.spool, "maildrop") == []


def test_virtual_alias_expansion_in_queue_file(inst):
    (inst.etc / "virtual").write_text("team@example.com ann@example.net, bob@example.net\n"
                                      "bob@example.net bob@example.net, bob2@example.org\n")
    inst.set_main(virtual_alias_maps=f"texthash:{inst.etc}/virtual")
    inst.start()
    r = sendmail(inst, ["-f", "me@example.com", "team@example.com"], "Subject: x\n\nhi\n")
    assert r.returncode == 0, r.stderr
    [qf] = wait_for_queue_file(inst.spool, "incoming")
    assert qf.recipients == ["ann@example.net", "bob@example.net", "bob2@example.org"]
    assert qf.of("O", qf.envelope) == ["team@example.com"] * 3
    assert qf.of("A", qf.envelope).count("dsn_orig_rcpt=rfc822;team@example.com") == 3


def test_header_checks_hold_goes_to_hold_queue(inst):
    (inst.etc / "header_checks").write_text("/^X-Hold:/ HOLD held for review\n/^X-Note:/ WARN\n")
    inst.set_main(header_checks=f"regexp:{inst.etc}/header_checks")
    inst.start()
    r = sendmail(inst, ["-f", "me@example.com", "ann@example.com"],
                 "X-Hold: yes\nX-Note: 1\n\nbody\n")
    assert r.returncode == 0, r.stderr
    [qf] = wait_for_queue_file(inst.spool, "hold")
    assert qf.mode == 0o700
    assert queue_files(inst.spool, "incoming") == []
    inst.wait_for_log(r": hold: header X-Hold: yes from local; from=<me@example.com> "
                      r"to=<ann@example.com>: held for review", 30)
    inst.wait_for_log(r": warning: header X-Note: 1 from local; from=<me@example.com>", 30)


def test_protocol_remote_context_and_duplicates(inst):
    inst.start()
    sock = inst.socket_path("cleanup", private=False)
    qid, reply = cleanup_submit(sock, "a", ["x@example.com", "x@example.com"],
                                ["Received: by test", "Return-Path: <evil@example.com>",
                                 "Subject: s", "", "b"], context="remote")
    assert reply == {"status": "0", "reason": ""}
    [qf] = wait_for_queue_file(inst.spool, "incoming")
    assert qf.path.name == qid
    assert qf.recipients == ["x@example.com"]
    assert qf.sender == "a@demo.localhost"  # made canonical by trivial-rewrite
    # Remote clients get no added headers; Return-Path: is always removed.
    assert qf.headers == ["Received: by test", "Subject: s"]
    inst.wait_for_log(rf"{qid}: message-id=<>", 30)


@pytest.mark.parametrize("recipients,lines,status", [
    (["x@example.com"], ["Subject: no received", "", "b"], "1"),
    ([], ["Received: by test", "", "b"], "64"),
])
def test_protocol_rejections(inst, recipients, lines, status):
    inst.start()
    qid, reply = cleanup_submit(inst.socket_path("cleanup", private=False), "a@example.com",
                                recipients, lines)
    assert reply["status"] == status
    assert queue_files(inst.spool, "incoming") == []
    if status == "1":
        inst.wait_for_log(rf"warning: {qid}: message rejected: no Received: header", 30)


def test_client_that_drops_mid_message_leaves_nothing(inst):
    inst.start()
    s, qid = cleanup_connect(inst.socket_path("cleanup", private=False))
    data = message_records("a@example.com", ["x@example.com"], ["Received: by t", "", "b"] * 50)
    s.sendall(data[: len(data) // 2])
    s.close()
    inst.wait_for_log(rf"{qid}: unexpected EOF from client", 30)
    assert queue_files(inst.spool, "incoming") == []


def cleanup_pids(inst):
    out = []
    for pid in inst.children():
        try:
            if os.readlink(f"/proc/{pid}/exe").endswith("/cleanup"):
                out.append(pid)
        except OSError:
            pass
    return out


def test_cleanup_killed_mid_message_queues_nothing(inst):
    inst.start()
    s, qid = cleanup_connect(inst.socket_path("cleanup", private=False))
    data = message_records("a@example.com", ["x@example.com"], ["Received: by t", "", "b"])
    s.sendall(data[: len(data) - 6])
    # The file exists but is incomplete (0600): no queue reader accepts it.
    path = inst.spool / "incoming" / qid
    wait_until(path.exists, 10, what="the queue file")
    pids = cleanup_pids(inst)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # The client sees the connection end without a verdict (smtpd: 451).
    assert attr_read(s) is None
    s.close()
    if path.exists():
        assert path.stat().st_mode & 0o700 == 0o600
    # A new cleanup takes the next message normally.
    qid2, reply = cleanup_submit(inst.socket_path("cleanup", private=False), "a@example.com",
                                 ["x@example.com"], ["Received: by t", "", "b"])
    assert reply["status"] == "0"
    complete = [p.name for p in queue_files(inst.spool, "incoming")
                if p.stat().st_mode & 0o700 == 0o700]
    assert complete == [qid2]


def test_message_size_limit(inst):
    inst.set_main(message_size_limit="2000")
    inst.start()
    qid, reply = cleanup_submit(inst.socket_path("cleanup", private=False), "a@example.com",
                                ["x@example.com"], ["Received: by t", ""] + ["x" * 100] * 30)
    assert reply["status"] == "4"
    assert queue_files(inst.spool, "incoming") == []
    r = sendmail(inst, ["-f", "me@example.com", "ann@example.com"], "S: x\n\n" + "y" * 3000 + "\n")
    assert r.returncode == 65
    assert "message file too big" in r.stderr


# --- comparison with Debian's Postfix ------------------------------------------

def test_same_queue_file_shape_as_postfix(tmp_path, inst):
    postfix_oracle = pytest.importorskip("postfix_oracle")
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix is not available")
    message = ("Return-Path: <evil@example.com>\nTo: ann, Bob <bob>\nCc: carol@example.com (Carol)\n"
               "Bcc: dave\nSubject: compare\n\nbody\n")
    inst.start()
    assert sendmail(inst, ["-t", "-f", "me@example.com"], message).returncode == 0
    [ours] = wait_for_queue_file(inst.spool, "incoming")
    with postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port()) as pf:
        master = pf.etc / "master.cf"
        master.write_text(re.sub(r"^qmgr\s.*$", "", master.read_text(), flags=re.M))
        start_oracle(pf)
        r = subprocess.run(["/usr/sbin/sendmail", "-C", str(pf.etc), "-t", "-f", "me@example.com"],
                           input=message, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        [theirs] = wait_for_queue_file(pf.spool, "incoming", timeout=30)
    def header_names(qf):
        return [h.split(":")[0] for h in qf.headers if not h.startswith("\t")]
    assert header_names(ours) == header_names(theirs)
    assert ours.types() == theirs.types()
    def normalized(qf, host):
        return [h.replace(host, "H") for h in qf.headers[2:] if not h.startswith(("Message-Id", "Date"))]
    # Header addresses made canonical in the local context; Return-Path:, Bcc: gone.
    assert normalized(ours, "demo.localhost") == normalized(theirs, "postfix.oracle.test")
    assert [r.replace("demo.localhost", "H") for r in ours.recipients] == \
        [r.replace("postfix.oracle.test", "H") for r in theirs.recipients]
    assert ours.header("From") == theirs.header("From")
    assert ours.header("Received").split("(")[0].replace("demo.localhost", "H") == \
        theirs.header("Received").split("(")[0].replace("postfix.oracle.test", "H")


def test_full_disk_is_a_temporary_write_error(inst):
    """incoming/ on a tiny tmpfs: cleanup answers status 2 (smtpd: 451 4.3.0)
    and leaves no file; sendmail then keeps the message in maildrop/."""
    incoming = inst.spool / "incoming"
    st = incoming.stat()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(incoming)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        os.chown(incoming, st.st_uid, st.st_gid)
        inst.start()
        big = ["Received: by t", ""] + ["x" * 900] * 400  # about 360 kB
        qid, reply = cleanup_submit(inst.socket_path("cleanup", private=False), "a@example.com",
                                    ["x@example.com"], big)
        assert reply == {"status": "2", "reason": "4.3.0 queue file write error"}
        try:
            inst.wait_for_log(rf"warning: {qid}: write queue file: .*No space left on device", 20)
        except TimeoutError:
            print(inst.log_text())
            raise
        assert queue_files(inst.spool, "incoming") == []
        r = sendmail(inst, ["-f", "me@example.com", "ann@example.com"], "\n".join(big[2:]) + "\n")
        assert r.returncode == 0, r.stderr
        [drop] = queue_files(inst.spool, "maildrop")
        assert drop.stat().st_mode & 0o700 == 0o700
    finally:
        inst.stop()
        subprocess.run(["umount", str(incoming)], capture_output=True)


def test_chrooted_cleanup_and_pickup(tmp_path):
    """master.cf's chroot column (as conf/master.cf has it for cleanup and
    pickup): both work inside the queue directory."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    inst = intake_instance(tmp_path)
    try:
        inst.write_master_cf(
            "pickup    unix  n       -       y       1       1       pickup\n"
            "cleanup   unix  n       -       y       -       0       cleanup\n"
            "rewrite   unix  -       -       n       -       -       trivial-rewrite\n"
            "postlog   unix-dgram n  -       n       -       1       postlogd\n")
        (inst.etc / "virtual").write_text("team@example.com ann@example.net\n")
        inst.set_main(virtual_alias_maps=f"texthash:{inst.etc}/virtual")
        # Through maildrop/ and pickup (master down), then directly to cleanup.
        assert sendmail(inst, ["-f", "me@example.com", "team@example.com"], "S: 1\n\nb\n").returncode == 0
        inst.start()
        assert sendmail(inst, ["-f", "me@example.com", "team@example.com"], "S: 2\n\nb\n").returncode == 0
        files = wait_for_queue_file(inst.spool, "incoming", count=2)
        assert [qf.recipients for qf in files] == [["ann@example.net"]] * 2
        inst.wait_for_log(r"postfix/pickup\[\d+\]: \w+: uid=0 from=<me@example.com>", 30)
    finally:
        inst.stop()


def test_address_mapping_same_as_postfix(tmp_path, inst):
    """canonical maps, masquerading and the BCC features give the same
    envelope and headers as Debian's Postfix for the same input."""
    postfix_oracle = pytest.importorskip("postfix_oracle")
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix is not available")
    tables = {
        "canonical": "me@example.com me.public@example.com\n",
        "rcanonical": "old@example.com new@example.com\n",
        "rbcc": "ann@example.com ann-copy@example.net\n",
        "sbcc": "me.public@example.com sent@example.net\n",
        "virtual": "team@example.com ann@example.com, bob@example.com\n",
    }

    def configure(etc, set_main):
        for name, text in tables.items():
            (etc / name).write_text(text)
        set_main(sender_canonical_maps=f"texthash:{etc}/canonical",
                 recipient_canonical_maps=f"texthash:{etc}/rcanonical",
                 recipient_bcc_maps=f"texthash:{etc}/rbcc",
                 sender_bcc_maps=f"texthash:{etc}/sbcc",
                 virtual_alias_maps=f"texthash:{etc}/virtual",
                 masquerade_domains="example.org",
                 always_bcc="audit@example.net")

    message = ("From: Me <me@example.com>\nTo: team@example.com, old@example.com\n"
               "Cc: joe@host.example.org\nSubject: mapping\n\nbody\n")
    args = ["-f", "me@example.com", "team@example.com", "old@example.com", "joe@host.example.org"]
    configure(inst.etc, inst.set_main)
    inst.start()
    r = sendmail(inst, args, message)
    assert r.returncode == 0, r.stderr
    [ours] = wait_for_queue_file(inst.spool, "incoming")
    with postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port()) as pf:
        master = pf.etc / "master.cf"
        master.write_text(re.sub(r"^qmgr\s.*$", "", master.read_text(), flags=re.M))
        configure(pf.etc, pf.set_main)
        start_oracle(pf)
        r = subprocess.run(["/usr/sbin/sendmail", "-C", str(pf.etc), *args], input=message,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        [theirs] = wait_for_queue_file(pf.spool, "incoming", timeout=30)
    assert ours.sender == theirs.sender == "me.public@example.com"
    assert ours.recipients == theirs.recipients
    assert ours.of("O") == theirs.of("O")
    keep = ("From:", "To:", "Cc:")
    assert [h for h in ours.headers if h.startswith(keep)] == \
        [h for h in theirs.headers if h.startswith(keep)]
