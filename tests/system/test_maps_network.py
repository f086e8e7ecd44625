# ctest-timeout: 120
"""socketmap: and tcp: tables against small servers run by the test,
queried with our postmap -q and compared with Debian's Postfix postmap."""
import os
import socket
import socketserver
import threading
import urllib.parse

import pytest

from conftest import postern, run

DATA = {"alice@example.com": "alice@mail.example.com", "with space": "value with space",
        "temp": None, "big": "x" * 200}


def socketmap_reply(request):
    name, _, key = request.partition(" ")
    if name != "virtual":
        return "PERM unknown map"
    if key == "temp":
        return "TEMP try again"
    if key in DATA:
        return "OK " + DATA[key]
    return "NOTFOUND "


class SocketmapHandler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            length = b""
            while not length.endswith(b":"):
                c = self.rfile.read(1)
                if not c:
                    return
                length += c
            body = self.rfile.read(int(length[:-1]) + 1)[:-1].decode()
            reply = socketmap_reply(body).encode()
            self.wfile.write(b"%d:%s," % (len(reply), reply))


class TcpHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            req = line.decode().rstrip("\n")
            if not req.startswith("get "):
                self.wfile.write(b"500 bad request\n")
                continue
            key = urllib.parse.unquote(req[4:])
            if key == "temp":
                self.wfile.write(b"400 try%20again\n")
            elif key in DATA:
                self.wfile.write(b"200 " + DATA[key].replace("%", "%25").replace(" ", "%20").encode() + b"\n")
            else:
                self.wfile.write(b"500 not found\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def servers():
    started = []
    ports = {}
    for name, handler in (("socketmap", SocketmapHandler), ("tcp", TcpHandler)):
        srv = Server(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        ports[name] = srv.server_address[1]
    yield ports
    for srv in started:
        srv.shutdown()
        srv.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oracle():
    return "/usr/sbin/postmap" if os.path.exists("/usr/sbin/postmap") else None


KEYS = ["alice@example.com", "ALICE@Example.COM", "nobody", "with space", "big"]


@pytest.mark.parametrize("kind", ["socketmap", "tcp"])
def test_lookups_match_postfix(confdir, servers, kind):
    spec = (f"socketmap:inet:127.0.0.1:{servers['socketmap']}:virtual" if kind == "socketmap"
            else f"tcp:127.0.0.1:{servers['tcp']}")
    for key in KEYS:
        r = run([postern("postmap"), "-c", confdir, "-q", key, spec])
        want = DATA.get(key)  # keys are sent as given, not folded
        if want is None:
            assert (r.returncode, r.stdout) == (1, ""), r.stderr
        else:
            assert (r.returncode, r.stdout) == (0, want + "\n"), r.stderr
        if oracle():
            t = run([oracle(), "-c", confdir, "-q", key, spec])
            assert (t.returncode, t.stdout) == (r.returncode, r.stdout), (key, t.stderr)
    # Several keys over one connection.
    r = run([postern("postmap"), "-c", confdir, "-q", "-", spec], input="alice@example.com\nnobody\nbig\n")
    assert r.stdout == f"alice@example.com\t{DATA['alice@example.com']}\nbig\t{DATA['big']}\n"


@pytest.mark.parametrize("kind", ["socketmap", "tcp"])
def test_temporary_failures(confdir, servers, kind):
    spec = (f"socketmap:inet:127.0.0.1:{servers['socketmap']}:virtual" if kind == "socketmap"
            else f"tcp:127.0.0.1:{servers['tcp']}")
    r = run([postern("postmap"), "-c", confdir, "-q", "temp", spec])
    assert r.returncode == 1 and r.stdout == "" and "query error" in r.stderr
    down = (f"socketmap:inet:127.0.0.1:{free_port()}:virtual" if kind == "socketmap"
            else f"tcp:127.0.0.1:{free_port()}")
    r = run([postern("postmap"), "-c", confdir, "-q", "x", down])
    assert r.returncode == 1 and "query error" in r.stderr and "Connection refused" in r.stderr


def test_socketmap_unknown_map_name_is_an_error(confdir, servers):
    spec = f"socketmap:inet:127.0.0.1:{servers['socketmap']}:other"
    r = run([postern("postmap"), "-c", confdir, "-q", "x", spec])
    assert r.returncode == 1 and "PERM unknown map" in r.stderr
