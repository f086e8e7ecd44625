# ctest-timeout: 300
"""sendmail, postdrop and pickup: local submission that never loses a
message. With master down the message waits in maildrop/; pickup moves it
into the queue once master runs. Option handling and exit codes follow
Postfix's sendmail (sysexits.h)."""
import os
import pathlib
import subprocess

import pytest

from cleanup_helpers import (QueueFile, encode_record, intake_instance, queue_files,
                             read_records, sendmail, wait_for_queue_file)
from instance import BIN, wait_until


@pytest.fixture
def inst(tmp_path):
    inst = intake_instance(tmp_path)
    yield inst
    inst.stop()


def test_master_down_message_waits_in_maildrop_then_is_picked_up(inst):
    r = sendmail(inst, ["-f", "me@example.com", "ann@example.com"], "Subject: wait\n\nbody\n")
    assert r.returncode == 0, r.stderr
    [drop] = queue_files(inst.spool, "maildrop")
    assert drop.stat().st_mode & 0o7777 == 0o744
    records = read_records(drop)
    types = "".join(t for t, _ in records)
    assert types.startswith("TA") and "C" not in types and "O" not in types
    assert (b"S", b"me@example.com") in [(t.encode(), d) for t, d in records]
    inst.start()
    [qf] = wait_for_queue_file(inst.spool, "incoming")
    # pickup removes its file once cleanup has answered.
    wait_until(lambda: queue_files(inst.spool, "maildrop") == [], 10, what="empty maildrop")
    assert qf.sender == "me@example.com"
    assert qf.recipients == ["ann@example.com"]
    assert qf.header("Subject") == "wait"
    assert qf.header("Received").startswith("by demo.localhost (")
    inst.wait_for_log(rf"postfix/pickup\[\d+\]: {qf.path.name}: uid=0 from=<me@example.com>", 30)


def test_pickup_takes_what_postdrop_wrote_while_master_runs(inst):
    inst.start()
    data = b"".join(encode_record(t, d) for t, d in [
        ("S", "me@example.com"), ("R", "ann@example.com"), ("M", ""), ("N", "Subject: pd"),
        ("N", ""), ("N", "b"), ("X", ""), ("E", "")])
    r = subprocess.run([str(BIN / "postdrop"), "-c", str(inst.etc)], input=data,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    [qf] = wait_for_queue_file(inst.spool, "incoming")
    assert qf.header("Subject") == "pd"
    wait_until(lambda: queue_files(inst.spool, "maildrop") == [], 10, what="empty maildrop")


@pytest.mark.parametrize("records", [
    [("C", "x")],                                             # not allowed from users
    [("S", "a"), ("M", ""), ("R", "b")],                       # R in content
    [("S", "a"), ("R", "b"), ("M", ""), ("N", "x")],           # truncated
])
def test_postdrop_refuses_malformed_input(inst, records):
    data = b"".join(encode_record(t, d) for t, d in records)
    r = subprocess.run([str(BIN / "postdrop"), "-c", str(inst.etc)], input=data,
                       capture_output=True, text=False, timeout=30)
    assert r.returncode == 65, r  # EX_DATAERR
    assert b"postdrop: error: uid=0: " in r.stderr
    assert queue_files(inst.spool, "maildrop") == []


def test_pickup_moves_a_corrupt_maildrop_file_aside(inst):
    bad = inst.spool / "maildrop" / "ABCDEF12345"
    bad.write_bytes(encode_record("T", "1 0") + encode_record("Q", "bogus"))
    os.chmod(bad, 0o744)
    inst.start()
    wait_until(lambda: queue_files(inst.spool, "corrupt"), 15, what="file in corrupt/")
    assert not bad.exists()
    assert queue_files(inst.spool, "incoming") == []


def test_dot_line_ends_input_unless_i(inst):
    msg = "Subject: dots\n\nline1\n.\nline2\n"
    assert sendmail(inst, ["-f", "a@example.com", "x@example.com"], msg).returncode == 0
    assert sendmail(inst, ["-oi", "-f", "a@example.com", "y@example.com"], msg).returncode == 0
    inst.start()
    files = wait_for_queue_file(inst.spool, "incoming", count=2)
    by_rcpt = {qf.recipients[0]: qf for qf in files}
    assert by_rcpt["x@example.com"].lines[-1] == "line1"
    assert by_rcpt["y@example.com"].lines[-2:] == [".", "line2"]


def test_t_extracts_recipients_and_drops_bcc(inst):
    inst.start()
    msg = ("From - mbox separator line\nTo: a@example.com\nCc: B <b@example.com>\n"
           "Bcc: hidden@example.com\nSubject: t\n\nbody\n")
    r = sendmail(inst, ["-t", "-f", "me@example.com", "extra@example.com"], msg)
    assert r.returncode == 0, r.stderr
    [qf] = wait_for_queue_file(inst.spool, "incoming")
    assert qf.recipients == ["extra@example.com", "a@example.com", "b@example.com",
                             "hidden@example.com"]
    assert qf.header("Bcc") is None
    assert qf.header("To") == "a@example.com"
    assert not any(line.startswith("From -") for line in qf.lines)


def test_dsn_options_are_recorded(inst):
    inst.start()
    r = sendmail(inst, ["-N", "failure,delay", "-R", "hdrs", "-V", "env-42", "-f", "a@example.com",
                        "x@example.com"], "Subject: dsn\n\nb\n")
    assert r.returncode == 0, r.stderr
    [qf] = wait_for_queue_file(inst.spool, "incoming")
    attrs = qf.of("A", qf.envelope)
    assert "envelope_id=env-42" in attrs
    assert "ret_flags=2" in attrs
    assert "notify_flags=12" in attrs


@pytest.mark.parametrize("args,stdin,code,text", [
    ([], "x\n", 75, "sendmail: fatal: root(0): Recipient addresses must be specified on the "
                    "command line or via the -t option"),
    (["-t"], "Subject: none\n\nb\n", 75, "No recipient addresses found in message header"),
    (["-Q"], "", 75, "sendmail: fatal: usage: sendmail [options]"),
    (["-N", "sometimes", "x@example.com"], "", 64, "bad -N option value"),
])
def test_usage_errors(inst, args, stdin, code, text):
    r = sendmail(inst, args, stdin)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert text in r.stderr
    assert queue_files(inst.spool, "maildrop") == []


def test_mailq_and_bp_run_postqueue(inst):
    for argv0, args in (("mailq", []), ("sendmail", ["-bp"])):
        r = sendmail(inst, args, "", argv0=argv0)
        if (BIN / "postqueue").exists():
            assert r.returncode == 0, r.stderr
        else:
            assert r.returncode == 69
            assert "postqueue is not available" in r.stderr


def test_newaliases_mode_builds_alias_database(inst):
    aliases = inst.etc / "aliases"
    aliases.write_text("postmaster: root\n")
    inst.set_main(alias_database=f"hash:{aliases}", alias_maps=f"hash:{aliases}")
    for argv0, args in (("newaliases", []), ("sendmail", ["-bi"])):
        db = pathlib.Path(str(aliases) + ".db")
        if db.exists():
            db.unlink()
        r = sendmail(inst, args, "", argv0=argv0)
        assert r.returncode == 0, r.stderr
        assert db.exists()


def test_setgid_postdrop_refuses_a_users_configuration(tmp_path, inst):
    """Set-gid, postdrop must not let a user pick the configuration."""
    pd = tmp_path / "postdrop"
    pd.write_bytes((BIN / "postdrop").read_bytes())
    if subprocess.run(["chgrp", "postdrop", str(pd)]).returncode != 0:
        pytest.skip("no postdrop group")
    os.chmod(pd, 0o2755)
    r = subprocess.run(["su", "-s", "/bin/sh", "nobody", "-c", f"{pd} -c {inst.etc} </dev/null"],
                       capture_output=True, text=True, timeout=30)
    if "nosuid" in pathlib.Path("/proc/mounts").read_text() and r.returncode == 0:
        pytest.skip("set-gid bits ignored on this file system")
    assert r.returncode == 77, r  # EX_NOPERM
    assert f"{inst.etc} is not an authorized configuration directory" in r.stderr


def test_pickup_logs_and_drops_a_message_cleanup_rejects(inst):
    (inst.etc / "header_checks").write_text("/^Subject: spam/ REJECT go away\n")
    inst.set_main(header_checks=f"regexp:{inst.etc}/header_checks")
    # master down: the message waits in maildrop/ ...
    r = sendmail(inst, ["-f", "me@example.com", "ann@example.com"], "Subject: spam\n\nb\n")
    assert r.returncode == 0, r.stderr
    assert len(queue_files(inst.spool, "maildrop")) == 1
    # ... and pickup reports cleanup's verdict when it runs.
    inst.start()
    inst.wait_for_log(r"postfix/pickup\[\d+\]: (\w+): uid=0 from=<me@example.com>", 30)
    inst.wait_for_log(r"postfix/pickup\[\d+\]: warning: \w+: message from uid=0 not queued: "
                      r"5\.7\.1 go away", 30)
    wait_until(lambda: queue_files(inst.spool, "maildrop") == [], 10, what="empty maildrop")
    assert queue_files(inst.spool, "incoming") == []


def test_q_forms(inst):
    assert sendmail(inst, ["-q1h"], "").returncode == 0  # accepted and ignored
    r = sendmail(inst, ["-q"], "")
    if (BIN / "postqueue").exists():
        # postqueue -f ran; with master down it says so, as Postfix's does.
        assert r.returncode == 69, r.stderr
        assert "postqueue: fatal: Cannot flush mail queue - mail system is down" in r.stderr
    else:
        assert r.returncode == 69 and "postqueue is not available" in r.stderr
