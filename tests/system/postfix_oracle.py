"""A throwaway instance of Debian's Postfix 3.7, for interop tests and
benchmarks that compare Postern with Postfix on the same machine.

Set up as ../shared/COMPAT.md section 0 describes: its own configuration,
queue and data directories under a temporary directory, listening only on
127.0.0.1, logging to a file. Needs root (Postfix's master insists on it) and
Debian's postfix package; `available()` says whether both are there.

    with PostfixInstance(tmp_path, port=free_port()) as pf:
        pf.set_main(relayhost="[127.0.0.1]:2525")
        pf.start()
        ...
"""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

SBIN = pathlib.Path("/usr/sbin")
DAEMONS = pathlib.Path("/usr/lib/postfix/sbin")


def available():
    """True when Debian's Postfix is installed and we may run it (root)."""
    return (SBIN / "postfix").exists() and (DAEMONS / "master").exists() and os.geteuid() == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class PostfixInstance:
    def __init__(self, base, port, hostname="postfix.oracle.test"):
        # A directory of its own, reachable by the postfix user: pytest's
        # temporary tree is not (a concurrent pytest run resets it to 0700).
        # `base` is kept for callers' convenience but not used.
        del base
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="postern-oracle-"))
        os.chmod(self.base, 0o755)
        self.etc = self.base / "etc"
        self.spool = self.base / "spool"
        self.data = self.base / "data"
        self.maillog = self.base / "maillog"
        self.port = port
        self.started = False
        for d in (self.etc, self.spool, self.data):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data, "postfix")
        master = pathlib.Path("/etc/postfix/master.cf").read_text()
        master = re.sub(r"^smtp\s+inet\s.*$", f"127.0.0.1:{port} inet n - n - - smtpd", master,
                        count=1, flags=re.M)
        # No chroot: the chroot would lack /etc files and libraries.
        lines = []
        for line in master.splitlines():
            fields = line.split()
            if len(fields) >= 8 and not line.startswith(("#", " ", "\t")):
                fields[4] = "n"
                line = " ".join(fields)
            lines.append(line)
        (self.etc / "master.cf").write_text("\n".join(lines) + "\n")
        self.main = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.spool),
            "data_directory": str(self.data),
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": hostname,
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": f"/var, /dev/stdout, {self.base}",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_banner": "$myhostname ESMTP",
        }
        self._write_main()

    def _write_main(self):
        text = "".join(f"{k} = {v}\n" for k, v in self.main.items())
        (self.etc / "main.cf").write_text(text)

    def set_main(self, **params):
        self.main.update({k: str(v) for k, v in params.items()})
        self._write_main()

    def append_master(self, text):
        with open(self.etc / "master.cf", "a") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def command(self, program, *args, **kw):
        """Runs one of Postfix's commands against this instance."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 120)
        return subprocess.run([str(SBIN / program), "-c", str(self.etc), *map(str, args)], **kw)

    def start(self):
        r = self.command("postfix", "start")
        if r.returncode != 0:
            raise RuntimeError(f"Postfix did not start: {r.stderr}")
        self.started = True
        wait_for_port(self.port)

    def stop(self):
        if self.started:
            self.command("postfix", "stop")
            self.started = False
            # Wait until master is gone, so nothing is left running.
            pid_file = self.spool / "pid" / "master.pid"
            for _ in range(100):
                if not pid_file.exists():
                    break
                time.sleep(0.1)

    def log(self):
        return self.maillog.read_text() if self.maillog.exists() else ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
