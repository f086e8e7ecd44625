# ctest-timeout: 150
"""local hands recipients to other transports: mailbox_transport,
mailbox_transport_maps, fallback_transport, fallback_transport_maps (the
precedence of local(8)), and mailbox_command_maps; owner- aliases;
command_execution_directory."""
import os
import pwd
import re
import subprocess

import pytest

from delivery_helpers import FAST, inject, queue_files
from instance import BIN, Instance

pytestmark = pytest.mark.skipif(not os.path.exists(str(__import__("delivery_helpers").INJECT)),
                                reason="tests/queue-inject not built")

SCRIPT = """#!/bin/sh
out={out}
echo "$@" > "$out/$1.$$"
cat > "$out/msg.$$"
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
        runas = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        with open(i.etc / "master.cf", "a") as f:
            for name in ("boxpipe", "mappipe", "fbpipe"):
                f.write(f"{name} unix - n n - - pipe\n"
                        f"  flags=DO user={runas} argv={script} {name} ${{nexthop}} ${{recipient}}"
                        f" ${{original_recipient}}\n")
        (i.etc / "aliases").write_text(f"team: {i.mail_user}\n"
                                       f"mylist: {out}/list.mbox\n"
                                       f"owner-mylist: {i.mail_user}\n")
        r = subprocess.run([str(BIN / "postalias"), "-c", str(i.etc), f"hash:{i.etc}/aliases"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        i.set_main(alias_maps=f"hash:{i.etc}/aliases", mail_spool_directory=str(i.dir / "spool-mail"),
                   **FAST)
        (i.dir / "spool-mail").mkdir()
        i.start()
        yield i


Instance.mail_user = property(
    lambda self: "postern" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name)


def runs(inst, name):
    return [p.read_text().split() for p in (inst.dir / "out").glob(f"{name}.*")]


def test_mailbox_transport_takes_every_local_recipient(inst):
    inst.set_main(mailbox_transport="boxpipe:box.hop")
    inst.postfix("reload")
    user = inst.mail_user
    qid = inject(inst, [f"{user}@localhost", "team@localhost", "nosuchuser@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    got = sorted(tuple(r) for r in runs(inst, "boxpipe"))
    myorigin = inst.postconf("-xh", "myorigin").stdout.strip()
    # Whether or not the name is in passwd; an alias target goes as
    # user@$myorigin; the nexthop is the one after the colon.
    assert got == sorted([("boxpipe", "box.hop", f"{user}@localhost", f"{user}@localhost"),
                          ("boxpipe", "box.hop", f"{user}@{myorigin}", "team@localhost"),
                          ("boxpipe", "box.hop", "nosuchuser@localhost", "nosuchuser@localhost")])
    # The pipe agent logs the deliveries; nothing goes to the spool.
    log = inst.log_text()
    assert re.search(rf"pipe\[\d+\]: {qid}: to=<{user}@localhost>, relay=boxpipe, .*status=sent",
                     log)
    assert not re.search(rf"local\[\d+\]: {qid}: to=<{user}@localhost>.*status=sent", log)
    # local says what it passes on, as Postfix's does.
    assert re.search(rf"local\[\d+\]: {qid}: passing <{user}@localhost> to transport=boxpipe\n", log)
    assert re.search(rf"local\[\d+\]: {qid}: passing <nosuchuser@localhost> to transport=boxpipe\n",
                     log)
    assert not any((inst.dir / "spool-mail").iterdir())
    assert queue_files(inst) == []


def test_transport_maps_and_fallback_precedence(inst):
    user = inst.mail_user
    (inst.etc / "boxmap").write_text(f"{user} mappipe:\n")
    (inst.etc / "fbmap").write_text("special fbpipe:special.hop\n")
    inst.set_main(mailbox_transport_maps=f"texthash:{inst.etc}/boxmap",
                  fallback_transport_maps=f"texthash:{inst.etc}/fbmap",
                  fallback_transport="boxpipe", luser_relay="never-used@example.com")
    inst.postfix("reload")
    qid = inject(inst, [f"{user}@localhost", "special@localhost", "other@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=30)
    # mailbox_transport_maps for the passwd user (empty nexthop: the
    # request's own), fallback_transport_maps, then fallback_transport
    # before luser_relay for unknown names.
    assert [r[:1] + r[2:3] for r in runs(inst, "mappipe")] == [["mappipe", f"{user}@localhost"]]
    assert runs(inst, "fbpipe") == [["fbpipe", "special.hop", "special@localhost", "special@localhost"]]
    assert [r[2] for r in runs(inst, "boxpipe")] == ["other@localhost"]
    assert "never-used@example.com" not in inst.log_text()


def test_unavailable_transport_defers(inst):
    inst.set_main(fallback_transport="nosuchtransport")
    inst.postfix("reload")
    qid = inject(inst, ["ghost@localhost"])
    inst.wait_for_log(rf"local\[\d+\]: {qid}: to=<ghost@localhost>, relay=local, .*dsn=4\.3\.0, "
                      r"status=deferred \(mail transport unavailable\)", timeout=20)


def test_mailbox_command_maps(inst):
    user = inst.mail_user
    out = inst.dir / "out"
    (inst.etc / "cmdmap").write_text(f"{user} cat > {out}/cmdmap.txt\n")
    inst.set_main(mailbox_command_maps=f"texthash:{inst.etc}/cmdmap",
                  mailbox_command="/bin/false")
    inst.postfix("reload")
    qid = inject(inst, [f"{user}@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    assert "Subject: delivery test" in (out / "cmdmap.txt").read_text()


def test_owner_alias_becomes_the_sender(inst):
    myorigin = inst.postconf("-xh", "myorigin").stdout.strip()
    qid = inject(inst, ["mylist@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    text = (inst.dir / "out" / "list.mbox").read_text()
    assert text.startswith(f"From owner-mylist@{myorigin}  "), text[:200]
    assert f"Return-Path: <owner-mylist@{myorigin}>\n" in text


def start_dovecot_lmtp(top):
    """Debian's dovecot-lmtpd on a UNIX socket (mode 0666), delivering every
    user into top/mail/<user>/Maildir as the dovecot user; returns
    (process, socket path)."""
    import shutil
    import time
    dv = pwd.getpwnam("dovecot")
    mail = top / "mail"
    mail.mkdir()
    os.chown(mail, dv.pw_uid, dv.pw_gid)
    sock = top / "lmtp"
    conf = top / "dovecot.conf"
    conf.write_text(f"""base_dir = {top}/run
state_dir = {top}/state
log_path = {top}/dovecot.log
protocols = lmtp
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
ssl = no
mail_location = maildir:{mail}/%n/Maildir
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={dv.pw_uid} gid={dv.pw_gid} home={mail}/%n
}}
service lmtp {{
  unix_listener {sock} {{
    mode = 0666
  }}
}}
""")
    proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    while not sock.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert sock.exists(), "dovecot lmtp did not start"
    return proc, sock


@pytest.mark.skipif(not (BIN / "lmtp").exists() or os.geteuid() != 0
                    or not os.path.exists("/usr/lib/dovecot/lmtp"),
                    reason="needs the lmtp client, root and dovecot-lmtpd")
def test_mailbox_transport_to_dovecot_lmtp(inst):
    # The seeds' "mailbox_transport = lmtp:unix:private/dovecot-lmtp",
    # with the socket somewhere the test can put it.
    import tempfile
    top = __import__("pathlib").Path(tempfile.mkdtemp(prefix="postern-dlmtp-"))
    os.chmod(top, 0o755)
    proc, sock = start_dovecot_lmtp(top)
    try:
        inst.set_main(mailbox_transport=f"lmtp:unix:{sock}")
        inst.postfix("reload")
        user = inst.mail_user
        qid = inject(inst, [f"{user}@localhost"])
        inst.wait_for_log(rf"lmtp\[\d+\]: {qid}: to=<{user}@localhost>, relay=.*, "
                          r"dsn=2\.0\.0, status=sent \(250 2\.0\.0 ", timeout=30)
        inst.wait_for_log(rf"{qid}: removed", timeout=20)
        new = top / "mail" / user / "Maildir" / "new"
        [msg] = list(new.iterdir())
        assert "Subject: delivery test" in msg.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        import shutil
        if not os.environ.get("POSTERN_KEEP_TMP"):
            shutil.rmtree(top, ignore_errors=True)


def test_command_execution_directory(inst):
    out = inst.dir / "out"
    inst.set_main(mailbox_command=f"pwd > {out}/pwd.txt", command_execution_directory=f"{out}/u.$user")
    inst.postfix("reload")
    user = inst.mail_user
    (out / f"u.{user}").mkdir()
    os.chmod(out / f"u.{user}", 0o777)
    qid = inject(inst, [f"{user}@localhost"])
    inst.wait_for_log(rf"{qid}: removed", timeout=20)
    assert (out / "pwd.txt").read_text().strip() == f"{out}/u.{user}"
    # A directory that cannot be entered defers the delivery.
    inst.set_main(command_execution_directory=f"{out}/missing")
    inst.postfix("reload")
    qid = inject(inst, [f"{user}@localhost"])
    inst.wait_for_log(rf"{qid}: to=<{user}@localhost>, relay=local, .*dsn=4\.3\.0, status=deferred "
                      r"\(temporary failure. Command output: cannot change to the command directory \)",
                      timeout=20)
