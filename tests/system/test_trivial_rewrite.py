# ctest-timeout: 120
"""trivial-rewrite answers rewrite and resolve requests in Postfix's
attribute protocol (run stand-alone with -S: stdin is the one client)."""
import os
import socket
import subprocess

import pytest

from conftest import postern

MAIN_CF = """compatibility_level = 3.6
queue_directory = {spool}
myhostname = mx.example.net
mydomain = example.net
mydestination = $myhostname, localhost
relay_domains = partner.example
relayhost = [smarthost.example]:587
inet_interfaces = loopback-only
transport_maps = texthash:{etc}/transport
virtual_alias_domains = alias.example
"""


def encode(pairs):
    return b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs) + b"\0"


def read_list(f):
    items = []
    while True:
        fields = []
        for _ in range(2):
            data = b""
            while True:
                c = f.read(1)
                if not c:
                    return None
                if c == b"\0":
                    break
                data += c
            fields.append(data.decode())
            if not fields[0]:
                return items
        items.append(tuple(fields))


@pytest.fixture
def rewrite(tmp_path):
    etc, spool = tmp_path / "etc", tmp_path / "spool"
    etc.mkdir()
    spool.mkdir()
    (etc / "main.cf").write_text(MAIN_CF.format(spool=spool, etc=etc))
    (etc / "transport").write_text("special.example  uucp:gateway\n")
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([postern("trivial-rewrite"), "-S"], stdin=theirs,
                            env={**os.environ, "MAIL_CONFIG": str(etc)})
    theirs.close()
    ours.settimeout(20)
    f = ours.makefile("rwb")
    assert read_list(f) == [("protocol", "trivial_rewrite_protocol")]

    def ask(*pairs):
        f.write(encode(pairs))
        f.flush()
        return read_list(f)
    yield ask
    f.close()
    ours.close()
    assert proc.wait(timeout=20) == 0


def test_rewrite_requests(rewrite):
    def canon(rule, address):
        reply = rewrite(("request", "rewrite"), ("rule", rule), ("address", address))
        assert reply[0] == ("flags", "0")
        return dict(reply)["address"]
    assert canon("local", "alice") == "alice@mx.example.net"
    assert canon("remote", "alice") == "alice"
    assert canon("local", "a!b!user") == "b!user@a"
    assert canon("local", "user%a%b.org") == "user%a@b.org"
    assert canon("local", "@r1,@r2:bob@far.org") == "bob@far.org"
    assert canon("local", "u@example.org.") == "u@example.org"
    assert canon("local", "") == ""


def test_resolve_requests(rewrite):
    def resolve(address, request="resolve", sender=""):
        reply = rewrite(("request", request), ("sender", sender), ("address", address))
        names = [n for n, _ in reply]
        assert names == ["flags", "transport", "nexthop", "recipient", "flags"]
        return reply[1][1], reply[2][1], reply[3][1], int(reply[4][1])
    assert resolve("root") == ("local", "mx.example.net", "root@mx.example.net", 256)
    assert resolve("u@[127.0.0.1]") == ("local", "mx.example.net", "u@[127.0.0.1]", 256)
    assert resolve("u@partner.example") == ("relay", "[smarthost.example]:587",
                                            "u@partner.example", 2048)
    assert resolve("u@elsewhere.example") == ("smtp", "[smarthost.example]:587",
                                              "u@elsewhere.example", 4096)
    # Routed through us: flagged, so smtpd can refuse it as a relay attempt.
    assert resolve("victim%far.org@mx.example.net")[2:] == ("victim@far.org", 4096 | 2)
    assert resolve("") == ("local", "mx.example.net", "MAILER-DAEMON@mx.example.net", 256)
    assert resolve("u@bad_domain!.org")[3] & 4
    assert resolve("u@alias.example") == ("error", "5.1.1 User unknown in virtual alias table",
                                          "u@alias.example", 512)
    assert resolve("x@special.example")[:2] == ("uucp", "gateway")
    assert resolve("u@x.org", request="verify")[0] == "smtp"


def test_unknown_request_is_answered_not_fatal(rewrite):
    reply = rewrite(("request", "bogus"))
    assert ("status", "-1") in reply
    assert rewrite(("request", "rewrite"), ("rule", "local"),
                   ("address", "bob"))[1] == ("address", "bob@mx.example.net")
