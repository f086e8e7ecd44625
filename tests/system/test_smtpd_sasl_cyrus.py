# ctest-timeout: 180
"""smtpd with smtpd_sasl_type = cyrus against a real sasldb built with
saslpasswd2 (user alice in realm example.com, found through
smtpd_sasl_local_domain), driven by swaks --tls --auth over STARTTLS and
implicit TLS: relaying is allowed only after AUTH."""
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from conftest import SOURCE, run
from instance import free_port, wait_until
from smtpd_helpers import _port_open, smtpd_instance


def swaks(*args):
    return subprocess.run(["swaks", "--server", "127.0.0.1", "--helo", "client.example",
                           "--from", "alice@example.com", "--timeout", "30", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cyrus_dir():
    if not shutil.which("saslpasswd2"):
        pytest.skip("saslpasswd2 (sasl2-bin) is not installed")
    r = subprocess.run(["swaks", "--support"], capture_output=True, text=True)
    if "TLS supported" not in r.stdout + r.stderr:
        pytest.skip("swaks without TLS (libnet-ssleay-perl)")
    # smtpd reads the sasldb as mail_owner: not under pytest's 0700 tree.
    d = pathlib.Path(tempfile.mkdtemp(prefix="postern-cyrus-"))
    d.chmod(0o755)
    db = d / "sasldb2"
    r = subprocess.run(["saslpasswd2", "-f", str(db), "-p", "-c", "-u", "example.com", "alice"],
                       input="secret\n", text=True, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    db.chmod(0o644)
    (d / "smtpd.conf").write_text(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                                  f"sasldb_path: {db}\nmech_list: PLAIN LOGIN\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_swaks_tls_auth_cyrus(tmp_path, cyrus_dir):
    pki = tmp_path / "pki"
    pki.mkdir()
    r = run(["sh", SOURCE / "tests/unit/tls/make_certs.sh", pki])
    assert r.returncode == 0, r.stderr
    port465 = free_port()
    extra = f"127.0.0.1:{port465} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n"
    i = smtpd_instance(tmp_path, master_extra=extra, smtpd_tls_security_level="may",
                       smtpd_tls_cert_file=str(pki / "server-rsa.pem"),
                       smtpd_tls_key_file=str(pki / "server-rsa.key"),
                       smtpd_sasl_auth_enable="yes", smtpd_sasl_type="cyrus",
                       smtpd_sasl_path="smtpd", cyrus_sasl_config_path=str(cyrus_dir),
                       smtpd_sasl_local_domain="example.com", smtpd_tls_auth_only="yes",
                       smtpd_relay_restrictions="permit_sasl_authenticated, reject_unauth_destination")
    try:
        wait_until(lambda: _port_open(port465), 10, what="port 465")
        # Without AUTH: relay denied.
        r = swaks("--port", str(i.port), "--tls", "--to", "x@elsewhere.example")
        assert "Relay access denied" in r.stdout, r.stdout
        for mech in ("PLAIN", "LOGIN"):
            r = swaks("--port", str(i.port), "--tls", "--auth", mech, "--auth-user", "alice",
                      "--auth-password", "secret", "--to", "x@elsewhere.example")
            assert r.returncode == 0, r.stdout + r.stderr
            assert "235 2.7.0 Authentication successful" in r.stdout
        r = swaks("--port", str(i.port), "--tls", "--auth", "PLAIN", "--auth-user", "alice",
                  "--auth-password", "wrong", "--to", "x@elsewhere.example")
        assert "535 5.7.8 Error: authentication failed: authentication failure" in r.stdout, r.stdout
        # Implicit TLS (port 465).
        r = swaks("--port", str(port465), "--tlsc", "--auth", "PLAIN", "--auth-user", "alice",
                  "--auth-password", "secret", "--to", "y@elsewhere.example")
        assert r.returncode == 0, r.stdout + r.stderr
        records = [m["records"] for m in i.cleanup.messages]
        assert len(records) == 3
        # The name as Cyrus reports it (with smtpd_sasl_local_domain's realm).
        for rec in records:
            assert b"sasl_username=alice@example.com" in [d for t, d in rec if t == "A"]
        i.wait_for_log(r"warning: SASL authentication failure: Password verification failed")
    finally:
        if i.cleanup:
            i.cleanup.close()
        i.stop()
