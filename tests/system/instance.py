"""A throwaway Postern instance for system tests.

    with Instance(tmp_path, port) as inst:      # tools/make-instance under tmp_path
        inst.write_master_cf(...)               # optional: replace master.cf
        inst.set_main(service_throttle_time="2s")
        inst.start()                            # postfix start; waits until ready
        ...
    # leaving the block always stops master (postfix stop, then SIGKILL)

Every wait is bounded. The files live in /tmp/postern-XXXX (linked from
tmpdir/name) and are removed on leaving the block unless
POSTERN_KEEP_INSTANCES is set. Run by root, the instance runs the privilege-separated
way (mail_owner "postern"); run by a user, wholly as that user.
"""
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SOURCE = pathlib.Path(os.environ.get("POSTERN_SOURCE", pathlib.Path(__file__).resolve().parents[2]))
BIN = pathlib.Path(os.environ.get("POSTERN_BIN", SOURCE / "build" / "bin"))


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate() until it is true; raises TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid):
    """Pids whose parent is `pid`."""
    out = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(p.name))
    return out


class Instance:
    """`user` (only when running as root): make and run the instance as that
    user instead, i.e. an unprivileged instance."""

    def __init__(self, tmpdir, port=None, name="inst", user=None):
        # The instance lives in a short directory of its own under /tmp:
        # socket paths stay far below the 108-byte limit, and services that
        # run as mail_owner can reach it (pytest keeps resetting its own
        # base directory to mode 0700). tmpdir/name links to it.
        self._top = pathlib.Path(tempfile.mkdtemp(prefix="postern-"))
        os.chmod(self._top, 0o711)
        self.dir = self._top / name
        link = pathlib.Path(tmpdir) / name
        if not link.exists():
            link.symlink_to(self.dir)
        self.port = port or free_port()
        self.bin = BIN
        self.user = user
        if user:
            self.dir.mkdir(parents=True, exist_ok=True)
            pw = pwd.getpwnam(user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run([str(SOURCE / "tools" / "make-instance"), "--dir", str(self.dir),
                   "--port", str(self.port), "--bin", str(BIN)], check=True)
        self.etc = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.maillog = self.dir / "log" / "maillog"
        self._master_pid = None

    # --- configuration -------------------------------------------------
    def set_main(self, **params):
        """Appends name = value lines to main.cf (later lines win)."""
        with open(self.etc / "main.cf", "a") as f:
            for k, v in params.items():
                f.write(f"{k} = {v}\n")

    def write_master_cf(self, text):
        (self.etc / "master.cf").write_text(text)

    # --- commands ------------------------------------------------------
    def _run(self, argv, timeout=60, check=False):
        """Runs argv (as self.user when set); CompletedProcess with text output."""
        kw = {}
        if self.user:
            pw = pwd.getpwnam(self.user)

            def become_user():
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)

            kw["preexec_fn"] = become_user
            kw["env"] = dict(os.environ, HOME=str(self.dir), USER=self.user, LOGNAME=self.user)
            kw["cwd"] = str(self.dir)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check, **kw)

    def postfix(self, *args, timeout=60):
        """Runs our postfix -c ETC args...; returns CompletedProcess (text)."""
        return self._run([str(BIN / "postfix"), "-c", str(self.etc), *map(str, args)],
                         timeout=timeout)

    def postconf(self, *args, timeout=60):
        """Runs our postconf -c ETC args...; returns CompletedProcess (text)."""
        return self._run([str(BIN / "postconf"), "-c", str(self.etc), *map(str, args)],
                         timeout=timeout)

    def start(self):
        r = self.postfix("start")
        assert r.returncode == 0, f"postfix start failed: {r.stderr}\n{self.log_text()}"
        self._master_pid = wait_until(self.master_pid, 10, what="master.pid")
        return r

    def stop(self):
        """Stops master (postfix stop, then force); never raises."""
        pid = self.master_pid() or self._master_pid
        try:
            if self.running():
                self.postfix("stop", timeout=30)
        except Exception:
            pass
        if pid and process_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def running(self):
        return self.postfix("status").returncode == 0

    def master_pid(self):
        try:
            pid = int((self.spool / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    def children(self):
        pid = self.master_pid()
        return children_of(pid) if pid else []

    # --- logging -------------------------------------------------------
    def log_text(self):
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, pattern, timeout=10.0, count=1):
        """Waits until `pattern` (a regex) matches `count` times in maillog."""
        rx = re.compile(pattern)
        try:
            return wait_until(lambda: len(rx.findall(self.log_text())) >= count, timeout,
                              what=f"log line /{pattern}/")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; master's children: {self.describe_children()}; "
                               f"maillog:\n{self.log_text()[-3000:]}") from None

    def describe_children(self):
        """"pid:state:command" of each child of master (for failure messages)."""
        out = []
        for pid in self.children():
            try:
                cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                state = pathlib.Path(f"/proc/{pid}/wchan").read_text()
            except OSError:
                continue
            out.append(f"{pid}:{state}:{cmd.decode(errors='replace').strip()}")
        return out

    # --- clients -------------------------------------------------------
    def socket_path(self, name, private=True):
        return self.spool / ("private" if private else "public") / name

    def connect_unix(self, name, private=True, timeout=10.0):
        """Connects to a service socket, retrying for up to `timeout` seconds
        while it does not exist or nobody listens (master may be reloading)."""
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(str(self.socket_path(name, private)))
                return s
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self):
        return self

    def remove(self):
        """Deletes the instance's files (after stop())."""
        shutil.rmtree(self._top, ignore_errors=True)

    def __exit__(self, *exc):
        self.stop()
        if not os.environ.get("POSTERN_KEEP_INSTANCES"):
            self.remove()
        return False
