# ctest-timeout: 180
"""The seeds' delivery recipes, as admins write them: the SpamAssassin
pipe filter (spamc -e sendmail, a stand-in spamc here), the simple script
filter (flags=Rq, sendmail -G -i), and Dovecot's LDA as mailbox_command;
and the issue's end-to-end case: SMTP in, mbox out, an unknown local user
returned to the sender's mailbox."""
import os
import pwd
import re

import pytest

from delivery_helpers import FAST, maildir_messages, queue_files
from instance import BIN, Instance, wait_until
from smtpd_helpers import Client

LDA = "/usr/lib/dovecot/dovecot-lda"
RUNAS = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
LOCAL_USER = "postern" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name

# Behaves like "spamc -f -e command args...": runs the command with the
# message, marked the way spamd marks it, on its standard input.
FAKE_SPAMC = """#!/bin/sh
while [ "$1" != "-e" ]; do shift; done
shift
{ echo "X-Spam-Checker-Version: stand-in spamc"; echo "X-Spam-Status: No, score=0.1"; cat; } | "$@"
"""

# The seed's /usr/local/bin/filter.sh, with our sendmail.
FILTER = """#!/bin/bash
{sendmail} -G -i "$@" < <(
    echo "X-Custom-Filter: Processed"
    cat
)
"""


def smtp_send(inst, rcpt, subject, sender="alice@example.com"):
    rcpts = [rcpt] if isinstance(rcpt, str) else rcpt
    c = Client(inst.port)
    for line, code in [("EHLO client.test", "250"), (f"MAIL FROM:<{sender}>", "250")] + \
            [(f"RCPT TO:<{r}>", "250") for r in rcpts] + [("DATA", "354")]:
        reply = c.cmd(line)
        assert reply.startswith(code), (line, reply)
    reply = c.cmd(f"From: {sender}\r\nTo: {rcpts[0]}\r\nSubject: {subject}\r\n\r\n"
                  f"hello\r\nFrom the start\r\n.")
    assert reply.startswith("250"), reply
    c.cmd("QUIT")
    return re.search(r"queued as (\w+)", reply).group(1)


def add_filter(inst, service, entry):
    """The smtpd service gets -o content_filter=SERVICE; ENTRY is added."""
    master = (inst.etc / "master.cf").read_text()
    master = re.sub(r"^(127\.0\.0\.1:\d+ +inet .*smtpd)$", rf"\1\n  -o content_filter={service}",
                    master, flags=re.M)
    (inst.etc / "master.cf").write_text(master + entry)


def open_maildrop(inst):
    """The filter runs sendmail as an ordinary user; an installed postdrop
    is set-gid postdrop, the build tree's is not: open maildrop/ instead."""
    os.chmod(inst.spool / "maildrop", 0o1733)
    os.chmod(inst.spool / "public", 0o711)


def script(inst, name, text):
    path = inst.dir / name
    path.write_text(text)
    os.chmod(path, 0o755)
    return path


def test_spamassassin_pipe_filter(tmp_path):
    with Instance(tmp_path) as inst:
        spamc = script(inst, "spamc", FAKE_SPAMC)
        add_filter(inst, "spamassassin",
                   f"spamassassin unix -     n       n       -       -       pipe\n"
                   f"  user={RUNAS} argv={spamc} -f -e {BIN}/sendmail -oi -f ${{sender}} ${{recipient}}\n")
        inst.set_main(**FAST)
        inst.start()
        open_maildrop(inst)
        qid = smtp_send(inst, "bob@demo.test", "spam check")
        inst.wait_for_log(rf"{qid}: to=<bob@demo.test>, relay=spamassassin, .*status=sent "
                          r"\(delivered via spamassassin service", timeout=30)
        [msg] = maildir_messages(inst, "bob", timeout=30)
        assert "X-Spam-Status: No, score=0.1\n" in msg
        assert "Subject: spam check\n" in msg
        assert "Return-Path: <alice@example.com>\n" in msg
        # Filtered once: the re-injected copy (pickup) is delivered, not filtered again.
        wait_until(lambda: queue_files(inst) == [], 20, what="empty queue")
        assert inst.log_text().count("relay=spamassassin") == 1


def test_simple_script_filter(tmp_path):
    with Instance(tmp_path) as inst:
        filt = script(inst, "filter.sh", FILTER.format(sendmail=BIN / "sendmail"))
        add_filter(inst, "filter:dummy",
                   f"filter    unix  -       n       n       -       -       pipe\n"
                   f"  flags=Rq user={RUNAS} argv={filt} -f ${{sender}} -- ${{recipient}}\n")
        inst.set_main(**FAST)
        inst.start()
        open_maildrop(inst)
        qid = smtp_send(inst, "bob@demo.test", "script filter")
        inst.wait_for_log(rf"{qid}: to=<bob@demo.test>, relay=filter, .*status=sent", timeout=30)
        [msg] = maildir_messages(inst, "bob", timeout=30)
        assert msg.split("\n").count("X-Custom-Filter: Processed") == 1
        assert "Subject: script filter\n" in msg


@pytest.mark.skipif(not os.path.exists(LDA), reason="dovecot-lda not installed")
def test_dovecot_lda_as_mailbox_command(tmp_path):
    with Instance(tmp_path) as inst:
        store = inst.dir / "lda"
        store.mkdir()
        os.chmod(store, 0o1777)
        conf = inst.dir / "dovecot.conf"
        conf.write_text(f"protocols =\nssl = no\nmail_location = maildir:{store}/%u\n"
                        f"postmaster_address = postmaster@example.com\n"
                        f"log_path = {store}/lda.log\nbase_dir = {store}/run\n")
        os.chmod(conf, 0o644)
        inst.set_main(mailbox_command=f'{LDA} -c {conf} -f "$SENDER" -a "$RECIPIENT"',
                      mail_spool_directory=str(inst.dir / "spool-mail"), **FAST)
        inst.start()
        qid = smtp_send(inst, f"{LOCAL_USER}@localhost", "via lda")
        inst.wait_for_log(rf"{qid}: to=<{LOCAL_USER}@localhost>, relay=local, .*status=sent "
                          rf"\(delivered to command: {re.escape(LDA)} ", timeout=30)
        new = store / LOCAL_USER / "new"
        [path] = list(new.iterdir())
        text = path.read_text()
        assert "Subject: via lda\n" in text
        assert f"Delivered-To: {LOCAL_USER}@localhost\n" in text
        if os.geteuid() == 0:
            assert path.stat().st_uid == pwd.getpwnam(LOCAL_USER).pw_uid
        assert "saved mail to INBOX" in (store / "lda.log").read_text()


def test_smtp_in_mbox_out_and_unknown_user_returned(tmp_path):
    with Instance(tmp_path) as inst:
        spool = inst.dir / "spool-mail"
        spool.mkdir()
        inst.set_main(mail_spool_directory=str(spool), local_recipient_maps="", **FAST)
        inst.start()
        qid = smtp_send(inst, [f"{LOCAL_USER}@localhost", "nosuchuser@localhost"], "to mbox",
                        sender="carol@demo.test")
        inst.wait_for_log(rf"{qid}: to=<nosuchuser@localhost>, relay=local, .*dsn=5\.1\.1, "
                          r"status=bounced \(unknown user: \"nosuchuser\"\)", timeout=30)
        inst.wait_for_log(rf"{qid}: removed", timeout=30)
        box = (spool / LOCAL_USER).read_text()
        assert box.startswith("From carol@demo.test  ")
        lines = box.split("\n")
        assert lines[1] == "Return-Path: <carol@demo.test>"
        assert lines[2] == f"X-Original-To: {LOCAL_USER}@localhost"
        assert lines[3] == f"Delivered-To: {LOCAL_USER}@localhost"
        assert "\n>From the start\n" in box and box.endswith("\n\n")
        [ndr] = maildir_messages(inst, "carol", timeout=30)
        assert "Subject: Undelivered Mail Returned to Sender\n" in ndr
        assert "<nosuchuser@localhost>: unknown user: \"nosuchuser\"" in ndr
        assert "Subject: to mbox\n" in ndr  # the returned message


# An after-queue filter that hands the message back over SMTP, as amavis
# does: it adds a header and submits to the re-injection port.
REINJECT = """#!/usr/bin/python3
import smtplib, sys
sender, rcpts = sys.argv[1], sys.argv[2:]
msg = b"X-Scanned: yes\\r\\n" + sys.stdin.buffer.read().replace(b"\\r\\n", b"\\n").replace(b"\\n", b"\\r\\n")
with smtplib.SMTP("127.0.0.1", {port}) as s:
    s.sendmail(sender, rcpts, msg)
"""


def test_after_queue_filter_with_reinjection_service(tmp_path):
    # The seeds' amavis recipe: content_filter in main.cf, and a second
    # smtpd with "-o content_filter=" that takes the filtered mail back
    # without sending it to the filter again.
    from instance import free_port
    with Instance(tmp_path) as inst:
        back = free_port()
        scan = script(inst, "scan.py", REINJECT.format(port=back))
        with open(inst.etc / "master.cf", "a") as f:
            f.write(f"scan unix - n n - - pipe\n  user={RUNAS} argv={scan} ${{sender}} ${{recipient}}\n"
                    f"127.0.0.1:{back} inet n - n - - smtpd\n  -o content_filter=\n"
                    f"  -o local_recipient_maps=\n")
        inst.set_main(content_filter="scan:dummy", **FAST)
        inst.start()
        qid = smtp_send(inst, "bob@demo.test", "after queue")
        inst.wait_for_log(rf"{qid}: to=<bob@demo.test>, relay=scan, .*status=sent", timeout=30)
        [msg] = maildir_messages(inst, "bob", timeout=30)
        assert msg.split("\n").count("X-Scanned: yes") == 1
        assert "Subject: after queue\n" in msg
        wait_until(lambda: queue_files(inst) == [], 20, what="empty queue")
        assert inst.log_text().count("relay=scan") == 1
