# ctest-timeout: 120
"""Bounce templates (bounce(5)): postconf -b / -t print them in Debian
Postfix's shape and read Postfix's template file format; a
bounce_template_file changes the notices bounce sends."""
import os
import re
import subprocess

import pytest

from delivery_helpers import FAST, inject, maildir_messages
from instance import BIN, Instance

ORACLE = "/usr/sbin/postconf"

CUSTOM = """# A site's own failure notice.

failure_template = <<EOT
charset: us-ascii
FROM: Postmaster <postmaster>
Subject: Your mail bounced ($$ cost)
Postmaster-Subject: Bounce copy

Hello from $myhostname, costs $$5.
Retries last ${maximal_queue_lifetime_days} day(s), $(delay_warning_time_hours) hour(s).
EOT

# Only headers, no text: ignored with a warning.
success_template = <<EOF
Subject: nothing here

EOF
"""


def run(postconf, *args):
    return subprocess.run([postconf, *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def confdir(tmp_path):
    (tmp_path / "main.cf").write_text("myhostname = mx.example.test\nmydomain = example.test\n"
                                      "maximal_queue_lifetime = 3d\ndelay_warning_time = 150m\n")
    (tmp_path / "bounce.cf").write_text(CUSTOM)
    return tmp_path


def blocks(text):
    """{name: [lines]} of "name = <<EOF ... EOF" blocks."""
    out = {}
    for m in re.finditer(r"^(\w+) = <<EOF\n(.*?)^EOF$", text, re.M | re.S):
        out[m.group(1)] = m.group(2).split("\n")[:-1]
    return out


def headers(lines):
    return lines[:lines.index("")]


def test_unexpanded_templates_have_postfix_shape(confdir):
    ours = run(str(BIN / "postconf"), "-c", str(confdir), "-t")
    assert ours.returncode == 0, ours.stderr
    mine = blocks(ours.stdout)
    assert list(mine) == ["failure_template", "delay_template", "success_template",
                          "verify_template"]
    if os.path.exists(ORACLE):
        theirs = blocks(run(ORACLE, "-c", str(confdir), "-t").stdout)
        assert list(theirs) == list(mine)
        # The headers are the same; the text is our own wording but keeps
        # the first line and the signature.
        for name in mine:
            assert headers(mine[name]) == headers(theirs[name]), name
            assert mine[name][len(headers(mine[name])) + 1] == \
                "This is the mail system at host $myhostname."
            assert mine[name][-1] == theirs[name][-1] == "                   The mail system"
        # Blocks are separated by one empty line, as Debian prints them.
        assert ours.stdout.count("EOF\n\n") == 3 and ours.stdout.endswith("EOF\n")
    assert "$delay_warning_time_hours" in "\n".join(mine["delay_template"])


def test_template_file_parsed_like_postfix(confdir):
    path = str(confdir / "bounce.cf")
    for flag in ("-t", "-b"):
        ours = run(str(BIN / "postconf"), "-c", str(confdir), flag, path)
        assert ours.returncode == 0, ours.stderr
        assert "missing message text in success template -- ignoring this template" in ours.stderr
        if os.path.exists(ORACLE):
            theirs = run(ORACLE, "-c", str(confdir), flag, path)
            # The custom template comes out exactly as Postfix prints it.
            name = "failure_template" if flag == "-t" else "expanded_failure_text"
            assert blocks(ours.stdout)[name] == blocks(theirs.stdout)[name]
            assert list(blocks(ours.stdout)) == list(blocks(theirs.stdout))
    expanded = blocks(run(str(BIN / "postconf"), "-c", str(confdir), "-b", path).stdout)
    assert expanded["expanded_failure_text"] == [
        "Hello from mx.example.test, costs $5.", "Retries last 3 day(s), 2 hour(s)."]
    assert "mx.example.test" in expanded["expanded_delay_text"][0]


def test_bounce_template_file_from_main_cf_and_errors(confdir):
    with open(confdir / "main.cf", "a") as f:
        f.write(f"bounce_template_file = {confdir}/bounce.cf\n")
    out = blocks(run(str(BIN / "postconf"), "-c", str(confdir), "-t").stdout)
    assert "Postmaster-Subject: Bounce copy" in out["failure_template"]
    assert "From: Postmaster <postmaster>" in out["failure_template"]
    bad = confdir / "bad.cf"
    bad.write_text("failure_template = <<EOF\nSubject: x\n\n$no_such_parameter_here\nEOF\n")
    for args, msg in [(["-b", str(bad)], "undefined $name in failure template"),
                      (["-b", str(confdir / "missing.cf")], "No such file or directory"),
                      (["-b", "-t"], "specify one of -b and -t"),
                      (["-t", "-n"], "with option -t, do not specify -n"),
                      (["-b", "a", "b"], "at most one template file")]:
        r = run(str(BIN / "postconf"), "-c", str(confdir), *args)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)
        if os.path.exists(ORACLE):
            assert run(ORACLE, "-c", str(confdir), *args).returncode == 1


def test_bounce_uses_the_template_file(tmp_path):
    with Instance(tmp_path) as inst:
        (inst.etc / "bounce.cf").write_text(CUSTOM)
        (inst.etc / "transport").write_text("fail.test error:5.1.1 mailbox gone\n")
        inst.set_main(transport_maps=f"texthash:{inst.etc}/transport",
                      bounce_template_file=f"{inst.etc}/bounce.cf", notify_classes="bounce",
                      bounce_notice_recipient="dave@demo.test", **FAST)
        inst.start()
        qid = inject(inst, ["x@fail.test"], sender="carol@demo.test")
        inst.wait_for_log(rf"{qid}: sender non-delivery notification: ", timeout=30)
        [ndr] = maildir_messages(inst, "carol", timeout=30)
        head, _, body = ndr.partition("\n\n")
        assert "\nSubject: Your mail bounced ($$ cost)\n" in head + "\n"
        assert re.search(r"\nFrom: Postmaster <postmaster@[^>]+>\n", head + "\n"), head
        host = inst.postconf("-xh", "myhostname").stdout.strip()
        assert f"Hello from {host}, costs $5.\n" in body
        assert "<x@fail.test>: mailbox gone" in body
        # An ASCII template goes out as utf-8 when SMTPUTF8 is on, as Postfix's.
        utf8 = inst.postconf("-xh", "smtputf8_enable").stdout.strip() == "yes"
        charset = "utf-8" if utf8 else "us-ascii"
        assert f"Content-Type: text/plain; charset={charset}\n" in body
        assert "Final-Recipient: rfc822; x@fail.test" in body
        assert "Auto-Submitted: auto-replied\n" in head + "\n"
        # The postmaster's copy: Postmaster-Subject:, from double-bounce,
        # no template text, the headers only (as Debian's Postfix sends it).
        [copy] = maildir_messages(inst, "dave", timeout=30)
        chead, _, cbody = copy.partition("\n\n")
        assert "\nSubject: Bounce copy\n" in chead + "\n"
        assert re.match(r"Return-Path: <double-bounce@", copy), copy
        assert "\nAuto-Submitted: auto-generated\n" in chead + "\n"
        assert "Hello from" not in cbody
        assert f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n\n\n" \
               "<x@fail.test>: mailbox gone\n" in cbody
        assert "Content-Type: text/rfc822-headers" in cbody
