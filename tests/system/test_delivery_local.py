# ctest-timeout: 180
"""The local delivery agent: aliases to files, commands and other local
names, command exit statuses, unknown users, mbox delivery to a user's
spool file, alias loops."""
import os
import pwd
import re
import subprocess

import pytest

from delivery_helpers import FAST, inject, queue_files
from instance import BIN, Instance, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        out = i.dir / "out"
        out.mkdir()
        os.chmod(out, 0o1777)
        spool = i.dir / "spool-mail"
        spool.mkdir()
        (i.etc / "aliases").write_text(
            f"tofile: {out}/file.mbox\n"
            f"tocmd: \"|cat > {out}/cmd.txt; echo $RECIPIENT $SENDER > {out}/env.txt\"\n"
            "tempfail: \"|exit 75\"\n"
            "hardfail: \"|echo no such thing; exit 1\"\n"
            "chain: tofile\n"
            "loop1: loop2\n"
            "loop2: loop1\n"
            f"owner: {i.mail_user}\n")
        r = subprocess.run([str(BIN / "postalias"), "-c", str(i.etc), f"hash:{i.etc}/aliases"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        i.set_main(alias_maps=f"hash:{i.etc}/aliases", mail_spool_directory=str(spool), **FAST)
        i.start()
        yield i


Instance.mail_user = property(
    lambda self: "postern" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name)


def test_alias_to_file_and_chain(inst):
    qid = inject(inst, ["tofile@localhost", "chain@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    text = (inst.dir / "out" / "file.mbox").read_text()
    assert text.count("\nFrom ") + text.startswith("From ") == 2, text
    assert text.startswith("From alice@example.com  ")
    assert "Delivered-To: tofile@localhost\n" in text
    assert "Delivered-To: chain@localhost\n" in text
    assert ">From here on this line starts with From.\n" in text
    assert re.search(rf"local\[\d+\]: {qid}: to=<tofile@localhost>, relay=local, .*dsn=2\.0\.0, "
                     rf"status=sent \(delivered to file: {re.escape(str(inst.dir))}/out/file.mbox\)",
                     inst.log_text())


def test_alias_to_command_gets_message_and_environment(inst):
    qid = inject(inst, ["tocmd@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    out = (inst.dir / "out" / "cmd.txt").read_text()
    assert out.startswith("From alice@example.com  ")
    assert "Subject: delivery test\n" in out
    assert (inst.dir / "out" / "env.txt").read_text() == "tocmd@localhost alice@example.com\n"
    assert re.search(rf"{qid}: to=<tocmd@localhost>, relay=local, .*status=sent \(delivered to command: ",
                     inst.log_text())


def test_command_exit_status_and_unknown_user(inst):
    qid = inject(inst, ["tempfail@localhost", "hardfail@localhost", "nosuchuser@localhost"])
    inst.wait_for_log(rf"{qid}: to=<tempfail@localhost>, .*dsn=4\.3\.0, status=deferred "
                      r"\(temporary failure\)", timeout=20)
    inst.wait_for_log(rf"{qid}: to=<hardfail@localhost>, .*dsn=5\.3\.0, status=bounced "
                      r"\(Command died with status 1: .*Command output: no such thing \)", timeout=20)
    inst.wait_for_log(rf"{qid}: to=<nosuchuser@localhost>, .*dsn=5\.1\.1, status=bounced "
                      r"\(unknown user: \"nosuchuser\"\)", timeout=20)
    # The deferred recipient is in the defer log; the bounced ones in the
    # bounce log, until the bounce daemon has turned that log into a
    # notification (it removes the log once cleanup queued the notice).
    dlog = wait_until(lambda: list((inst.spool / "defer").rglob(qid)), 10, what="defer log")
    assert "recipient=tempfail@localhost\n" in dlog[0].read_text()
    bounce_log = inst.spool / "bounce" / qid
    try:
        blog = bounce_log.read_text()
    except FileNotFoundError:
        inst.wait_for_log(rf"{qid}: sender non-delivery notification: ", timeout=20)
    else:
        assert "recipient=hardfail@localhost\n" in blog and "recipient=nosuchuser@localhost\n" in blog


def test_alias_to_user_mailbox_in_spool_and_alias_loop(inst):
    qid = inject(inst, ["owner@localhost", "loop1@localhost"])
    inst.wait_for_log(rf"{qid}: to=<owner@localhost>, relay=local, .*status=sent "
                      r"\(delivered to mailbox\)", timeout=20)
    inst.wait_for_log(rf"{qid}: to=<loop1@localhost>, .*status=bounced", timeout=20)
    box = inst.dir / "spool-mail" / inst.mail_user
    text = box.read_text()
    assert text.startswith("From alice@example.com  ")
    assert "Delivered-To: owner@localhost\n" in text
    if os.geteuid() == 0:
        assert box.stat().st_uid == pwd.getpwnam("postern").pw_uid


def test_forward_file_command_and_own_mailbox(inst):
    fwd = inst.dir / "forward"
    fwd.mkdir()
    os.chmod(fwd, 0o755)
    user = inst.mail_user
    out = inst.dir / "out"
    (fwd / user).write_text(f'"|cat > {out}/fwd.txt", \\{user}\n')
    os.chmod(fwd / user, 0o644)
    inst.set_main(forward_path=f"{fwd}/$user")
    inst.postfix("reload")
    qid = inject(inst, [f"{user}@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    assert "Subject: delivery test\n" in (out / "fwd.txt").read_text()
    box = (inst.dir / "spool-mail" / user).read_text()
    assert f"Delivered-To: {user}@localhost\n" in box
    log = inst.log_text()
    assert re.search(rf"{qid}: to=<{user}@localhost>, .*status=sent \(delivered to command: ", log)
    assert re.search(rf"{qid}: to=<{user}@localhost>, .*status=sent \(delivered to mailbox\)", log)


def test_empty_forward_file_means_mailbox(inst):
    fwd = inst.dir / "forward"
    fwd.mkdir()
    os.chmod(fwd, 0o755)
    user = inst.mail_user
    (fwd / user).write_text("")
    os.chmod(fwd / user, 0o644)
    inst.set_main(forward_path=f"{fwd}/$user")
    inst.postfix("reload")
    qid = inject(inst, [f"{user}@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    assert "Subject: delivery test" in (inst.dir / "spool-mail" / user).read_text()


def test_mailbox_command_with_local_expansions(inst):
    out = inst.dir / "out"
    inst.set_main(mailbox_command=f"cat > {out}/mbcmd.$user.txt")
    inst.postfix("reload")
    user = inst.mail_user
    qid = inject(inst, [f"{user}@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    text = (out / f"mbcmd.{user}.txt").read_text()
    assert text.startswith("From alice@example.com  ")
    assert f"Delivered-To: {user}@localhost\n" in text
