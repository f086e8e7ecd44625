#!/usr/bin/env python3
"""Regenerates the Postfix-written queue files in this directory.

Runs a throwaway Debian Postfix 3.7 (tests/system/postfix_oracle.py; needs
root), makes it leave messages in its queue, and copies them here:

  maildrop-<ID>   a sendmail submission while pickup is disabled (postdrop format)
  hold-<ID>       an SMTP message with DSN options, two recipients, folded
                  headers and a line longer than line_length_limit, held by a
                  HOLD restriction
  deferred-<ID>   one recipient delivered (D record), one deferred, with a
                  delay warning time (W record); from the hashed deferred/ queue
  longid-<ID>     the hold message again with enable_long_queue_ids = yes

Usage: sudo python3 tests/data/queue/make_samples.py [OUTPUT_DIR]
(tests/system/test_postcat.py also runs it into a temporary directory.)
"""
import os
import pathlib
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "system"))
import postfix_oracle  # noqa: E402
from postfix_oracle import PostfixInstance, free_port  # noqa: E402

BODY_LONG_LINE = "x" * 5000


def wait_files(queue, count=1, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = [p for p in queue.rglob("*") if p.is_file()]
        # A file counts once its writer has committed it (owner rwx).
        done = [p for p in files if (p.stat().st_mode & 0o700) == 0o700]
        if len(done) >= count:
            return done
        time.sleep(0.1)
    raise TimeoutError(f"no queue file in {queue}")


def smtp_message(port, subject):
    msg = (f"Subject: {subject}\r\n"
           "From: Alice Example <alice@client.test>\r\n"
           "To: bob@dest.test,\r\n"
           " carol@dest.test\r\n"
           "\r\n"
           "First body line.\r\n"
           "..leading dot line\r\n"
           "\r\n"
           f"{BODY_LONG_LINE}\r\n"
           "Last line.\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        s.sendmail("alice@client.test", ["bob@dest.test", "carol@dest.test"], msg,
                   mail_options=["RET=HDRS", "ENVID=env-42"],
                   rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;bob@dest.test"])


def clear(queue):
    for p in list(queue.rglob("*")):
        if p.is_file():
            p.unlink()


def make_samples(out):
    """Writes the samples into directory `out`; returns their paths."""
    out = pathlib.Path(out)
    for old in out.glob("*-*"):
        if old.suffix != ".py":
            old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        with PostfixInstance(tmp, port) as pf:
            master = (pf.etc / "master.cf").read_text().splitlines()
            master = ["#" + l if l.startswith("pickup ") else l for l in master]
            (pf.etc / "master.cf").write_text("\n".join(master) + "\n")
            pf.set_main(smtpd_client_restrictions="check_client_access static:HOLD",
                        delay_warning_time="4h",
                        transport_maps=f"inline:{{ discard.test=discard, defer.test=smtp:[127.0.0.1]:{free_port()} }}")
            pf.start()

            # Maildrop: sendmail → postdrop, nobody picks it up.
            subprocess.run(["/usr/sbin/sendmail", "-C", str(pf.etc), "-f", "carol@compat.test",
                            "-F", "Carol Q", "-N", "success,delay", "-V", "envid-7",
                            "dave@dest.test", "erin@dest.test"],
                           input="Subject: via sendmail\nX-Test: 1\n\nhello\n.dot\n",
                           text=True, check=True, timeout=60)
            f = wait_files(pf.spool / "maildrop")[0]
            shutil.copy(f, out / f"maildrop-{f.name}")

            smtp_message(port, "held message")
            f = wait_files(pf.spool / "hold")[0]
            shutil.copy(f, out / f"hold-{f.name}")
            clear(pf.spool / "hold")

            # Deferred with one recipient done: no HOLD now.
            pf.set_main(smtpd_client_restrictions="")
            pf.command("postfix", "reload")
            time.sleep(1)
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("alice@client.test", ["ok@discard.test", "late@defer.test"],
                           "Subject: partly delivered\r\n\r\nbody\r\n")
            f = wait_files(pf.spool / "deferred", timeout=60)[0]
            time.sleep(0.5)
            shutil.copy(f, out / f"deferred-{f.name}")

            pf.set_main(smtpd_client_restrictions="check_client_access static:HOLD",
                        enable_long_queue_ids="yes")
            pf.command("postfix", "reload")
            time.sleep(1)
            smtp_message(port, "long queue id")
            f = wait_files(pf.spool / "hold")[0]
            shutil.copy(f, out / f"longid-{f.name}")
    paths = [p for p in sorted(out.glob("*-*")) if p.suffix != ".py"]
    for p in paths:
        os.chmod(p, 0o644)
    return paths


def main():
    if not postfix_oracle.available():
        sys.exit("needs root and Debian's Postfix")
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for p in make_samples(out):
        print(p.name)


if __name__ == "__main__":
    main()
