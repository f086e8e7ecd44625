# ctest-timeout: 120
"""The scache service under master (master.cf's "scache unix - - n - 1
scache"): sessions handed over with their descriptors come back by
endpoint and by destination label, expire after connection_cache_ttl_limit,
and the statistics are logged every connection_cache_status_update_time.
Framing as in src/global/scache_client.h: a 4-byte length sent with the
descriptor, then a NUL-encoded attribute list."""
import os
import socket
import struct
import time

import pytest

from instance import BIN, Instance

pytestmark = pytest.mark.skipif(not (BIN / "scache").exists(), reason="scache is not built")


def encode(pairs):
    return b"".join(k.encode() + b"\0" + str(v).encode() + b"\0" for k, v in pairs) + b"\0"


def decode(body):
    parts = body.split(b"\0")
    out = []
    for i in range(0, len(parts) - 2, 2):
        if parts[i] == b"":
            break
        out.append((parts[i].decode(), parts[i + 1].decode()))
    return out


class Scache:
    def __init__(self, inst):
        self.s = inst.connect_unix("scache")
        self.s.settimeout(10)

    def call(self, pairs, fd=None):
        body = encode(pairs)
        header = struct.pack(">I", len(body))
        if fd is not None:
            socket.send_fds(self.s, [header], [fd])
        else:
            self.s.sendall(header)
        self.s.sendall(body)
        data, fds, _, _ = socket.recv_fds(self.s, 4, 1)
        while len(data) < 4:
            data += self.s.recv(4 - len(data))
        (n,) = struct.unpack(">I", data)
        reply = b""
        while len(reply) < n:
            reply += self.s.recv(n - len(reply))
        return dict(decode(reply)), (fds[0] if fds else None)

    def close(self):
        self.s.close()


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(connection_cache_ttl_limit="2s", connection_cache_status_update_time="3s")
        i.start()
        yield i


def session_pair():
    """(ours, theirs): a connected socket pair standing in for an SMTP session."""
    return socket.socketpair()


def same_session(received_fd, ours):
    """True when `received_fd` is the other end of `ours`."""
    with socket.socket(fileno=received_fd) as got:
        got.sendall(b"ping")
        return ours.recv(4) == b"ping"


def test_endpoint_save_and_find(inst):
    c = Scache(inst)
    ours, theirs = session_pair()
    reply, fd = c.call([("request", "find_endp"), ("label", "smtp:127.0.0.1:25")])
    assert reply["status"] == "-1" and fd is None
    reply, _ = c.call([("request", "save_endp"), ("ttl", 2), ("label", "smtp:127.0.0.1:25"),
                       ("property", "state1")], fd=theirs.fileno())
    assert reply["status"] == "0"
    theirs.close()  # the cache holds its own copy
    reply, fd = c.call([("request", "find_endp"), ("label", "smtp:127.0.0.1:25")])
    assert reply == {"status": "0", "property": "state1"}
    assert fd is not None and same_session(fd, ours)
    # Taken out: a second find misses.
    reply, fd = c.call([("request", "find_endp"), ("label", "smtp:127.0.0.1:25")])
    assert reply["status"] == "-1" and fd is None
    c.close()


def test_destination_leads_to_endpoint_and_stats_are_logged(inst):
    c = Scache(inst)
    ours, theirs = session_pair()
    c.call([("request", "save_endp"), ("ttl", 2), ("label", "smtp:10.1.1.1:25"),
            ("property", "ep")], fd=theirs.fileno())
    theirs.close()
    reply, _ = c.call([("request", "save_dest"), ("ttl", 2), ("label", "smtp:example.com"),
                       ("property", "dp"), ("endp_label", "smtp:10.1.1.1:25")])
    assert reply["status"] == "0"
    reply, fd = c.call([("request", "find_dest"), ("label", "smtp:example.com")])
    assert reply == {"status": "0", "property": "dp", "endp_property": "ep"}
    assert same_session(fd, ours)
    reply, fd = c.call([("request", "find_dest"), ("label", "smtp:nowhere.example")])
    assert reply["status"] == "-1" and fd is None
    c.close()
    inst.wait_for_log(r"scache\[\d+\]: statistics: start interval \w{3} [ \d]\d \d\d:\d\d:\d\d",
                      timeout=20)
    inst.wait_for_log(r"scache\[\d+\]: statistics: domain lookup hits=1 miss=1 success=50%")
    inst.wait_for_log(r"scache\[\d+\]: statistics: address lookup hits=1 miss=0 success=100%")
    inst.wait_for_log(r"scache\[\d+\]: statistics: max simultaneous domains=1 addresses=1 "
                      r"connection=1")


def test_ttl_is_capped_and_sessions_expire(inst):
    c = Scache(inst)
    ours, theirs = session_pair()
    # Asks for an hour; connection_cache_ttl_limit (2s) wins.
    c.call([("request", "save_endp"), ("ttl", 3600), ("label", "smtp:10.2.2.2:25"),
            ("property", "")], fd=theirs.fileno())
    theirs.close()
    ours.settimeout(15)
    # Once the cache closes its copy, our end sees EOF.
    assert ours.recv(10) == b""
    reply, fd = c.call([("request", "find_endp"), ("label", "smtp:10.2.2.2:25")])
    assert reply["status"] == "-1" and fd is None
    c.close()


def test_bad_requests_are_refused(inst):
    c = Scache(inst)
    reply, _ = c.call([("request", "save_endp"), ("ttl", 2), ("label", "smtp:x:25")])
    assert reply["status"] == "-1"  # no descriptor came with it
    reply, _ = c.call([("request", "frobnicate"), ("label", "x")])
    assert reply["status"] == "-1"
    reply, _ = c.call([("request", "find_endp")])
    assert reply["status"] == "-1"
    c.close()
    inst.wait_for_log(r"scache\[\d+\]: warning: unrecognized request: \"frobnicate\", ignored")
    inst.wait_for_log(r"scache\[\d+\]: warning: save_endp smtp:x:25: no descriptor")
