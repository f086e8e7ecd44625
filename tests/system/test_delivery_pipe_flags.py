# ctest-timeout: 150
"""pipe attributes beyond the basics: size=, eol=, null_sender=, the q
flag, D loop detection, $$ and client/queue macros, and an enhanced
status code at the start of the command output."""
import os
import pwd
import re

import pytest

from delivery_helpers import FAST, inject
from instance import Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")

SCRIPT = """#!/bin/sh
out={out}
printf '%s\\n' "$@" > "$out/args.$$"
cat > "$out/msg.$$"
case "$3" in
  status*) echo "4.7.1 greylisted, try again"; exit 1 ;;
  hard*) echo "5.7.9 no thanks"; exit 75 ;;
esac
echo "queued here as X1"
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
            f.write(f"flagpipe unix - n n - - pipe\n"
                    f"  flags=DqX size=3000 eol=\\r\\n null_sender= user={user}\n"
                    f"  argv={script} $$HOME ${{sender}} ${{recipient}} ${{queue_id}} ${{size}}"
                    f" $(nexthop)\n")
            f.write(f"plainpipe unix - n n - - pipe\n  user={user} argv=/bin/true\n")
            f.write(f"fbpipe unix - n n - - pipe\n  flags=FB>hu user={user} argv={script} x ${{sender}}"
                    f" ${{recipient}} ${{original_recipient}} ${{nexthop}}\n")
            f.write(f"opipe unix - n n - - pipe\n  flags=O user={user} argv=/bin/true\n")
            f.write(f"rootpipe unix - n n - - pipe\n  chroot=/nonexistent-root user={user} argv=/bin/true\n")
            f.write(f"dirpipe unix - n n - - pipe\n  directory=/nonexistent-dir user={user} argv=/bin/true\n")
            f.write(f"grouppipe unix - n n - - pipe\n  user={user} argv=/bin/sh -c"
                    f" {{ cat > {out}/grouped.txt; echo \"$1\" >> {out}/grouped.txt }} sh ${{recipient}}\n")
        (i.etc / "transport").write_text("pipe.test flagpipe:Hop.Test\nplain.test plainpipe:\n"
                                         "fb.test fbpipe:Next.HOP\no.test opipe:\ngroup.test grouppipe:\n"
                                         "root.test rootpipe:\ndir.test dirpipe:\n")
        i.set_main(transport_maps=f"texthash:{i.etc}/transport",
                   flagpipe_destination_recipient_limit="1", **FAST)
        i.start()
        yield i


def outputs(inst, kind):
    return [p.read_bytes() for p in sorted((inst.dir / "out").glob(f"{kind}.*"))]


def test_null_sender_quoting_eol_and_macros(inst):
    # Queue files hold addresses in internal (unquoted) form.
    qid = inject(inst, ["john doe@pipe.test"], sender="", body="Subject: x\n\nline one\n")
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    [args] = outputs(inst, "args")
    [dollar, sender, rcpt, queue_id, size, nexthop, _] = args.decode().split("\n")
    assert dollar == "$HOME"               # $$ is a literal dollar sign
    assert sender == ""                    # null_sender= (empty) is not quoted
    assert rcpt == '"john doe"@pipe.test'  # q quotes the local part
    assert queue_id == qid
    assert int(size) > 0
    assert nexthop == "Hop.Test"
    [msg] = outputs(inst, "msg")
    # eol=\r\n ends every line, including the prepended Delivered-To:.
    assert msg.startswith(b"Delivered-To: john doe@pipe.test\r\n"), msg
    assert b"\r\nline one\r\n" in msg and b"\n" not in msg.replace(b"\r\n", b"")
    # Command output on success goes into the log (Postfix 3.0 and later).
    assert re.search(rf"{qid}: to=<john doe@pipe.test>, relay=flagpipe, .*status=sent "
                     r"\(delivered via flagpipe service \(queued here as X1\)\)", inst.log_text())


def test_size_limit_and_delivered_to_loop(inst):
    big = inject(inst, ["big@pipe.test"], body="Subject: big\n\n" + "x" * 70 + "\n" * 1 + ("y" * 70 + "\n") * 60)
    inst.wait_for_log(rf"{big}: to=<big@pipe.test>, .*dsn=5\.2\.3, status=bounced \(message too large\)",
                      timeout=20)
    loop = inject(inst, ["loop@pipe.test"], body="Delivered-To: Loop@pipe.test\nSubject: l\n\nx\n")
    inst.wait_for_log(rf"{loop}: to=<loop@pipe.test>, .*dsn=5\.4\.6, status=bounced "
                      r"\(mail forwarding loop for loop@pipe.test\)", timeout=20)
    assert not outputs(inst, "args")  # the command never ran


def test_enhanced_status_in_output_wins(inst):
    qid = inject(inst, ["status@pipe.test", "hard@pipe.test"])
    inst.wait_for_log(rf"{qid}: to=<status@pipe.test>, .*dsn=4\.7\.1, status=deferred "
                      r"\(greylisted, try again \)", timeout=20)
    # Exit 75 alone would defer; the 5.7.9 in the output makes it a bounce.
    inst.wait_for_log(rf"{qid}: to=<hard@pipe.test>, .*dsn=5\.7\.9, status=bounced \(no thanks \)",
                      timeout=20)


def test_x_flag_success_report_says_delivered(inst):
    from delivery_helpers import maildir_messages
    qid = inject(inst, ["final@pipe.test", "onward@plain.test"], sender="carol@demo.test",
                 notify_success=True)
    inst.wait_for_log(rf"{qid}: sender delivery status notification: ", timeout=30)
    [report] = maildir_messages(inst, "carol", timeout=30)
    # X: the command is the final delivery; without it, the mail was relayed.
    assert re.search(r"Final-Recipient: rfc822; final@pipe.test\n(?:Original-Recipient: .*\n)?Action: delivered\n", report), report
    assert re.search(r"Final-Recipient: rfc822; onward@plain.test\n(?:Original-Recipient: .*\n)?Action: relayed\n", report), report


def test_from_line_quoting_blank_line_and_case_folding(inst):
    qid = inject(inst, ["MiXed+Ext@FB.test"], body="Subject: fb\n\nFrom me\n>From you\nlast\n")
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    # h and u fold the recipient (domain, local part) and the next hop.
    [args] = outputs(inst, "args")
    assert args.decode().split("\n")[2:5] == ["mixed+ext@fb.test", "mixed+ext@fb.test", "next.hop"]
    [msg] = outputs(inst, "msg")
    text = msg.decode()
    # F: a From_ line first; >: "From " quoted; B: an empty line at the end.
    assert re.match(r"From alice@example\.com  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n"
                    r"Subject: fb\n", text), text
    assert text.endswith("\n\n>From me\n>From you\nlast\n\n"), text


def test_o_flag_needs_recipient_limit_one(inst):
    qid = inject(inst, ["a@o.test", "b@o.test"])
    inst.wait_for_log(r"warning: pipe flag `O' requires opipe_destination_recipient_limit = 1",
                      timeout=20)
    for r in ("a@o.test", "b@o.test"):
        inst.wait_for_log(rf"{qid}: to=<{r}>, relay=opipe, .*dsn=4\.3\.5, status=deferred "
                          r"\(mail system configuration error\)", timeout=20)


def test_braces_group_an_argument(inst):
    # Postfix 3.0: "{ text with spaces }" is one argument.
    qid = inject(inst, ["g@group.test"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    text = (inst.dir / "out" / "grouped.txt").read_text()
    assert "Subject: delivery test\n" in text and text.endswith("\ng@group.test\n"), text


def test_bad_chroot_or_directory_defers(inst):
    qid = inject(inst, ["a@root.test", "b@dir.test"])
    inst.wait_for_log(rf"{qid}: to=<a@root.test>, relay=rootpipe, .*dsn=4\.3\.0, status=deferred "
                      r"\(temporary failure. Command output: cannot change root directory \)", timeout=20)
    inst.wait_for_log(rf"{qid}: to=<b@dir.test>, relay=dirpipe, .*dsn=4\.3\.0, status=deferred "
                      r"\(temporary failure. Command output: cannot change to the command directory \)",
                      timeout=20)
