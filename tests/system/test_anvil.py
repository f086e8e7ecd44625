# ctest-timeout: 300
"""The anvil service under master: the plain attribute protocol, counts
and rates, connections dropped when a client goes away, the periodic
statistics log line; and the same request sequence answered by Debian's
Postfix anvil, reply for reply."""
import os
import re
import socket
import time

import pytest

import postfix_oracle
from instance import Instance
from qadmin_helpers import start_qadmin_instance


class Anvil:
    """A client of the plain-encoded anvil protocol."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(str(path))
        self.buf = b""
        self.announcement = self.read()

    def read(self):
        while b"\n\n" not in self.buf and not self.buf.startswith(b"\n"):
            chunk = self.s.recv(4096)
            if not chunk:
                raise EOFError
            self.buf += chunk
        end = 1 if self.buf.startswith(b"\n") else self.buf.index(b"\n\n") + 2
        text, self.buf = self.buf[:end].decode(), self.buf[end:]
        return dict(line.split("=", 1) for line in text.splitlines() if line)

    def ask(self, request, ident):
        self.s.sendall(f"request={request}\nident={ident}\n\n".encode())
        return self.read()

    def close(self):
        self.s.close()


SEQUENCE = [
    ("connect", "smtp:127.0.0.1"), ("connect", "smtp:127.0.0.1"), ("connect", "smtp:10.0.0.1"),
    ("message", "smtp:127.0.0.1"), ("message", "smtp:127.0.0.1"), ("recipient", "smtp:127.0.0.1"),
    ("newtls", "smtp:127.0.0.1"), ("newtls_status", "smtp:127.0.0.1"), ("auth", "smtp:127.0.0.1"),
    ("lookup", "smtp:127.0.0.1"), ("disconnect", "smtp:127.0.0.1"), ("lookup", "smtp:127.0.0.1"),
    ("lookup", "smtp:192.0.2.99"), ("disconnect", "smtp:192.0.2.99"),
    ("connect", "smtp:1.1.1.1"), ("connect", "smtp:2.2.2.2"), ("lookup", "smtp:1.1.1.1"),
    ("disconnect", "smtp:2.2.2.2"), ("lookup", "smtp:2.2.2.2"), ("message", "smtp:9.9.9.9"),
    ("lookup", "smtp:9.9.9.9"), ("newtls_status", "smtp:8.8.8.8"), ("lookup", "smtp:8.8.8.8"),
    ("auth", "submission:9.9.9.9"), ("lookup", "smtp:9.9.9.9"),
]


def replies(path):
    a = Anvil(path)
    try:
        return a.announcement, [a.ask(r, i) for r, i in SEQUENCE]
    finally:
        a.close()


@pytest.fixture
def inst(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for the private socket of a privileged instance")
    with Instance(tmp_path) as i:
        start_qadmin_instance(i, anvil_status_update_time="1s")
        yield i


def test_counts_and_rates(inst):
    ann, got = replies(inst.socket_path("anvil"))
    assert ann == {"protocol": "anvil_protocol"}
    assert got[0] == {"status": "0", "count": "1", "rate": "1"}
    # One stream stands for one connection: a new connect replaces the old.
    assert got[1] == {"status": "0", "count": "1", "rate": "2"}
    assert got[2] == {"status": "0", "count": "1", "rate": "1"}
    assert got[4] == {"status": "0", "rate": "2"}
    assert got[9] == {"status": "0", "count": "0", "rate": "2", "mail": "2", "rcpt": "1",
                      "newtls": "1", "auth": "1"}
    assert got[20] == {"status": "0", "count": "1", "rate": "1", "mail": "1", "rcpt": "0",
                       "newtls": "0", "auth": "0"}  # a message from an unknown client connects it


def test_connections_of_a_client_that_went_away(inst):
    a = Anvil(inst.socket_path("anvil"))
    c = Anvil(inst.socket_path("anvil"))
    a.ask("connect", "smtp:198.51.100.7")
    assert c.ask("connect", "smtp:198.51.100.7")["count"] == "2"
    a.close()  # smtpd processes that died
    c.close()
    b = Anvil(inst.socket_path("anvil"))
    for _ in range(50):
        if b.ask("lookup", "smtp:198.51.100.7")["count"] == "0":
            break
        time.sleep(0.05)
    reply = b.ask("lookup", "smtp:198.51.100.7")
    assert reply["count"] == "0" and reply["rate"] == "2"
    b.close()


def test_statistics_log_line(inst):
    a = Anvil(inst.socket_path("anvil"))
    c = Anvil(inst.socket_path("anvil"))
    a.ask("connect", "smtp:127.0.0.1")
    c.ask("connect", "smtp:127.0.0.1")
    a.ask("message", "smtp:127.0.0.1")
    when = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    inst.wait_for_log(rf"postfix/anvil\[\d+\]: statistics: max connection rate 2/60s for "
                      rf"\(smtp:127\.0\.0\.1\) at {when}\n")
    inst.wait_for_log(rf"statistics: max connection count 2 for \(smtp:127\.0\.0\.1\) at {when}\n")
    inst.wait_for_log(rf"statistics: max message rate 1/60s for \(smtp:127\.0\.0\.1\) at {when}\n")
    inst.wait_for_log(rf"statistics: max cache size 1 at {when}\n")
    a.close()
    c.close()


def test_bad_request(inst):
    a = Anvil(inst.socket_path("anvil"))
    assert a.ask("frobnicate", "smtp:1.2.3.4") == {"status": "-1"}
    assert a.ask("connect", "smtp:1.2.3.4")["count"] == "1"  # still serving
    a.close()
    inst.wait_for_log(r'anvil\[\d+\]: warning: unrecognized request: "frobnicate", ignored')


@pytest.mark.skipif(not postfix_oracle.available(), reason="needs root and Debian's Postfix")
def test_replies_match_postfix(tmp_path, inst):
    pf = postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port())
    pf.start()
    try:
        theirs = replies(pf.spool / "private" / "anvil")
    finally:
        pf.stop()
    ours = replies(inst.socket_path("anvil"))
    for n, (o, t) in enumerate(zip(ours[1], theirs[1])):
        assert (n, SEQUENCE[n], o) == (n, SEQUENCE[n], t)
    assert ours == theirs
