# ctest-timeout: 180
"""smtpd_proxy_filter, the before-queue content filter: smtpd relays the SMTP
transaction to a filter (here a small Python SMTP proxy) and passes the
filter's replies back; the filter hands the mail to a second smtpd (the
classic 127.0.0.1:10026 after-filter listener). Also a filter that rejects
and one that is down."""
import re
import socket
import threading

import pytest

from delivery_helpers import FAST, maildir_messages
from instance import Instance, free_port, wait_until
from smtpd_helpers import Client


class SmtpProxy:
    """Accepts SMTP on its own port; relays each command to `downstream`
    (host, port) and the replies back, adding X-Filtered: to the content.
    With `reject_rcpt`/`reject_data` set it answers those itself."""

    def __init__(self, downstream=None, reject_rcpt=None, reject_data=None):
        self.downstream = downstream
        self.reject_rcpt = reject_rcpt
        self.reject_data = reject_data
        self.seen = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    @staticmethod
    def _reply(f):
        lines = []
        while True:
            line = f.readline()
            if not line:
                return lines
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def _session(self, conn):
        up = upf = None
        f = conn.makefile("rb")
        try:
            if self.downstream:
                up = socket.create_connection(self.downstream, timeout=30)
                upf = up.makefile("rb")
                banner = self._reply(upf)
                conn.sendall(b"".join(banner))
            else:
                conn.sendall(b"220 filter.test ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").rstrip("\r\n")
                self.seen.append(cmd)
                word = cmd.split(" ")[0].upper()
                if not self.downstream:
                    if word == "EHLO":
                        conn.sendall(b"250-filter.test\r\n250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\r\n"
                                     b"250 8BITMIME\r\n")
                    elif word == "RCPT" and self.reject_rcpt:
                        conn.sendall(self.reject_rcpt.encode() + b"\r\n")
                    elif word == "DATA":
                        conn.sendall(b"354 go ahead\r\n")
                        while f.readline() not in (b".\r\n", b""):
                            pass
                        conn.sendall((self.reject_data or "250 2.0.0 Ok: dropped").encode() + b"\r\n")
                    elif word == "QUIT":
                        conn.sendall(b"221 Bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 2.0.0 Ok\r\n")
                    continue
                up.sendall(line)
                reply = self._reply(upf)
                conn.sendall(b"".join(reply))
                if word == "DATA" and reply and reply[-1].startswith(b"354"):
                    up.sendall(b"X-Filtered: by the test proxy\r\n")
                    while True:
                        body = f.readline()
                        if not body:
                            return
                        up.sendall(body)
                        if body == b".\r\n":
                            break
                    conn.sendall(b"".join(self._reply(upf)))
                if word == "QUIT":
                    return
        finally:
            conn.close()
            if up:
                up.close()

    def close(self):
        self.stopped = True
        self.sock.close()


MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
  -o smtpd_proxy_filter=127.0.0.1:{proxy}
127.0.0.1:{after} inet n - n - - smtpd
  -o smtpd_proxy_filter=
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
  -o smtpd_client_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
"""


def make_instance(tmp_path, proxy_port, extra_main=None):
    inst = Instance(tmp_path)
    after = free_port()
    base = (inst.etc / "master.cf").read_text()
    base = "\n".join(l for l in base.splitlines() if not re.match(r"^127\.0\.0\.1:\d+ +inet", l))
    inst.write_master_cf(base + "\n" + MASTER.format(port=inst.port, proxy=proxy_port, after=after))
    inst.set_main(**FAST, **(extra_main or {}))
    inst.after_port = after
    return inst


def wait_port(port):
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(up, 10, what=f"port {port}")


def send(port, rcpts, body="Subject: filtered\r\n\r\nhello\r\n..dot line\r\n"):
    c = Client(port)
    out = [c.cmd("EHLO client.test"), c.cmd("MAIL FROM:<alice@demo.test>")]
    for r in rcpts:
        out.append(c.cmd(f"RCPT TO:<{r}>"))
    out.append(c.cmd("DATA"))
    if out[-1].startswith("354"):
        c.send(body.encode() + b".\r\n")
        out.append(c.reply()[-1])
    c.cmd("QUIT")
    c.close()
    return out


@pytest.mark.parametrize("options", ["", "speed_adjust"])
def test_filter_relays_to_after_filter_smtpd(tmp_path, options):
    inst = None
    proxy = SmtpProxy()
    try:
        inst = make_instance(tmp_path, proxy.port, {"smtpd_proxy_options": options} if options else {})
        proxy.downstream = ("127.0.0.1", inst.after_port)
        inst.start()
        wait_port(inst.port)
        wait_port(inst.after_port)
        replies = send(inst.port, ["bob@demo.test"])
        assert replies[1] == "250 2.1.0 Ok"
        assert replies[2] == "250 2.1.5 Ok"
        assert replies[3].startswith("354")
        m = re.fullmatch(r"250 2\.0\.0 Ok: queued as (\w+)", replies[4])
        assert m, replies
        qid = m.group(1)
        # The queue ID is the after-filter smtpd's.
        inst.wait_for_log(rf"{qid}: client=localhost\[127\.0\.0\.1\]|{qid}: client=")
        msg = maildir_messages(inst, "bob")[0]
        assert "X-Filtered: by the test proxy\n" in msg
        assert "\n.dot line\n" in msg
        # smtpd's own Received: header went through the filter too.
        assert msg.count("Received: from ") >= 2, msg
        seen = proxy.seen
        assert seen[0] == "EHLO demo.localhost"
        # One XFORWARD line with what the filter announced, in Postfix's order.
        xf = [s for s in seen if s.startswith("XFORWARD")]
        assert len(xf) == 1 and re.fullmatch(
            r"XFORWARD NAME=localhost ADDR=127\.0\.0\.1 PORT=\d+ HELO=client\.test "
            r"IDENT=\[UNAVAILABLE\] PROTO=ESMTP SOURCE=(LOCAL|REMOTE)", xf[0]), seen
        assert "MAIL FROM:<alice@demo.test>" in seen
        assert "RCPT TO:<bob@demo.test>" in seen
        inst.wait_for_log(r"smtpd\[\d+\]: proxy-accept: END-OF-MESSAGE: 250 2\.0\.0 Ok: queued as "
                          rf"{qid}; from=<alice@demo.test> to=<bob@demo.test> proto=ESMTP "
                          r"helo=<client\.test>")
    finally:
        proxy.close()
        if inst:
            inst.stop()


def test_filter_rejects_recipient_and_content(tmp_path):
    inst = None
    proxy = SmtpProxy(reject_rcpt="550 5.1.1 <nobody@demo.test>: no such user here")
    try:
        inst = make_instance(tmp_path, proxy.port)
        inst.start()
        wait_port(inst.port)
        replies = send(inst.port, ["nobody@demo.test"])
        assert replies[2] == "550 5.1.1 <nobody@demo.test>: no such user here"
        assert replies[3] == "554 5.5.1 Error: no valid recipients"
        inst.wait_for_log(rf'warning: proxy 127\.0\.0\.1:{proxy.port} rejected "RCPT '
                          r'TO:<nobody@demo\.test>": "550 5\.1\.1 <nobody@demo\.test>: no such user here"')
        proxy.reject_rcpt = None
        proxy.reject_data = "550 5.7.1 Message content rejected"
        replies = send(inst.port, ["bob@demo.test"])
        assert replies[2] == "250 2.1.5 Ok"  # smtpd's own, as Postfix's
        assert replies[4] == "550 5.7.1 Message content rejected"
        inst.wait_for_log(r"proxy-reject: END-OF-MESSAGE: 550 5\.7\.1 Message content rejected")
    finally:
        proxy.close()
        if inst:
            inst.stop()


def test_filter_down_gives_451(tmp_path):
    dead = free_port()
    inst = make_instance(tmp_path, dead)
    try:
        inst.start()
        wait_port(inst.port)
        replies = send(inst.port, ["bob@demo.test"])
        assert replies[1] == "250 2.1.0 Ok"
        assert replies[2] == "451 4.3.0 Error: queue file write error"
        inst.wait_for_log(rf"warning: connect to proxy filter 127\.0\.0\.1:{dead}: ")
    finally:
        inst.stop()


def test_dialogue_matches_postfix(tmp_path):
    """Debian's Postfix and Postern against the same filters: the client's
    replies and what the filter is sent, command for command."""
    import postfix_oracle
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix (and root) needed")

    def dialogue(port, proxy):
        out = []
        for rej_rcpt, rej_data in ((None, "550 5.7.1 Message content rejected"),
                                   ("550 5.1.1 <nobody@localhost>: no such user here", None),
                                   (None, "250 2.0.0 Ok: queued as ABCDEF")):
            proxy.reject_rcpt, proxy.reject_data = rej_rcpt, rej_data
            proxy.seen.clear()
            out.append(send(port, ["root@localhost"]))
            wait_until(lambda: proxy.seen[-1:] == ["QUIT"], 10, what="filter QUIT")
            out.append([re.sub(r"^EHLO \S+", "EHLO <name>", re.sub(r"PORT=\d+", "PORT=n", s))
                        for s in proxy.seen])
        return out

    p1, p2 = SmtpProxy(), SmtpProxy()
    try:
        with postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port()) as pf:
            pf.set_main(smtpd_proxy_filter=f"127.0.0.1:{p1.port}", mydestination="localhost",
                        local_recipient_maps="")
            pf.start()
            theirs = dialogue(pf.port, p1)
        inst = make_instance(tmp_path, p2.port, {"mydestination": "localhost",
                                                 "local_recipient_maps": ""})
        try:
            inst.start()
            wait_port(inst.port)
            ours = dialogue(inst.port, p2)
        finally:
            inst.stop()
        assert [r[1:] for r in ours[0::2]] == [r[1:] for r in theirs[0::2]]  # EHLO differs
        assert ours[1::2] == theirs[1::2]
    finally:
        p1.close()
        p2.close()
