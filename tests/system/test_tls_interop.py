# ctest-timeout: 900
"""postern_tls against other implementations, through tests/tools/tls-probe:
openssl s_client -starttls smtp, Python's ssl and smtplib against our
server; our client against openssl s_server; the summary log line compared
with Debian's Postfix for the same handshake."""
import os
import pathlib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import postfix_oracle
from conftest import BIN, SOURCE, run

PROBE = BIN.parent / "tests" / "tls-probe"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    r = run(["sh", SOURCE / "tests/unit/tls/make_certs.sh", d])
    assert r.returncode == 0, r.stderr
    return d


class Server:
    """tls-probe server on a free port; stderr (the log) into a file."""

    def __init__(self, tmp_path, *opts):
        assert PROBE.exists(), f"{PROBE} is not built"
        self.logfile = tmp_path / f"probe-{time.monotonic_ns()}.log"
        argv = [str(PROBE)]
        for o in opts:
            argv += ["-o", o]
        self.err = open(self.logfile, "w")
        self.proc = subprocess.Popen(argv + ["server", "0"], stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            raise AssertionError(f"tls-probe did not start: {self.log()}")
        self.port = int(line.split()[1])

    def log(self):
        return self.logfile.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.err.close()


@pytest.fixture
def server(tmp_path, certs):
    started = []

    def start(*extra, level="may"):
        s = Server(tmp_path, f"smtpd_tls_security_level={level}",
                   f"smtpd_tls_cert_file={certs}/server-rsa.pem",
                   f"smtpd_tls_key_file={certs}/server-rsa.key",
                   "smtpd_tls_loglevel=1", *extra)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def s_client(port, *args, send="NOOP\nQUIT\n"):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet",
                           *args], input=send, capture_output=True, text=True, timeout=30)


def wait_for(predicate, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


SUMMARY = re.compile(r"(\w+) TLS connection established from [^:]+: (.*)$", re.M)


def test_openssl_starttls(server):
    s = server()
    r = s_client(s.port, "-starttls", "smtp")
    assert "250 2.0.0 Ok tls" in r.stdout, r.stdout + r.stderr
    assert wait_for(lambda: "TLS connection established" in s.log())
    m = SUMMARY.search(s.log())
    assert m.group(1) == "Anonymous"
    assert re.match(r"TLSv1\.3 with cipher TLS_\w+ \(\d+/\d+ bits\)", m.group(2)), m.group(2)


def test_python_smtplib_starttls(server, certs):
    s = server()
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with smtplib.SMTP("127.0.0.1", s.port, timeout=10) as smtp:
        smtp.ehlo("client.example")
        assert smtp.has_extn("starttls")
        # the certificate names mail.example.com, not 127.0.0.1
        smtp._host = "mail.example.com"
        smtp.starttls(context=ctx)
        assert smtp.sock.version() == "TLSv1.3"
        assert smtp.noop() == (250, b"2.0.0 Ok tls")


def test_implicit_tls_wrappermode(server, certs):
    s = server("smtpd_tls_wrappermode=yes")
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="mail.example.com") as tls:
            assert tls.recv(100).startswith(b"220 probe ESMTP")


def test_ecdsa_and_rsa_from_chain_files(server, certs):
    s = server(f"smtpd_tls_chain_files={certs}/server-chain.pem", "smtpd_tls_cert_file=",
               "smtpd_tls_key_file=")
    # TLS 1.3: the client's signature algorithms pick the certificate.
    for sigalg, expect in (("ecdsa_secp256r1_sha256", "server-signature ECDSA (P-256)"),
                           ("rsa_pss_rsae_sha256", "server-signature RSA-PSS (2048 bits)")):
        before = s.log().count("established")
        r = s_client(s.port, "-starttls", "smtp", "-sigalgs", sigalg)
        assert "250 2.0.0 Ok tls" in r.stdout, r.stderr
        assert wait_for(lambda: s.log().count("established") > before), s.log()
        assert expect in s.log().splitlines()[-1], s.log()
    # TLS 1.2: the cipher suite does.
    for cipher in ("ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"):
        r = s_client(s.port, "-starttls", "smtp", "-tls1_2", "-cipher", cipher)
        assert "250 2.0.0 Ok tls" in r.stdout, r.stderr
        assert wait_for(lambda: f"TLSv1.2 with cipher {cipher} (256/256 bits)" in s.log()), s.log()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_protocols_refused_when_configured(server):
    s = server("smtpd_tls_protocols=>=TLSv1.2", "smtpd_tls_mandatory_protocols=>=TLSv1.2")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with smtplib.SMTP("127.0.0.1", s.port, timeout=10) as smtp:
        smtp.ehlo()
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            smtp.starttls(context=ctx)
    assert wait_for(lambda: "SSL_accept error from localhost[127.0.0.1]: -1" in s.log()), s.log()
    assert "warning: TLS library problem: error:0A000102:SSL routines::unsupported protocol:" in s.log()
    # And an upper bound is honoured too.
    s12 = server("smtpd_tls_protocols=<=TLSv1.2")
    ctx2 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx2.check_hostname = False
    ctx2.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", s12.port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.starttls(context=ctx2)
        assert smtp.sock.version() == "TLSv1.2"


def test_client_certificate_is_trusted(server, certs):
    s = server("smtpd_tls_ask_ccert=yes", f"smtpd_tls_CAfile={certs}/ca.pem", "smtpd_tls_loglevel=2")
    r = s_client(s.port, "-starttls", "smtp", "-cert", certs / "client.pem", "-key", certs / "client.key")
    assert "250 2.0.0 Ok tls" in r.stdout, r.stderr
    assert wait_for(lambda: "Trusted TLS connection established from" in s.log()), s.log()
    assert "localhost[127.0.0.1]: subject_CN=client.example.com, issuer=Postern Test CA, fingerprint=" in s.log()


def test_handshake_stall_times_out(server):
    s = server("smtpd_starttls_timeout=1s")
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        f = c.makefile("rb")
        f.readline()
        c.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"220 2.0.0")
        # ... and never send a ClientHello.
        assert wait_for(lambda: "SSL_accept error from localhost[127.0.0.1]: Connection timed out"
                        in s.log(), timeout=15), s.log()
    # The server is still serving.
    assert "250 2.0.0 Ok tls" in s_client(s.port, "-starttls", "smtp").stdout


def test_missing_key_names_the_file(tmp_path, certs):
    r = run([PROBE, "-o", "smtpd_tls_security_level=may", "-o", f"smtpd_tls_cert_file={certs}/server-rsa.pem",
             "-o", f"smtpd_tls_key_file={tmp_path}/missing.key", "server", "0"])
    assert r.returncode == 1
    # Debian's Postfix says the same, then "TLS library problem" details.
    assert f'warning: cannot get RSA private key from file "{tmp_path}/missing.key": disabling TLS support' \
        in r.stderr, r.stderr
    assert "warning: TLS library problem: " in r.stderr


@pytest.fixture
def s_server(certs):
    """openssl s_server (plain TLS, no SMTP) serving until the test ends."""
    procs = []

    def start(cert="server-rsa"):
        port = postfix_oracle.free_port()
        p = subprocess.Popen(["openssl", "s_server", "-accept", str(port), "-cert", certs / f"{cert}.pem",
                              "-key", certs / f"{cert}.key", "-quiet"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        postfix_oracle.wait_for_port(port)
        return port

    yield start
    for p in procs:
        p.kill()
        p.wait()


def client(port, *opts, name="mail.example.com", nexthop="example.com"):
    argv = [PROBE, "-o", "smtp_tls_wrappermode=yes", "-o", "compatibility_level=3.7"]
    for o in opts:
        argv += ["-o", o]
    return run(argv + ["client", "127.0.0.1", str(port), name, nexthop])


def test_our_client_verifies_openssl_server(s_server, certs):
    r = client(s_server(), "smtp_tls_security_level=verify", f"smtp_tls_CAfile={certs}/ca.pem")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "trust: Verified" in r.stdout
    r = client(s_server(), "smtp_tls_security_level=verify", f"smtp_tls_CAfile={certs}/ca.pem",
               name="mx.elsewhere.org")
    assert r.returncode == 1 and "tls failed: Server certificate not verified" in r.stdout, r.stdout
    assert "num=62:hostname mismatch" in r.stderr
    r = client(s_server("rogue"), "smtp_tls_security_level=secure", f"smtp_tls_CAfile={certs}/ca.pem")
    assert r.returncode == 1 and "untrusted issuer /CN=Other CA" in r.stderr, r.stderr
    fpr = (certs / "server-rsa.fpr").read_text().strip()
    r = client(s_server(), "smtp_tls_security_level=fingerprint", f"smtp_tls_fingerprint_cert_match={fpr}")
    assert r.returncode == 0 and "trust: Verified" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(not postfix_oracle.available(), reason="Debian's Postfix (as root) is needed")
@pytest.mark.parametrize("client_cert,extra", [
    (None, []), ("client", []), ("rogue", []),
    (None, ["-groups", "P-256"]),
    (None, ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]),
    (None, ["-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384"]),
])
def test_summary_line_matches_postfix(request, server, certs, client_cert, extra):
    # Postfix's smtpd reads the key as root, but the directory must be
    # reachable; the tmp_path_factory parents may be 0700.
    pki = pathlib.Path(tempfile.mkdtemp(prefix="postern-tls-pki-"))
    request.addfinalizer(lambda: shutil.rmtree(pki, ignore_errors=True))
    pki.chmod(0o755)
    for f in certs.iterdir():
        if f.is_file():
            shutil.copy(f, pki / f.name)
    certs = pki
    params = dict(smtpd_tls_security_level="may", smtpd_tls_cert_file=f"{certs}/server-rsa.pem",
                  smtpd_tls_key_file=f"{certs}/server-rsa.key", smtpd_tls_loglevel=1)
    client_args = ["-starttls", "smtp", *extra]
    if client_cert:
        params.update(smtpd_tls_ask_ccert="yes", smtpd_tls_CAfile=f"{certs}/ca.pem")
        client_args += ["-cert", certs / f"{client_cert}.pem", "-key", certs / f"{client_cert}.key"]
    port = postfix_oracle.free_port()
    # Not under tmp_path: every pytest session that starts resets
    # /tmp/pytest-of-root to 0700, which locks the postfix user out.
    base = pathlib.Path(tempfile.mkdtemp(prefix="postern-tls-oracle-"))
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    with postfix_oracle.PostfixInstance(base, port) as pf:
        pf.set_main(**params)
        try:
            pf.start()
        except RuntimeError as e:
            pytest.fail(f"{e}\n{pf.log()}")
        r = s_client(port, *client_args)
        assert "250" in r.stdout, r.stdout + r.stderr
        assert wait_for(lambda: "TLS connection established" in pf.log()), pf.log()
        theirs = SUMMARY.search(pf.log())
    ours_server = server(*[f"{k}={v}" for k, v in params.items()])
    s_client(ours_server.port, *client_args)
    assert wait_for(lambda: "TLS connection established" in ours_server.log())
    ours = SUMMARY.search(ours_server.log())
    assert ours.group(1) == theirs.group(1)
    assert ours.group(2) == theirs.group(2)


CLIENT_SUMMARY = re.compile(r"(\w+) TLS connection established to [^:]+:\d+: (.*)$", re.M)


WRONG_FPR = ":".join(["AB"] * 32)
FAILED = re.compile(r"certificate verification failed for [^:]+:\d+: (.*)$", re.M)


@pytest.mark.skipif(not postfix_oracle.available(), reason="Debian's Postfix (as root) is needed")
@pytest.mark.parametrize("level,ca,server_extra,match", [
    ("may", False, [], "hostname"),
    ("encrypt", True, [], "hostname"),
    ("may", True, ["smtpd_tls_protocols=<=TLSv1.2"], "hostname"),
    ("verify", True, [], "mail.example.com"),
    ("verify", True, [], "other.example"),      # name mismatch
    ("verify", False, [], "mail.example.com"),  # untrusted issuer
    ("fingerprint", False, [], "hostname"),     # wrong fingerprint
])
def test_client_lines_match_postfix(request, server, certs, level, ca, server_extra, match):
    """Postfix's smtp client and ours, each against our probe server: the
    summary line, the verification failure line and the deferral reason."""
    s = server(*server_extra)
    pki = pathlib.Path(tempfile.mkdtemp(prefix="postern-tls-pki-"))
    request.addfinalizer(lambda: shutil.rmtree(pki, ignore_errors=True))
    pki.chmod(0o755)
    shutil.copy(certs / "ca.pem", pki / "ca.pem")
    (pki / "ca.pem").chmod(0o644)
    params = {"smtp_tls_security_level": level, "smtp_tls_loglevel": 1,
              "smtp_tls_verify_cert_match": match, "smtp_tls_fingerprint_cert_match": WRONG_FPR}
    if ca:
        params["smtp_tls_CAfile"] = f"{pki}/ca.pem"
    base = pathlib.Path(tempfile.mkdtemp(prefix="postern-tls-oracle-"))
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    port = postfix_oracle.free_port()
    with postfix_oracle.PostfixInstance(base, port) as pf:
        pf.set_main(relayhost=f"[127.0.0.1]:{s.port}", **params)
        try:
            pf.start()
        except RuntimeError as e:
            pytest.fail(f"{e}\n{pf.log()}")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("a@example.com", ["b@example.org"], "Subject: t\n\nhi\n")
        assert wait_for(lambda: "TLS connection established to" in pf.log(), timeout=60), pf.log()
        assert wait_for(lambda: "status=" in pf.log(), timeout=60), pf.log()
        theirs_log = pf.log()
    r = client(s.port, *[f"{k}={v}" for k, v in params.items()], "smtp_tls_wrappermode=no",
               name="127.0.0.1", nexthop="127.0.0.1")
    theirs = CLIENT_SUMMARY.search(theirs_log)
    ours = CLIENT_SUMMARY.search(r.stderr)
    assert ours, r.stdout + r.stderr
    assert (ours.group(1), ours.group(2)) == (theirs.group(1), theirs.group(2))
    their_failure = FAILED.search(theirs_log)
    our_failure = FAILED.search(r.stderr)
    assert (our_failure and our_failure.group(0)) == (their_failure and their_failure.group(0))
    if "status=deferred (Server certificate not verified)" in theirs_log:
        assert r.returncode == 1 and "tls failed: Server certificate not verified" in r.stdout
    else:
        assert r.returncode == 0, r.stdout + r.stderr
