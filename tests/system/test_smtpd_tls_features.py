# ctest-timeout: 300
"""smtpd TLS features: client certificates (ask/require,
permit_tls_clientcerts with relay_clientcerts, permit_tls_all_clientcerts,
check_ccert_access by fingerprint), smtpd_tls_received_header, session
tickets shared through tlsmgr (resumption across smtpd processes),
tls_server_sni_maps, smtpd_client_new_tls_session_rate_limit through anvil,
and a missing certificate at "encrypt"."""
import pathlib
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile

import pytest

from conftest import BIN, SOURCE, run
from smtpd_helpers import Client, smtpd_instance


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    r = run(["sh", SOURCE / "tests/unit/tls/make_certs.sh", d])
    assert r.returncode == 0, r.stderr
    return d


def fingerprint(pem):
    out = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def tls_main(certs, **extra):
    return {**dict(smtpd_tls_security_level="may",
                   smtpd_tls_cert_file=str(certs / "server-rsa.pem"),
                   smtpd_tls_key_file=str(certs / "server-rsa.key"),
                   smtpd_tls_CAfile=str(certs / "ca.pem"),
                   smtpd_tls_fingerprint_digest="sha256"), **extra}


def context(certs, client=None, session_cache=False):
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.check_hostname = False
    if client:
        ctx.load_cert_chain(str(certs / f"{client}.pem"), str(certs / f"{client}.key"))
    return ctx


class TlsClient:
    """Client that has done EHLO + STARTTLS (+ EHLO again)."""

    def __init__(self, port, ctx, server_hostname="mail.example.com", session=None):
        self.c = Client(port)
        self.c.cmd("EHLO client.example")
        assert self.c.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        self.s = ctx.wrap_socket(self.c.s, server_hostname=server_hostname, session=session)
        self.c.s = self.s
        self.c.send("EHLO client.example")
        self.ehlo = self.c.reply()

    def cmd(self, line):
        return self.c.cmd(line)

    def close(self):
        self.s.close()


def stop(i):
    if i.cleanup:
        i.cleanup.close()
    i.stop()


def test_client_certificates(tmp_path, certs):
    fpr = fingerprint(certs / "client.pem")
    relay = tmp_path / "relay_clientcerts"
    relay.write_text(f"{fpr} client.example.com\n")
    i = smtpd_instance(tmp_path, **tls_main(
        certs, smtpd_tls_ask_ccert="yes", relay_clientcerts=f"texthash:{relay}",
        smtpd_tls_received_header="yes", smtpd_tls_loglevel="1",
        smtpd_relay_restrictions="permit_tls_clientcerts, reject_unauth_destination"))
    try:
        c = TlsClient(i.port, context(certs, "client"))
        c.cmd("MAIL FROM:<s@example.com>")
        assert c.cmd("RCPT TO:<x@elsewhere.example>").startswith("250")
        c.cmd("DATA")
        assert c.cmd("Subject: t\r\n\r\nhi\r\n.").startswith("250")
        c.close()
        msg = i.cleanup.messages[-1]
        text = [d.decode() for t, d in msg["records"] if t == "N"]
        received = text[:text.index(next(l for l in text if l.startswith("\tby ")))]
        # Debian's Postfix wrote these lines for the same client and certificates.
        assert received[1:] == [
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
            "\t client-signature RSA-PSS (2048 bits) client-digest SHA256)",
            '\t(Client CN "client.example.com", Issuer "Postern Test CA" (verified OK))'], received
        assert "with ESMTPS id" in " ".join(text)
        i.wait_for_log(r"Trusted TLS connection established from \S+: TLSv1\.3 with cipher .* "
                       r"client-signature RSA-PSS \(2048 bits\) client-digest SHA256")
        # Without a certificate: no relaying.
        c = TlsClient(i.port, context(certs))
        c.cmd("MAIL FROM:<s@example.com>")
        assert "Relay access denied" in c.cmd("RCPT TO:<x@elsewhere.example>")
        c.close()
    finally:
        stop(i)


def test_all_clientcerts_and_ccert_access(tmp_path, certs):
    fpr = fingerprint(certs / "client.pem")
    access = tmp_path / "ccert_access"
    access.write_text(f"{fpr} REJECT certificate revoked\n")
    i = smtpd_instance(tmp_path, **tls_main(
        certs, smtpd_tls_ask_ccert="yes",
        smtpd_client_restrictions=f"check_ccert_access texthash:{access}",
        smtpd_relay_restrictions="permit_tls_all_clientcerts, reject_unauth_destination"))
    try:
        c = TlsClient(i.port, context(certs, "client"))
        c.cmd("MAIL FROM:<s@example.com>")
        r = c.cmd("RCPT TO:<x@elsewhere.example>")
        # As Debian's Postfix words it (checked side by side).
        assert r == "554 5.7.1 <client.example.com>: Client certificate rejected: certificate revoked"
        c.close()
        # A certificate from another CA is not trusted: no relaying, no reject.
        c = TlsClient(i.port, context(certs, "rogue"))
        c.cmd("MAIL FROM:<s@example.com>")
        assert "Relay access denied" in c.cmd("RCPT TO:<x@elsewhere.example>")
        c.close()
    finally:
        stop(i)


def test_all_clientcerts_permit(tmp_path, certs):
    i = smtpd_instance(tmp_path, **tls_main(
        certs, smtpd_tls_ask_ccert="yes", smtpd_tls_received_header="yes",
        smtpd_relay_restrictions="permit_tls_all_clientcerts, reject_unauth_destination"))
    try:
        c = TlsClient(i.port, context(certs, "client"))
        c.cmd("MAIL FROM:<s@example.com>")
        assert c.cmd("RCPT TO:<x@elsewhere.example>").startswith("250")
        c.close()
    finally:
        stop(i)


def test_require_ccert(tmp_path, certs):
    i = smtpd_instance(tmp_path, **tls_main(certs, smtpd_tls_security_level="encrypt",
                                            smtpd_tls_req_ccert="yes"))
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            c = TlsClient(i.port, context(certs))
            c.cmd("MAIL FROM:<s@example.com>")
        c = TlsClient(i.port, context(certs, "client"))
        assert c.cmd("MAIL FROM:<s@example.com>") == "250 2.1.0 Ok"
        c.close()
    finally:
        stop(i)


def test_received_header_without_ccert(tmp_path, certs):
    i = smtpd_instance(tmp_path, **tls_main(certs, smtpd_tls_received_header="yes"))
    try:
        c = TlsClient(i.port, context(certs))
        c.cmd("MAIL FROM:<s@example.com>")
        c.cmd("RCPT TO:<u@oracle.test>")
        c.cmd("DATA")
        assert c.cmd("Subject: t\r\n\r\nhi\r\n.").startswith("250")
        c.close()
        text = [d.decode() for t, d in i.cleanup.messages[-1]["records"] if t == "N"]
        assert text[0].startswith("Received: from client.example (")
        assert text[1].startswith("\t(using TLSv1.3 with cipher TLS_")
        assert text[2].startswith("\t key-exchange ")
        assert text[3] == "\t(No client certificate requested)"
        assert re.match(r"\tby postfix\.oracle\.test \(\w+\) with ESMTPS id ", text[4]), text
    finally:
        stop(i)


def resumed(port, certs, tls12_session_id=False):
    """Two connections at once (so two smtpd processes); True when the
    second resumed the first's session. `tls12_session_id`: TLS 1.2 without
    tickets, so only a session ID can be resumed."""
    ctx = context(certs)
    if tls12_session_id:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
    first = TlsClient(port, ctx)
    session = first.s.session
    second = TlsClient(port, ctx, session=session)
    reused = second.s.session_reused
    first.close()
    second.close()
    return reused


def test_tlsmgr_shares_tickets(tmp_path, certs):
    i = smtpd_instance(tmp_path, master_extra="tlsmgr unix - - n 1000? 1 tlsmgr\n",
                       **tls_main(certs))
    try:
        assert resumed(i.port, certs)
    finally:
        stop(i)


def test_session_cache_database_through_tlsmgr(tmp_path, certs):
    """smtpd_tls_session_cache_database: a TLS 1.2 client that resumes by
    session ID (no tickets) resumes on another smtpd process; without the
    parameter it does not."""
    i = smtpd_instance(tmp_path, master_extra="tlsmgr unix - - n 1000? 1 tlsmgr\n",
                       **tls_main(certs, smtpd_tls_session_cache_database=
                                  "btree:${data_directory}/smtpd_scache"))
    try:
        assert resumed(i.port, certs, tls12_session_id=True)
        assert resumed(i.port, certs)  # tickets still work
    finally:
        stop(i)
    (tmp_path / "other").mkdir()
    i = smtpd_instance(tmp_path / "other", master_extra="tlsmgr unix - - n 1000? 1 tlsmgr\n",
                       **tls_main(certs))
    try:
        assert not resumed(i.port, certs, tls12_session_id=True)
    finally:
        stop(i)


def test_without_tlsmgr_no_resumption_across_processes(tmp_path, certs):
    i = smtpd_instance(tmp_path, **tls_main(certs))
    try:
        assert not resumed(i.port, certs)
    finally:
        stop(i)


def test_sni_maps(tmp_path, certs):
    # smtpd reads the table as mail_owner: not under pytest's 0700 tree.
    shared = pathlib.Path(tempfile.mkdtemp(prefix="postern-sni-"))
    shared.chmod(0o755)
    sni = shared / "sni"
    sni.write_text(f"other.example {certs / 'rogue.key'} {certs / 'rogue.pem'}\n"
                   f".sub.example {certs / 'server-ec.key'} {certs / 'server-ec.pem'}\n")
    conf = tmp_path / "postmap-conf"
    conf.mkdir()
    (conf / "main.cf").write_text("")
    r = run([BIN / "postmap", "-c", conf, "-F", f"lmdb:{sni}"])
    assert r.returncode == 0, r.stderr
    i = smtpd_instance(tmp_path, **tls_main(certs, tls_server_sni_maps=f"lmdb:{sni}"))
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        def issuer_and_key(name):
            c = TlsClient(i.port, ctx, server_hostname=name)
            der = c.s.getpeercert(binary_form=True)
            c.close()
            out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-issuer",
                                  "-text"], input=der, capture_output=True, check=True).stdout
            return out.decode()

        got = issuer_and_key("other.example")
        assert "Other CA" in got
        assert "Postern Test CA" in issuer_and_key("mail.example.com")
        assert "id-ecPublicKey" in issuer_and_key("mx.sub.example")
        assert "rsaEncryption" in issuer_and_key("unknown.example")
    finally:
        stop(i)
        shutil.rmtree(shared, ignore_errors=True)


def test_new_tls_session_rate_limit(tmp_path, certs):
    """As Debian's Postfix (checked side by side): the first new session
    over the limit completes its handshake and is then told 421 over TLS;
    after that STARTTLS itself is refused."""
    i = smtpd_instance(tmp_path, master_extra="anvil unix - - n - 1 anvil\n", **tls_main(
        certs, smtpd_client_new_tls_session_rate_limit="1",
        smtpd_client_event_limit_exceptions=""))
    try:
        c = TlsClient(i.port, context(certs))
        assert c.ehlo[0].startswith("250-")
        c.close()
        # The second new session: the server speaks first, after the handshake.
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert c.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        c.s = context(certs).wrap_socket(c.s, server_hostname="mail.example.com")
        assert re.fullmatch(r"421 4\.7\.0 postfix\.oracle\.test Error: too many new TLS sessions "
                            r"from \S+\[127\.0\.0\.1\]", c.reply()[0])
        c.close()
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert re.fullmatch(r"454 4\.7\.0 Error: too many new TLS sessions from \S+\[127\.0\.0\.1\]",
                            c.cmd("STARTTLS"))
        assert c.cmd("MAIL FROM:<s@example.com>") == "250 2.1.0 Ok"
        c.close()
        i.wait_for_log(r"warning: New TLS session rate limit exceeded: 2 from \S+\[127\.0\.0\.1\] "
                       r"for service 127\.0\.0\.1:\d+")
        i.wait_for_log(r"warning: Refusing STARTTLS request from \S+\[127\.0\.0\.1\] "
                       r"for service 127\.0\.0\.1:\d+")
    finally:
        stop(i)


def test_missing_certificate_at_encrypt(tmp_path, certs):
    i = smtpd_instance(tmp_path, smtpd_tls_security_level="encrypt",
                       smtpd_tls_cert_file=str(tmp_path / "missing.pem"),
                       smtpd_tls_key_file=str(tmp_path / "missing.key"))
    try:
        for _ in range(2):  # the service stays up: no crash loop
            c = Client(i.port)
            assert c.banner[-1].startswith("220 ")
            c.cmd("EHLO client.example")
            assert c.cmd("MAIL FROM:<s@example.com>") == \
                "454 4.7.0 TLS not available due to local problem"
            assert c.cmd("STARTTLS") == "454 4.7.0 TLS not available due to local problem"
            c.close()
        i.wait_for_log(r'warning: cannot get RSA certificate from file "\S+missing\.pem": '
                       r"disabling TLS support")
    finally:
        stop(i)


def test_protocols_stall_and_pipelining(tmp_path, certs):
    i = smtpd_instance(tmp_path, **tls_main(
        certs, smtpd_tls_protocols="!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.2",
        smtpd_starttls_timeout="2s"))
    try:
        # TLS 1.0 to 1.2 are refused when the protocol list says so.
        for low, high in [(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1),
                          (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)]:
            ctx = context(certs)
            ctx.minimum_version, ctx.maximum_version = low, high
            if low < ssl.TLSVersion.TLSv1_2:
                ctx.set_ciphers("ALL:@SECLEVEL=0")
            with pytest.raises((ssl.SSLError, ConnectionError)):
                TlsClient(i.port, ctx)
        c = TlsClient(i.port, context(certs))
        assert c.s.version() == "TLSv1.3"
        c.close()
        i.wait_for_log(r"SSL_accept error from \S+\[127\.0\.0\.1\]: -1")
        # A client that stalls in the handshake is dropped after smtpd_starttls_timeout.
        c = Client(i.port, timeout=60)
        c.cmd("EHLO client.example")
        assert c.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        assert c.s.recv(100) == b""
        c.close()
        i.wait_for_log(r"SSL_accept error from \S+\[127\.0\.0\.1\]: Connection timed out")
        # Commands pipelined after STARTTLS are thrown away, not run after the handshake.
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\nRCPT TO:<u@oracle.test>\r\n")
        assert c.reply() == ["220 2.0.0 Ready to start TLS"]
        s = context(certs).wrap_socket(c.s, server_hostname="mail.example.com")
        s.sendall(b"EHLO again\r\nRCPT TO:<u@oracle.test>\r\n")
        data = b""
        while b"need MAIL" not in data:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        assert b"503 5.5.1 Error: need MAIL command" in data
        s.close()
    finally:
        stop(i)


def test_chain_files_rsa_and_ecdsa(tmp_path, certs):
    i = smtpd_instance(tmp_path, smtpd_tls_security_level="may",
                       smtpd_tls_chain_files=str(certs / "server-chain.pem"))
    try:
        for cipher, key in [("ECDHE-ECDSA-AES256-GCM-SHA384", "id-ecPublicKey"),
                            ("ECDHE-RSA-AES256-GCM-SHA384", "rsaEncryption")]:
            ctx = context(certs)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(cipher)
            c = TlsClient(i.port, ctx)
            assert c.s.cipher()[0] == cipher
            der = c.s.getpeercert(binary_form=True)
            c.close()
            text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text"],
                                  input=der, capture_output=True, check=True).stdout.decode()
            assert key in text
    finally:
        stop(i)
