# ctest-timeout: 120
"""SASL server with smtpd_sasl_type = cyrus (libsasl2): smtpd.conf found
through cyrus_sasl_config_path, with pwcheck_method auxprop (a sasldb made
by saslpasswd2) and saslauthd (a real saslauthd -a sasldb started by the
test); and the Cyrus client against the Cyrus server. Driven through
tests/tools/sasl-probe with a main.cf in a temporary directory."""
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, run

PROBE = BIN.parent / "tests" / "sasl-probe"
REALM = "example.com"


def make_sasldb(path, users):
    for user, password in users.items():
        r = subprocess.run(["saslpasswd2", "-f", str(path), "-p", "-c", "-u", REALM, user],
                           input=password + "\n", text=True, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr


def configure(tmp_path, smtpd_conf, extra=""):
    """A Postfix-style configuration directory plus a Cyrus config directory."""
    etc = tmp_path / "etc"
    sasl = etc / "sasl"
    sasl.mkdir(parents=True, exist_ok=True)
    (sasl / "smtpd.conf").write_text(smtpd_conf)
    (etc / "main.cf").write_text(f"""\
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {sasl}
smtpd_sasl_local_domain = {REALM}
smtp_sasl_security_options = noanonymous
{extra}""")
    return etc


def probe(etc, *args):
    assert PROBE.exists(), f"{PROBE} is not built"
    return run([PROBE, "-c", etc] + list(args))


@pytest.fixture
def sasldb(tmp_path):
    db = tmp_path / "sasldb2"
    make_sasldb(db, {"alice": "secret"})
    return db


@pytest.fixture
def auxprop_etc(tmp_path, sasldb):
    return configure(tmp_path, f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                               f"sasldb_path: {sasldb}\nmech_list: PLAIN LOGIN CRAM-MD5\n")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auxprop_sasldb(auxprop_etc, mech):
    good = probe(auxprop_etc, "auth", mech, "alice", "secret")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "mechanisms: PLAIN LOGIN CRAM-MD5" in good.stdout
    assert f"result: success user=alice@{REALM}" in good.stdout
    bad = probe(auxprop_etc, "auth", mech, "alice", "wrong")
    assert bad.returncode == 1, bad.stdout
    assert "temporary=no malformed=no reason=authentication failure" in bad.stdout
    assert "reply: 535 5.7.8 Error: authentication failed: authentication failure" in bad.stdout
    if mech == "PLAIN":  # Cyrus's LOGIN plugin does not log
        assert "warning: SASL authentication failure: Password verification failed" in bad.stderr
    assert f"failed user: alice@{REALM}" in bad.stdout  # for the log's sasl_username=


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_cyrus_client_to_cyrus_server(auxprop_etc, mech):
    good = probe(auxprop_etc, "--cyrus-client", "auth", mech, "alice", "secret")
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"mechanism: {mech}" in good.stdout
    bad = probe(auxprop_etc, "--cyrus-client", "auth", mech, "alice", "wrong")
    assert bad.returncode == 1, bad.stdout


def test_client_default_options_refuse_plaintext(tmp_path, sasldb):
    etc = configure(tmp_path, f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                              f"sasldb_path: {sasldb}\nmech_list: PLAIN LOGIN\n",
                    extra="smtp_sasl_security_options = noplaintext, noanonymous\n")
    r = probe(etc, "--cyrus-client", "auth", "PLAIN", "alice", "secret")
    assert r.returncode == 4, r.stdout
    assert "cannot authenticate" in r.stdout


def test_server_security_options(auxprop_etc):
    with open(auxprop_etc / "main.cf", "a") as f:
        f.write("smtpd_sasl_security_options = noanonymous, noplaintext\n")
    r = probe(auxprop_etc, "mechs")
    assert r.stdout.strip() == "mechanisms: CRAM-MD5", r.stdout


def test_app_name_selects_config_file(auxprop_etc):
    # smtpd_sasl_path names the application, so other.conf is read instead.
    sasl = auxprop_etc / "sasl"
    (sasl / "other.conf").write_text((sasl / "smtpd.conf").read_text().replace(
        "mech_list: PLAIN LOGIN CRAM-MD5", "mech_list: LOGIN"))
    r = probe(auxprop_etc, "-o", "smtpd_sasl_path=other", "mechs")
    assert r.stdout.strip() == "mechanisms: LOGIN", r.stdout


class Saslauthd:
    """saslauthd -a sasldb in the foreground, in a private mount namespace
    where our sasldb is bind-mounted over /etc/sasldb2 (saslauthd's sasldb
    module only reads that fixed path)."""

    def __init__(self, tmp_path, db):
        if os.geteuid() != 0:
            pytest.skip("saslauthd with a private sasldb needs root (mount namespace)")
        for tool in ("saslauthd", "unshare", "mount"):
            if not shutil.which(tool) and not pathlib.Path(f"/usr/sbin/{tool}").exists():
                pytest.skip(f"{tool} is not installed")
        self.created_target = False
        target = pathlib.Path("/etc/sasldb2")
        if not target.exists():
            target.touch(mode=0o640)  # a mount point only; removed in stop()
            self.created_target = True
        self.mux_dir = tmp_path / "mux"
        self.mux_dir.mkdir()
        self.mux = self.mux_dir / "mux"
        self.log = tmp_path / "saslauthd.log"
        # -n 0: one short-lived process per request, so stopping the
        # master (its own process group) leaves nothing behind.
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 f'mount --bind "{db}" /etc/sasldb2 && exec saslauthd -a sasldb -m "{self.mux_dir}" -d -n 0'],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + 10
        while not self.mux.exists() and time.monotonic() < end and self.proc.poll() is None:
            time.sleep(0.05)
        if not self.mux.exists():
            out = self.stop()
            pytest.skip(f"saslauthd could not be started here: {out}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group we started
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        out = self.log.read_text()
        if self.created_target:
            pathlib.Path("/etc/sasldb2").unlink(missing_ok=True)
            self.created_target = False
        return out


@pytest.fixture
def saslauthd(tmp_path, sasldb):
    d = Saslauthd(tmp_path, sasldb)
    yield d
    d.stop()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_saslauthd(tmp_path, saslauthd, mech):
    etc = configure(tmp_path, f"pwcheck_method: saslauthd\nsaslauthd_path: {saslauthd.mux}\n"
                              "mech_list: PLAIN LOGIN\n")
    good = probe(etc, "auth", mech, "alice", "secret")
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"result: success user=alice@{REALM}" in good.stdout
    bad = probe(etc, "auth", mech, "alice", "wrong")
    assert bad.returncode == 1, bad.stdout
    assert "temporary=no" in bad.stdout


def test_saslauthd_down_is_temporary(tmp_path):
    etc = configure(tmp_path, f"pwcheck_method: saslauthd\nsaslauthd_path: {tmp_path}/no-mux\n"
                              "mech_list: PLAIN LOGIN\n")
    r = probe(etc, "auth", "PLAIN", "alice", "secret")
    assert r.returncode == 2, r.stdout
    # Postfix answers this with "454 4.7.0 Temporary authentication failure: generic failure".
    assert "temporary=yes malformed=no reason=generic failure" in r.stdout
    assert "reply: 454 4.7.0 Temporary authentication failure: generic failure" in r.stdout
    assert "warning: SASL authentication failure: cannot connect to saslauthd server" in r.stderr


def test_replies_as_postfix_gives_them(auxprop_etc):
    """Replies Debian's Postfix gives with Cyrus for the same input (recorded by hand)."""
    r = probe(auxprop_etc, "--initial", "!!!!", "auth", "PLAIN", "alice", "secret")
    assert "reply: 535 5.7.8 Error: authentication failed: bad protocol / cancel" in r.stdout, r.stdout
    r = probe(auxprop_etc, "auth", "FOO", "alice", "secret")
    assert "reply: 535 5.7.8 Error: authentication failed: no mechanism available" in r.stdout, r.stdout
