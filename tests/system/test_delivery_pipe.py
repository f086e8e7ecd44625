# ctest-timeout: 120
"""The pipe agent: argv expansion, flags (headers, From_ line, dot
stuffing), running as user=, exit status to delivery status, time limit."""
import os
import pwd
import re

import pytest

from delivery_helpers import FAST, inject, queue_files
from instance import Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")

SCRIPT = """#!/bin/sh
out={out}
echo "$@" > "$out/args.$$"
id -un > "$out/user.$$"
cat > "$out/msg.$$"
case "$2" in
  tempfail*) exit 75 ;;
  hardfail*) echo "bad mailbox"; exit 67 ;;
  slow*) sleep 30 ;;
esac
exit 0
"""


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        out = i.dir / "out"
        out.mkdir()
        os.chmod(out, 0o1777)
        script = i.dir / "pipe.sh"
        script.write_text(SCRIPT.format(out=out))
        os.chmod(script, 0o755)
        user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        with open(i.etc / "master.cf", "a") as f:
            f.write(f"testpipe unix - n n - - pipe\n"
                    f"  flags=DORF. user={user} argv={script} ${{sender}} ${{recipient}} "
                    f"${{nexthop}} ${{extension}} ${{user}}\n")
        (i.etc / "transport").write_text("pipe.test testpipe:hop1\n")
        i.set_main(transport_maps=f"texthash:{i.etc}/transport",
                   testpipe_destination_recipient_limit="1", testpipe_time_limit="2s",
                   recipient_delimiter="+", **FAST)
        i.user_name = user
        i.start()
        yield i


def outputs(inst, kind):
    return {p.name.split(".")[1]: p.read_text() for p in (inst.dir / "out").glob(f"{kind}.*")}


def test_pipe_gets_arguments_headers_and_runs_as_user(inst):
    body = ("Subject: pipe\n\n.leading dot\nFrom line\n")
    qid = inject(inst, ["Box+ext@pipe.test"], body=body)
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    [args] = outputs(inst, "args").values()
    assert args == "alice@example.com Box+ext@pipe.test hop1 ext Box\n"
    [user] = outputs(inst, "user").values()
    assert user.strip() == inst.user_name
    [msg] = outputs(inst, "msg").values()
    lines = msg.split("\n")
    assert lines[0].startswith("From alice@example.com  ")
    assert lines[1] == "Return-Path: <alice@example.com>"
    assert lines[2] == "X-Original-To: Box+ext@pipe.test"
    assert lines[3] == "Delivered-To: box+ext@pipe.test"
    assert "\n..leading dot\n" in msg
    assert re.search(rf"pipe\[\d+\]: {qid}: to=<Box\+ext@pipe.test>, relay=testpipe, .*dsn=2\.0\.0, "
                     r"status=sent \(delivered via testpipe service\)", inst.log_text())


def test_pipe_exit_status_and_time_limit(inst):
    qid = inject(inst, ["tempfail@pipe.test", "hardfail@pipe.test", "slow@pipe.test"])
    inst.wait_for_log(rf"{qid}: to=<tempfail@pipe.test>, .*dsn=4\.3\.0, status=deferred "
                      r"\(temporary failure\)", timeout=20)
    inst.wait_for_log(rf"{qid}: to=<hardfail@pipe.test>, .*dsn=5\.1\.1, status=bounced "
                      r"\(user unknown. Command output: bad mailbox \)", timeout=20)
    # As Postfix: a command over its time limit is returned (5.3.0).
    inst.wait_for_log(rf"{qid}: to=<slow@pipe.test>, .*dsn=5\.3\.0, status=bounced \(Command time "
                      r"limit exceeded: ", timeout=20)
    assert "warning: pipe_command_read: read time limit exceeded" in inst.log_text()


def test_agent_killed_mid_delivery_loses_nothing(inst):
    from delivery_helpers import proc_name
    inst.set_main(testpipe_time_limit="60s")
    inst.postfix("reload")
    qid = inject(inst, ["slowkill@pipe.test"])
    pids = wait_until(lambda: [p for p in inst.children() if proc_name(p) == "pipe"], 20,
                      what="pipe agent")
    wait_until(lambda: outputs(inst, "args"), 20, what="command started")
    for p in pids:
        os.kill(p, 9)
    inst.wait_for_log(rf"{qid}: to=<slowkill@pipe.test>, relay=none, .*status=deferred "
                      r"\(mail transport unavailable\)", timeout=20)
    wait_until(lambda: queue_files(inst, "deferred") == [qid], 15, what="deferred")
    [dlog] = list((inst.spool / "defer").rglob(qid))
    assert "recipient=slowkill@pipe.test\n" in dlog.read_text()
