# ctest-timeout: 120
"""SASL server with smtpd_sasl_type = dovecot against a real Dovecot
authentication service (Debian's dovecot-core) started by the test, over
its UNIX socket and over inet, through tests/tools/sasl-probe."""
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, run

PROBE = BIN.parent / "tests" / "sasl-probe"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Dovecot:
    """dovecot -F with only the auth service: a passwd-file with alice/secret."""

    def __init__(self):
        for user in ("dovecot", "dovenull"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                pytest.skip(f"user {user} (from Debian's dovecot-core) is missing")
        if not pathlib.Path(DOVECOT).exists():
            pytest.skip("dovecot is not installed")
        # Dovecot's auth process runs as the dovecot user: everything it
        # reads must be reachable, so not under pytest's 0700 tmp_path.
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="postern-dovecot-"))
        self.dir.chmod(0o755)
        self.socket = self.dir / "auth-client"
        self.port = free_port()
        passwd = self.dir / "passwd"
        passwd.write_text("alice:{PLAIN}secret\nbob@example.com:{PLAIN}hunter2\n")
        passwd.chmod(0o644)
        conf = self.dir / "dovecot.conf"
        conf.write_text(f"""\
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = none
listen = 127.0.0.1
default_login_user = dovenull
default_internal_user = dovecot
auth_mechanisms = plain login
disable_plaintext_auth = no
ssl = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener {self.socket} {{
    mode = 0666
  }}
  inet_listener {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_until(lambda: self.socket.exists() and port_open(self.port)):
            self.stop()
            log = (self.dir / "dovecot.log").read_text() if (self.dir / "dovecot.log").exists() else ""
            pytest.fail(f"dovecot did not start: {log}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def dovecot():
    assert PROBE.exists(), f"{PROBE} is not built"
    d = Dovecot()
    yield d
    d.cleanup()


def probe(path, *args, opts=()):
    argv = [PROBE, "-o", "smtpd_sasl_type=dovecot", "-o", f"smtpd_sasl_path={path}"]
    for o in opts:
        argv += ["-o", o]
    return run(argv + list(args))


@pytest.mark.parametrize("where", ["unix", "inet"])
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_good_password(dovecot, where, mech):
    path = dovecot.socket if where == "unix" else f"inet:127.0.0.1:{dovecot.port}"
    r = probe(path, "auth", mech, "alice", "secret")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mechanisms: PLAIN LOGIN" in r.stdout
    assert "result: success user=alice" in r.stdout
    assert "reply: 235 2.7.0 Authentication successful" in r.stdout


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_bad_password_is_permanent(dovecot, mech):
    r = probe(dovecot.socket, "auth", mech, "alice", "wrong")
    assert r.returncode == 1, r.stdout + r.stderr
    # Dovecot gives no reason; Debian's Postfix then replies
    # "535 5.7.8 Error: authentication failed: (reason unavailable)".
    assert "result: failure temporary=no malformed=no reason=(reason unavailable)" in r.stdout
    assert "failed user: alice" in r.stdout  # for the log's sasl_username=
    assert "reply: 535 5.7.8 Error: authentication failed: (reason unavailable)" in r.stdout


def test_unknown_user_and_full_address(dovecot):
    assert probe(dovecot.socket, "auth", "PLAIN", "mallory", "secret").returncode == 1
    r = probe(dovecot.socket, "auth", "PLAIN", "bob@example.com", "hunter2")
    assert r.returncode == 0 and "user=bob@example.com" in r.stdout, r.stdout


def test_security_options_hide_plaintext(dovecot):
    r = probe(dovecot.socket, "mechs", opts=["smtpd_sasl_security_options=noanonymous, noplaintext"])
    assert r.returncode == 0
    assert r.stdout.strip() == "mechanisms:"
    # Over TLS the (default) tls options apply; here they allow plaintext.
    r = run([PROBE, "--tls", "-o", "smtpd_sasl_type=dovecot", "-o", f"smtpd_sasl_path={dovecot.socket}",
             "-o", "smtpd_sasl_security_options=noplaintext",
             "-o", "smtpd_sasl_tls_security_options=noanonymous", "mechs"])
    assert r.stdout.strip() == "mechanisms: PLAIN LOGIN", r.stdout


def test_malformed_response_is_not_sent(dovecot):
    r = run([PROBE, "-o", "smtpd_sasl_type=dovecot", "-o", f"smtpd_sasl_path={dovecot.socket}",
             "--initial", "AGFsaWNl\tuser=x", "auth", "PLAIN", "alice", "secret"])
    assert r.returncode == 3, r.stdout
    assert "malformed=yes" in r.stdout
    # Debian's Postfix gives the same answer (Dovecot's words).
    assert "reply: 535 5.7.8 Error: authentication failed: Invalid base64 data in initial response" \
        in r.stdout


def test_replies_as_postfix_gives_them(dovecot):
    """Replies Debian's Postfix gives with the same Dovecot (recorded by hand)."""
    r = probe(dovecot.socket, "--initial", "=", "auth", "PLAIN", "alice", "secret")
    assert "reply: 535 5.7.8 Error: authentication failed: (reason unavailable)" in r.stdout, r.stdout
    r = probe(dovecot.socket, "auth", "FOO", "alice", "secret")
    assert "reply: 535 5.7.8 Error: authentication failed: Invalid authentication mechanism" in r.stdout


def test_relative_path_uses_queue_directory(dovecot, tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    (private / "auth").symlink_to(dovecot.socket)
    r = probe("private/auth", "auth", "PLAIN", "alice", "secret", opts=[f"queue_directory={tmp_path}"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_service_down_is_temporary(tmp_path):
    """Last: a socket with nobody behind it, and an inet port that refuses."""
    assert PROBE.exists()
    r = probe(tmp_path / "no-such-socket", "auth", "PLAIN", "alice", "secret")
    assert r.returncode == 4
    # Postfix's warning for the same fault.
    assert f"warning: SASL: Connect to Dovecot auth socket '{tmp_path}/no-such-socket' failed: " \
           "No such file or directory" in r.stderr
    r = probe(f"inet:127.0.0.1:{free_port()}", "auth", "PLAIN", "alice", "secret")
    assert r.returncode == 4, r.stdout
