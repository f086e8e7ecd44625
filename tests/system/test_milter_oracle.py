# ctest-timeout: 900
"""The same python3-milter test milter against Debian's Postfix and Postern:
the SMTP replies, the milter log lines and the queue file (postcat) must be
the same. Postfix runs without qmgr so its queue file stays in incoming/."""
import re
import time

import pytest

import postfix_oracle
from instance import wait_until
from milter_helpers import MESSAGE, PyMilter, milter_instance, postcat
from postfix_oracle import PostfixInstance, free_port

pytestmark = pytest.mark.skipif(not postfix_oracle.available(),
                                reason="needs root and Debian's Postfix")

SCRIPT = ["EHLO client.test", "MAIL FROM:<alice@oracle.test>", "RCPT TO:<bad@oracle.test>",
          "RCPT TO:<one@oracle.test>", "RCPT TO:<two@oracle.test>", "DATA"]

# With Date: and Message-ID: already there, so that neither MTA adds its
# own (Postfix treats 127.0.0.1 as a local client for header rewriting).
MESSAGE = MESSAGE.replace("Subject: milter test\n", "Subject: milter test\n"
                          "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
                          "Message-ID: <milter-test@oracle.test>\n")

MAIN = dict(myhostname="postfix.oracle.test", mydestination="oracle.test", local_recipient_maps="", mynetworks="10.99.0.0/16",
            smtpd_helo_required="no", milter_command_timeout="5s",
            milter_content_timeout="5s")


def converse(port):
    """Replies (all lines) to SCRIPT and to the message, queue IDs masked."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")

    def reply():
        lines = []
        while True:
            line = f.readline().decode(errors="replace").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return " | ".join(lines)
    out = [reply()]
    for c in SCRIPT:
        s.sendall(c.encode() + b"\r\n")
        out.append(reply())
    if out[-1].startswith("354"):
        s.sendall(MESSAGE.replace("\n", "\r\n").encode() + b".\r\n")
        out.append(re.sub(r"queued as \w+", "queued as ID", reply()))
    s.sendall(b"QUIT\r\n")
    out.append(reply())
    s.close()
    return out


def milter_lines(log):
    out = []
    for line in log.splitlines():
        if not re.search(r"milter-(reject|discard|hold): |Milter service|warning: milter ", line):
            continue
        text = line.split("]: ", 1)[1]
        text = re.sub(r"^[0-9A-Za-z]{6,}: ", "ID: ", text)
        text = re.sub(r"inet:127\.0\.0\.1:\d+", "inet:MILTER", text)
        out.append(text)
    return out


def normalize_postcat(text):
    """Envelope addresses and the message without the lines that differ by nature."""
    env, content = [], []
    section = None
    skip_cont = False
    for line in text.splitlines():
        if line.startswith("*** "):
            section = line.split()[1]
            continue
        if section == "ENVELOPE":
            if re.match(r"(sender|recipient|original_recipient|canceled_recipient|"
                        r"done_recipient): ", line):
                env.append(line)
        elif section == "MESSAGE":
            if line.startswith(("\t", " ")) and skip_cont:
                continue
            skip_cont = line.startswith(("Received:", "Message-Id:", "Date:"))
            # Those headers' values differ; their places must not.
            content.append(line.split(":", 1)[0] + ": ..." if skip_cont else line)
    return env, content


def milter_events(m, start):
    """What the milter saw from `start` on: IDs and dates masked, connects
    (one more per readiness probe) counted apart."""
    out = []
    for e in m.events()[start:]:
        if e.startswith("connect:") or e == "ready":
            continue
        e = re.sub(r"i=\w+", "i=ID", e)
        e = re.sub(r"^header: (Message-Id|Date): .*", r"header: \1: ...", e)
        out.append(e)
    return out


def run_postfix(tmp_path, spec):
    port = free_port()
    with PostfixInstance(tmp_path, port) as pf:
        pf.set_main(smtpd_milters=spec, **MAIN)
        master = (pf.etc / "master.cf").read_text()
        (pf.etc / "master.cf").write_text(re.sub(r"^qmgr\s.*$", "", master, flags=re.M))
        pf.start()
        replies = converse(port)
        time.sleep(1.0)  # let cleanup and smtpd finish logging
        files = []
        for q in ("incoming", "hold"):
            for p in sorted((pf.spool / q).rglob("*")):
                if p.is_file():
                    r = pf.command("postcat", "-q", p.name)
                    files.append((q, normalize_postcat(r.stdout)))
        return replies, milter_lines(pf.log()), files


def run_postern(tmp_path, spec):
    inst = milter_instance(tmp_path / "postern", smtpd_milters=spec, **MAIN)
    try:
        replies = converse(inst.port)
        wait_until(lambda: "disconnect from" in inst.log_text(), 10, what="disconnect")
        time.sleep(0.5)
        files = []
        for q in ("incoming", "hold"):
            d = inst.spool / q
            for p in sorted(d.rglob("*")) if d.exists() else []:
                if p.is_file():
                    files.append((q, normalize_postcat(postcat(inst, p))))
        return replies, milter_lines(inst.log_text()), files
    finally:
        inst.stop()
        inst.remove()


@pytest.mark.parametrize("mode", ["reject_rcpt", "all", "chgheader", "insheader", "delheader",
                                  "replacebody", "quarantine", "discard", "reject_eom",
                                  "tempfail_eom", "down", "reject_connect",
                                  "reject_mail", "tempfail_rcpt", "discard_rcpt",
                                  "hang_mail"])
def test_same_as_postfix(tmp_path, mode):
    (tmp_path / "postern").mkdir()
    m = None if mode == "down" else PyMilter(tmp_path, mode)
    try:
        spec = m.spec if m else f"inet:127.0.0.1:{free_port()}"
        pf = run_postfix(tmp_path, spec)
        seen = len(m.events()) if m else 0
        pf_events = milter_events(m, 0) if m else []
        ours = run_postern(tmp_path, spec)
        our_events = milter_events(m, seen) if m else []
    finally:
        if m:
            m.close()
    assert our_events == pf_events, "the milter saw different events"
    print("POSTFIX", pf)
    print("POSTERN", ours)
    assert ours[0] == pf[0], "SMTP replies differ"
    # Two processes' lines interleave differently (the readiness probe
    # is a connection of its own).
    assert sorted(ours[1]) == sorted(pf[1]), "milter log lines differ"
    assert ours[2] == pf[2], "queue files differ"


def sendmail_postfix(tmp_path, spec):
    import os
    import subprocess
    port = free_port()
    with PostfixInstance(tmp_path, port) as pf:
        pf.set_main(non_smtpd_milters=spec, **MAIN)
        master = (pf.etc / "master.cf").read_text()
        (pf.etc / "master.cf").write_text(re.sub(r"^qmgr\s.*$", "", master, flags=re.M))
        pf.start()
        r = subprocess.run(["/usr/sbin/sendmail", "-C", str(pf.etc), "-f", "alice@oracle.test",
                            "one@oracle.test", "two@oracle.test"], input=MESSAGE, text=True,
                           capture_output=True, timeout=60,
                           env={**os.environ, "MAIL_CONFIG": str(pf.etc)})
        assert r.returncode == 0, r.stderr
        files = []
        wait_until(lambda: list((pf.spool / "incoming").rglob("*")) or
                   list((pf.spool / "hold").rglob("*")), 20, what="Postfix queue file")
        time.sleep(1.0)
        for q in ("incoming", "hold"):
            for p in sorted((pf.spool / q).rglob("*")):
                if p.is_file():
                    files.append((q, normalize_postcat(pf.command("postcat", "-q", p.name).stdout)))
        return milter_lines(pf.log()), files


def sendmail_postern(tmp_path, spec):
    from cleanup_helpers import sendmail
    inst = milter_instance(tmp_path / "postern", non_smtpd_milters=spec, **MAIN)
    try:
        r = sendmail(inst, ["-f", "alice@oracle.test", "one@oracle.test", "two@oracle.test"],
                     MESSAGE)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: [p for q in ("incoming", "hold") if (inst.spool / q).exists()
                            for p in (inst.spool / q).rglob("*") if p.is_file()],
                   20, what="queue file")
        time.sleep(1.0)
        files = []
        for q in ("incoming", "hold"):
            d = inst.spool / q
            for p in sorted(d.rglob("*")) if d.exists() else []:
                if p.is_file():
                    files.append((q, normalize_postcat(postcat(inst, p))))
        return milter_lines(inst.log_text()), files
    finally:
        inst.stop()
        inst.remove()


@pytest.mark.parametrize("mode", ["all", "quarantine", "insheader"])
def test_non_smtpd_milters_same_as_postfix(tmp_path, mode):
    (tmp_path / "postern").mkdir()
    m = PyMilter(tmp_path, mode)
    try:
        pf = sendmail_postfix(tmp_path, m.spec)
        seen = len(m.events())
        pf_events = milter_events(m, 0)
        ours = sendmail_postern(tmp_path, m.spec)
        our_events = milter_events(m, seen)
    finally:
        m.close()
    print("POSTFIX", pf, pf_events)
    print("POSTERN", ours, our_events)
    assert our_events == pf_events
    assert sorted(ours[0]) == sorted(pf[0])
    assert ours[1] == pf[1]
