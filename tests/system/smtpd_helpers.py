"""Helpers for the smtpd system tests: an SMTP client that shows raw replies,
a fake cleanup service (until cleanup exists on main), and instance setup
with only the services smtpd needs."""
import os
import pathlib
import socket
import threading

from instance import Instance, wait_until


class Client:
    """A raw SMTP client: send lines, read (multi-line) replies as lists."""

    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.banner = self.reply()

    def reply(self):
        lines = []
        while True:
            while b"\n" not in self.buf:
                try:
                    d = self.s.recv(65536)
                except (TimeoutError, socket.timeout):
                    lines.append("<timeout>")
                    return lines
                if not d:
                    lines.append("<eof>")
                    return lines
                self.buf += d
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.decode(errors="replace").rstrip("\r")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode() + b"\r\n")

    def cmd(self, line):
        """Sends a command line, returns the last reply line."""
        self.send(line)
        return self.reply()[-1]

    def close(self):
        self.s.close()


def run_script(port, script):
    """Runs commands (str: a command; ("raw", bytes): bytes then one reply;
    ("data", text): message lines and the final dot) and returns the list of
    reply texts, queue IDs masked."""
    c = Client(port)
    out = [mask(c.banner[-1])]
    for item in script:
        if isinstance(item, tuple) and item[0] == "raw":
            c.send(item[1])
        elif isinstance(item, tuple) and item[0] == "data":
            c.send(item[1].replace("\n", "\r\n").encode() + b"\r\n.\r\n")
        else:
            c.send(item)
        out.append(mask(" | ".join(c.reply())))
    c.close()
    return out


def mask(text):
    import re
    return re.sub(r"queued as [0-9A-Za-z]+", "queued as ID", text)


def encode_attrs(pairs):
    return b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs) + b"\0"


class FakeCleanup:
    """Listens on public/cleanup like cleanup: announces a queue ID, reads the
    flags and the records up to E, answers status 0 (or `status`). Messages
    are kept as lists of (type, bytes)."""

    def __init__(self, path, status=0, reason=""):
        self.path = str(path)
        self.status, self.reason = status, reason
        self.messages = []
        self.count = 0
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(16)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        self.count += 1
        qid = f"ABC{self.count:04d}"
        conn.settimeout(30)
        f = conn.makefile("rwb")
        try:
            f.write(encode_attrs([("protocol", "cleanup_protocol"), ("queue_id", qid)]))
            f.flush()
            # the flags attribute list: name NUL value NUL ... NUL
            while True:
                name = b""
                while (c := f.read(1)) not in (b"\0", b""):
                    name += c
                if not c:
                    return
                if not name:
                    break
                while (c := f.read(1)) not in (b"\0", b""):
                    pass
            records = []
            while True:
                t = f.read(1)
                if not t:
                    return  # client gave up: nothing queued
                length, shift = 0, 0
                while True:
                    b = f.read(1)[0]
                    length |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                data = f.read(length)
                records.append((t.decode(), data))
                if t == b"E":
                    break
            self.messages.append({"queue_id": qid, "records": records})
            f.write(encode_attrs([("status", str(self.status)), ("reason", self.reason)]))
            f.flush()
        except (OSError, IndexError):
            return
        finally:
            conn.close()

    def close(self):
        self.stop = True
        self.sock.close()


def message_text(msg):
    """The content lines (N and L records between M and X) as text."""
    out, inside = [], False
    for t, d in msg["records"]:
        if t == "M":
            inside = True
        elif t == "X":
            inside = False
        elif inside and t in "NL":
            out.append(d.decode(errors="replace") + ("\n" if t == "N" else ""))
    return "".join(out)


def envelope(msg, rtype):
    return [d.decode(errors="replace") for t, d in msg["records"] if t == rtype]


MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
rewrite unix - - n - - trivial-rewrite
postlog unix-dgram n - n - 1 postlogd
"""

COMPARE_MAIN = dict(
    myhostname="postfix.oracle.test",
    mydestination="oracle.test",
    mynetworks="10.99.0.0/16",
    local_recipient_maps="",
    smtpd_helo_required="no",
    smtpd_banner="$myhostname ESMTP",
    virtual_mailbox_domains="",
    virtual_mailbox_maps="",
)


def smtpd_instance(tmp_path, with_cleanup=True, master_extra="", **main):
    """A started instance running smtpd + trivial-rewrite (+ a fake cleanup)."""
    inst = Instance(tmp_path)
    inst.write_master_cf(MASTER_CF.format(port=inst.port) + master_extra)
    inst.set_main(**{**COMPARE_MAIN, **main})
    inst.start()
    inst.cleanup = None
    if with_cleanup:
        public = inst.spool / "public"
        wait_until(public.is_dir, 10, what="public/")
        inst.cleanup = FakeCleanup(public / "cleanup")
    wait_until(lambda: _port_open(inst.port), 10, what="smtpd port")
    return inst


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
