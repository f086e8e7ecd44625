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
    # Postfix's EHLO lists its own extensions: compare the rest.
    return [r for r in out if not r.startswith("250-")]


def milter_lines(log):
    out = []
    for line in log.splitlines():
        if "milter-" not in line and "Milter service" not in line:
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
            if not skip_cont:
                content.append(line)
    return env, content


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
                                  "tempfail_eom", "down"])
def test_same_as_postfix(tmp_path, mode):
    (tmp_path / "postern").mkdir()
    m = None if mode == "down" else PyMilter(tmp_path, mode)
    try:
        spec = m.spec if m else f"inet:127.0.0.1:{free_port()}"
        pf = run_postfix(tmp_path, spec)
        ours = run_postern(tmp_path, spec)
    finally:
        if m:
            m.close()
    print("POSTFIX", pf)
    print("POSTERN", ours)
    assert ours[0] == pf[0], "SMTP replies differ"
    assert ours[1] == pf[1], "milter log lines differ"
    assert ours[2] == pf[2], "queue files differ"
