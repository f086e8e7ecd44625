# ctest-timeout: 300
"""smtpd AUTH features beyond the basic exchange: sender login maps and the
reject_*_login_mismatch restrictions, AUTH=<> on MAIL FROM,
smtpd_sasl_exceptions_networks, smtpd_sasl_authenticated_header, the
warning line with sasl_username=, repeated failures, a Dovecot socket that
is down, and smtpd_client_auth_rate_limit through anvil. Against a real
Dovecot authentication service."""
import base64
import pathlib

import pytest

from smtpd_helpers import Client, smtpd_instance

ALICE = base64.b64encode(b"\0alice\0secret").decode()
ALICE_BAD = base64.b64encode(b"\0alice\0wrong").decode()


@pytest.fixture(scope="module")
def dovecot():
    from test_sasl_dovecot import Dovecot
    d = Dovecot()
    yield d
    d.cleanup()


def stop(i):
    if i.cleanup:
        i.cleanup.close()
    i.stop()


def sasl_main(dovecot, **extra):
    return dict(smtpd_sasl_auth_enable="yes", smtpd_sasl_type="dovecot",
                smtpd_sasl_path=str(dovecot.socket), **extra)


def login(c):
    c.send("EHLO client.example")
    lines = c.reply()
    assert c.cmd(f"AUTH PLAIN {ALICE}") == "235 2.7.0 Authentication successful"
    return lines


def test_sender_login_mismatch(tmp_path, dovecot):
    logins = tmp_path / "logins"
    logins.write_text("alice@example.com alice\n@shared.example bob, alice\n"
                      "bob@example.com bob\ndave alice\n")
    i = smtpd_instance(
        tmp_path, **sasl_main(
            dovecot, smtpd_sender_login_maps=f"texthash:{logins}",
            smtpd_sender_restrictions="reject_sender_login_mismatch",
            smtpd_relay_restrictions="permit_sasl_authenticated, reject_unauth_destination"))
    try:
        # Not logged in: a sender that has an owner is refused ...
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<bob@example.com>")
        assert c.cmd("RCPT TO:<u@oracle.test>") == \
            "553 5.7.1 <bob@example.com>: Sender address rejected: not logged in"
        c.cmd("RSET")
        # ... one without an owner is not.
        c.cmd("MAIL FROM:<nobody@else.example>")
        assert c.cmd("RCPT TO:<u@oracle.test>").startswith("250")
        c.close()
        c = Client(i.port)
        login(c)
        for sender, want in [("alice@example.com", "250"), ("x@shared.example", "250"),
                             ("ALICE@example.com", "250"),
                             # A bare user name owns that user in local domains only.
                             ("dave@oracle.test", "250"),
                             ("dave@else.example", "553 5.7.1 <dave@else.example>: Sender "
                                                   "address rejected: not owned by user alice"),
                             ("bob@example.com", "553 5.7.1 <bob@example.com>: Sender address "
                                                 "rejected: not owned by user alice"),
                             ("stranger@else.example", "553 5.7.1 <stranger@else.example>: "
                                                       "Sender address rejected: not owned by "
                                                       "user alice")]:
            c.cmd("RSET")
            c.cmd(f"MAIL FROM:<{sender}>")
            assert c.cmd("RCPT TO:<x@elsewhere.example>").startswith(want), sender
        c.close()
        i.wait_for_log(r"NOQUEUE: reject: RCPT from \S+: 553 5\.7\.1 <bob@example\.com>: "
                       r"Sender address rejected: not owned by user alice; from=<bob@example\.com>")
    finally:
        stop(i)


@pytest.mark.parametrize("restriction,unknown_ok,unauth_checked", [
    ("reject_known_sender_login_mismatch", True, True),
    ("reject_authenticated_sender_login_mismatch", False, False),
    ("reject_unauthenticated_sender_login_mismatch", False, True),
])
def test_login_mismatch_variants(tmp_path, dovecot, restriction, unknown_ok, unauth_checked):
    logins = tmp_path / "logins"
    logins.write_text("bob@example.com bob\n")
    i = smtpd_instance(tmp_path, **sasl_main(
        dovecot, smtpd_sender_login_maps=f"texthash:{logins}",
        smtpd_sender_restrictions=restriction))
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<bob@example.com>")
        r = c.cmd("RCPT TO:<u@oracle.test>")
        assert r.startswith("553" if unauth_checked else "250"), r
        c.close()
        c = Client(i.port)
        login(c)
        c.cmd("MAIL FROM:<stranger@else.example>")
        r = c.cmd("RCPT TO:<u@oracle.test>")
        authenticated_checked = restriction != "reject_unauthenticated_sender_login_mismatch"
        assert r.startswith("250" if unknown_ok or not authenticated_checked else "553"), r
        c.cmd("RSET")
        c.cmd("MAIL FROM:<bob@example.com>")
        r = c.cmd("RCPT TO:<u@oracle.test>")
        assert r.startswith("553" if authenticated_checked else "250"), r
        c.close()
    finally:
        stop(i)


def test_auth_param_header_and_log(tmp_path, dovecot):
    i = smtpd_instance(tmp_path, **sasl_main(dovecot, smtpd_sasl_authenticated_header="yes"))
    try:
        c = Client(i.port)
        login(c)
        # As Debian's Postfix: <> sets nothing, so only a second real one is refused.
        assert c.cmd("MAIL FROM:<alice@example.com> AUTH=x@y AUTH=<>") == \
            "503 5.5.4 Error: multiple AUTH= options"
        assert c.cmd("MAIL FROM:<alice@example.com> AUTH=<> AUTH=alice@example.com") == \
            "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<x@elsewhere.example>").startswith("250")
        c.cmd("DATA")
        assert c.cmd("Subject: t\r\n\r\nhi\r\n.").startswith("250")
        c.close()
        msg = i.cleanup.messages[-1]
        text = [d.decode() for t, d in msg["records"] if t == "N"]
        assert "\t(Authenticated sender: alice)" in text, text
        attrs = [d.decode() for t, d in msg["records"] if t == "A"]
        assert "sasl_sender=alice@example.com" in attrs
        assert "sasl_username=alice" in attrs
        i.wait_for_log(r"ABC\d+: client=\S+, sasl_method=PLAIN, sasl_username=alice, "
                       r"sasl_sender=alice@example\.com")
    finally:
        stop(i)


def test_auth_param_without_sasl(tmp_path):
    i = smtpd_instance(tmp_path)
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        # Accepted and ignored, as Debian's Postfix does.
        assert c.cmd("MAIL FROM:<a@example.com> AUTH=<>") == "250 2.1.0 Ok"
        c.close()
    finally:
        stop(i)


def test_exceptions_networks_and_failures(tmp_path, dovecot):
    i = smtpd_instance(tmp_path, **sasl_main(
        dovecot, smtpd_sasl_exceptions_networks="127.0.0.0/8", smtpd_soft_error_limit="2",
        smtpd_hard_error_limit="4", smtpd_error_sleep_time="0"))
    try:
        c = Client(i.port)
        c.send("EHLO client.example")
        lines = c.reply()
        assert not any("AUTH" in l for l in lines), lines
        # AUTH still works when asked for.
        for n in range(3):
            assert c.cmd(f"AUTH PLAIN {ALICE_BAD}").startswith("535 5.7.8 Error: authentication failed")
        # The fourth error ends the session.
        c.send(f"AUTH PLAIN {ALICE_BAD}")
        lines = c.reply()
        assert lines[0].startswith("535"), lines
        lines = c.reply()
        assert lines[0] == "421 4.7.0 postfix.oracle.test Error: too many errors", lines
        c.close()
        i.wait_for_log(r"warning: \S+\[127\.0\.0\.1\]: SASL PLAIN authentication failed: "
                       r".*, sasl_username=alice")
    finally:
        stop(i)


def test_broken_sasl_auth_clients_get_the_old_auth_line(tmp_path, dovecot):
    """broken_sasl_auth_clients = yes adds Outlook Express's "AUTH=" line with
    the same mechanisms, after the standard one."""
    i = smtpd_instance(tmp_path, **sasl_main(dovecot, broken_sasl_auth_clients="yes"))
    try:
        c = Client(i.port)
        c.send("EHLO client.example")
        lines = [l[4:] for l in c.reply()]
        std = [l for l in lines if l.startswith("AUTH ")]
        old = [l for l in lines if l.startswith("AUTH=")]
        assert len(std) == 1 and "PLAIN" in std[0].split(), lines
        assert old == ["AUTH=" + std[0][5:]], lines
        assert lines.index(old[0]) == lines.index(std[0]) + 1, lines
        c.close()
    finally:
        stop(i)
    (tmp_path / "default").mkdir()
    j = smtpd_instance(tmp_path / "default", **sasl_main(dovecot))
    try:
        c = Client(j.port)
        c.send("EHLO client.example")
        assert not any(l[4:].startswith("AUTH=") for l in c.reply())
        c.close()
    finally:
        stop(j)


def test_dovecot_socket_down(tmp_path):
    i = smtpd_instance(tmp_path, smtpd_sasl_auth_enable="yes", smtpd_sasl_type="dovecot",
                       smtpd_sasl_path=str(tmp_path / "no-such-socket"))
    try:
        c = Client(i.port)
        c.send("EHLO client.example")
        lines = c.reply()
        assert not any("AUTH" in l for l in lines), lines
        assert c.cmd(f"AUTH PLAIN {ALICE}").startswith("454 4.7.0 Temporary authentication failure")
        # Mail without AUTH still flows.
        assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
        c.close()
        i.wait_for_log(r"warning: SASL: Connect to Dovecot auth socket")
    finally:
        stop(i)


def test_auth_rate_limit(tmp_path, dovecot):
    extra = "anvil unix - - n - 1 anvil\n"
    i = smtpd_instance(tmp_path, master_extra=extra, **sasl_main(
        dovecot, smtpd_client_auth_rate_limit="2", smtpd_client_event_limit_exceptions="",
        smtpd_error_sleep_time="0"))
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert c.cmd(f"AUTH PLAIN {ALICE_BAD}").startswith("535")
        assert c.cmd(f"AUTH PLAIN {ALICE_BAD}").startswith("535")
        assert c.cmd(f"AUTH PLAIN {ALICE}") == \
            "450 4.7.1 Error: too many AUTH commands from 127.0.0.1"
        c.close()
        i.wait_for_log(r"warning: AUTH command rate limit exceeded: 3 from \S+\[127\.0\.0\.1\] "
                       r"for service 127\.0\.0\.1:\d+")
    finally:
        stop(i)


def test_long_response_star_and_bad_base64(tmp_path, dovecot):
    """Replies as Debian's Postfix gives them (checked side by side)."""
    i = smtpd_instance(tmp_path, **sasl_main(dovecot))
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
        assert c.cmd("A" * 13000) == "500 5.5.6 SASL response limit exceeded"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
        assert c.cmd("*") == "501 5.7.0 Authentication aborted"
        assert c.cmd("AUTH PLAIN") == "334 "
        assert c.cmd("!!notbase64") == \
            "535 5.7.8 Error: authentication failed: Invalid base64 data in continued response"
        assert c.cmd("AUTH PLAIN !!bad") == \
            "535 5.7.8 Error: authentication failed: Invalid base64 data in initial response"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        c.close()
        i.wait_for_log(r"warning: \S+\[127\.0\.0\.1\]: request longer than 12288: A{30}\.\.\.")
        i.wait_for_log(r"warning: \S+\[127\.0\.0\.1\]: SASL PLAIN authentication failed: Invalid "
                       r"base64 data in initial response, sasl_username=\(unavailable\)")
    finally:
        stop(i)


def test_postconf_lists_server_sasl_types(tmp_path):
    from conftest import BIN, run
    (tmp_path / "main.cf").write_text("")
    ours = run([BIN / "postconf", "-c", tmp_path, "-a"])
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.split() == ["cyrus", "dovecot"]
    import os
    if os.path.exists("/usr/sbin/postconf"):
        theirs = run(["/usr/sbin/postconf", "-a"])
        assert ours.stdout == theirs.stdout


SASL_SCRIPT = [
    "EHLO client.example",
    "MAIL FROM:<bob@example.com>", "RCPT TO:<u@oracle.test>", "RSET",
    f"AUTH PLAIN {ALICE_BAD}",
    "AUTH PLAIN !!bad",
    "AUTH LOGIN", "*",
    f"AUTH PLAIN {ALICE}",
    f"AUTH PLAIN {ALICE}",
    "MAIL FROM:<bob@example.com> AUTH=<>", "RCPT TO:<u@oracle.test>", "RSET",
    "MAIL FROM:<alice@example.com> AUTH=<> AUTH=x", "RCPT TO:<u@oracle.test>", "RSET",
    "MAIL FROM:<alice@example.com> AUTH=x AUTH=y",
    "MAIL FROM:<nobody@else.example>", "RCPT TO:<u@oracle.test>",
    "QUIT",
]


def test_replies_match_postfix(tmp_path, dovecot):
    """The same AUTH and login-mismatch script against Debian's Postfix and
    against ours, with the same Dovecot: the replies are equal."""
    import shutil
    import tempfile
    import postfix_oracle
    from smtpd_helpers import COMPARE_MAIN, run_script
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix (and root) needed")
    shared = pathlib.Path(tempfile.mkdtemp(prefix="postern-logins-"))
    shared.chmod(0o755)
    logins = shared / "logins"
    logins.write_text("alice@example.com alice\nbob@example.com bob\n")
    logins.chmod(0o644)
    main = dict(smtpd_sender_login_maps=f"texthash:{logins}",
                smtpd_sender_restrictions="reject_sender_login_mismatch",
                smtpd_relay_restrictions="permit_sasl_authenticated, reject_unauth_destination",
                **sasl_main(dovecot))
    try:
        with postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port()) as pf:
            settings = {k: v for k, v in COMPARE_MAIN.items()
                        if k not in ("virtual_mailbox_domains", "virtual_mailbox_maps")}
            pf.set_main(default_transport="discard", **{**settings, **main})
            pf.start()
            theirs = run_script(pf.port, SASL_SCRIPT)
        (tmp_path / "ours").mkdir()
        i = smtpd_instance(tmp_path / "ours", **main)
        try:
            ours = run_script(i.port, SASL_SCRIPT)
        finally:
            stop(i)
        assert ours == theirs
    finally:
        shutil.rmtree(shared, ignore_errors=True)
