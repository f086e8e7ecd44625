# ctest-timeout: 240
"""Address verification: the verify service, probes through the queue that
deliver nothing, reject_unverified_recipient/sender in smtpd, the cache in
$data_directory/verify_cache.db across restarts, and sendmail -bv reports."""
import re
import time
import types

import pytest

from cleanup_helpers import sendmail
from delivery_helpers import FAST, maildir_messages
from instance import Instance, wait_until
from smtpd_helpers import Client


def probes_in_log(inst, address):
    return len(re.findall(rf"to=<{re.escape(address)}>, relay=.*status=(?:un)?deliverable",
                          inst.log_text()))


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(smtpd_recipient_restrictions="reject_unverified_recipient",
                   smtpd_sender_restrictions="",
                   unverified_recipient_reject_code="550",
                   address_verify_poll_count="1",
                   local_recipient_maps="",
                   **FAST)
        i.start()
        wait_until(lambda: _port_open(i.port), 10, what="smtpd port")
        yield i


def _port_open(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def rcpt(inst, address, sender="alice@demo.test"):
    c = Client(inst.port)
    try:
        c.cmd("EHLO client.test")
        assert c.cmd(f"MAIL FROM:<{sender}>").startswith("250")
        return c.cmd(f"RCPT TO:<{address}>")
    finally:
        c.close()


def wait_for_reply(inst, address, prefix, timeout=30):
    """Asks until the RCPT reply starts with `prefix`; returns it."""
    last = []

    def ok():
        last.append(rcpt(inst, address))
        return last[-1].startswith(prefix)
    try:
        wait_until(ok, timeout, interval=0.5, what=f"RCPT reply {prefix} for {address}")
    except TimeoutError:
        raise AssertionError(f"last reply {last[-1:]}; log:\n{inst.log_text()[-3000:]}")
    return last[-1]


def test_unknown_local_user_defers_then_rejects(inst):
    first = rcpt(inst, "nosuch@localhost")
    assert first == ("450 4.1.1 <nosuch@localhost>: Recipient address rejected: "
                     "unverified address: Address verification in progress")
    final = wait_for_reply(inst, "nosuch@localhost", "550")
    assert final == ('550 5.1.1 <nosuch@localhost>: Recipient address rejected: '
                     'undeliverable address: unknown user: "nosuch"')
    # The probe went through local, which reported instead of bouncing.
    inst.wait_for_log(r"local\[\d+\]: \w+: to=<nosuch@localhost>, relay=local, .*dsn=5\.1\.1, "
                      r"status=undeliverable \(unknown user: \"nosuch\"\)")
    inst.wait_for_log(r"NOQUEUE: reject: RCPT from .*: 550 5\.1\.1 <nosuch@localhost>: Recipient "
                      r"address rejected: undeliverable address")
    log = inst.log_text()
    # No bounce about the probe: nothing left in the queue, no notification.
    assert "non-delivery notification" not in log
    assert probes_in_log(inst, "nosuch@localhost") == 1


def test_known_address_is_accepted_and_probe_not_delivered(inst):
    assert rcpt(inst, "bob@demo.test").startswith("450 4.1.1")
    assert wait_for_reply(inst, "bob@demo.test", "250") == "250 2.1.5 Ok"
    inst.wait_for_log(r"to=<bob@demo.test>, relay=virtual, .*dsn=2\.0\.0, "
                      r"status=deliverable \(delivers to maildir\)")
    assert not (inst.dir / "mail" / "bob" / "new").exists() or \
        not any((inst.dir / "mail" / "bob" / "new").iterdir())


def test_cache_persists_across_restart(inst):
    rcpt(inst, "nosuch@localhost")
    wait_for_reply(inst, "nosuch@localhost", "550")
    assert (inst.dir / "data" / "verify_cache.db").exists()
    inst.stop()
    inst.start()
    wait_until(lambda: _port_open(inst.port), 10, what="smtpd port")
    # Answered from the file at once: no new probe.
    assert rcpt(inst, "nosuch@localhost").startswith("550 5.1.1")
    time.sleep(1)
    assert probes_in_log(inst, "nosuch@localhost") == 1


def test_in_memory_cache(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(smtpd_recipient_restrictions="reject_unverified_recipient",
                   address_verify_map="", address_verify_poll_count="1",
                   local_recipient_maps="", **FAST)
        i.start()
        wait_until(lambda: _port_open(i.port), 10, what="smtpd port")
        assert rcpt(i, "nosuch@localhost").startswith("450 4.1.1")
        # Postfix's default reject code is 450 as well, with its own text.
        assert wait_for_reply(i, "nosuch@localhost", "450 4.1.1 <nosuch@localhost>: "
                              "Recipient address rejected: unverified address: unknown user") \
            .endswith('unknown user: "nosuch"')
        assert not (i.dir / "data" / "verify_cache.db").exists()


def test_reject_unverified_sender(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(smtpd_sender_restrictions="reject_unverified_sender",
                   unverified_sender_reject_code="550", address_verify_poll_count="1",
                   local_recipient_maps="", **FAST)
        i.start()
        wait_until(lambda: _port_open(i.port), 10, what="smtpd port")
        reply = rcpt(i, "bob@demo.test", sender="ghost@localhost")
        assert reply == ("450 4.1.7 <ghost@localhost>: Sender address rejected: "
                         "unverified address: Address verification in progress")
        last = []

        def rejected():
            last.append(rcpt(i, "bob@demo.test", sender="ghost@localhost"))
            return last[-1].startswith("550")
        wait_until(rejected, 30, interval=0.5, what="sender rejected")
        assert last[-1] == ('550 5.1.7 <ghost@localhost>: Sender address rejected: '
                            'undeliverable address: unknown user: "ghost"')


def test_verify_service_down_is_a_verification_problem(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(smtpd_recipient_restrictions="reject_unverified_recipient",
                   address_verify_service_name="noverify", address_verify_poll_count="1",
                   local_recipient_maps="")
        i.start()
        wait_until(lambda: _port_open(i.port), 10, what="smtpd port")
        assert rcpt(i, "bob@demo.test") == ("450 4.1.1 <bob@demo.test>: Recipient address "
                                            "rejected: address verification problem")
        i.wait_for_log(r"warning: noverify service failure")


def test_sendmail_bv_mails_a_delivery_report(inst):
    r = sendmail(inst, ["-bv", "-f", "alice@demo.test", "bob@demo.test", "nosuch@localhost"], "")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Mail Delivery Status Report will be mailed to <alice@demo.test>.\n"
    msgs = maildir_messages(inst, "alice", timeout=30)
    assert len(msgs) == 1
    report = msgs[0]
    assert "Subject: Mail Delivery Status Report\n" in report
    # The verify_template text (bounce_template_file), then the signature.
    assert ("\n\nHere is the mail delivery status report that you asked for.\n\n"
            "                   The mail system\n\n") in report
    assert "For further assistance" not in report
    assert "<bob@demo.test>: delivery via virtual: delivers to maildir" in report
    assert '<nosuch@localhost>: delivery via local: unknown user: "nosuch"' in report
    assert 'Diagnostic-Code: X-Postfix; delivery via local: unknown user: "nosuch"' in report
    # The headers of Postfix's dummy message come back.
    assert "Subject: probe\n" in report
    assert "To:\tbob@demo.test,\n\tnosuch@localhost\n" in report
    assert "Final-Recipient: rfc822; bob@demo.test\n" in report
    assert "Action: deliverable\nStatus: 2.0.0" in report, report
    assert "Action: undeliverable\nStatus: 5.1.1" in report
    # Nothing was delivered to bob, and no bounce went anywhere.
    new = inst.dir / "mail" / "bob" / "new"
    assert not new.exists() or not any(new.iterdir())
    assert "non-delivery notification" not in inst.log_text()


def test_replies_match_postfix(tmp_path):
    """The same dialogue against Debian's Postfix: the first reply and the
    final one for an unknown local user, word for word."""
    import postfix_oracle
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix (and root) needed")
    settings = dict(smtpd_recipient_restrictions="reject_unverified_recipient",
                    unverified_recipient_reject_code="550", address_verify_poll_count="1",
                    local_recipient_maps="", mydestination="localhost")
    with postfix_oracle.PostfixInstance(tmp_path, postfix_oracle.free_port()) as pf, \
            Instance(tmp_path) as ours:
        pf.set_main(**settings)
        pf.start()
        ours.set_main(**settings, **FAST)
        ours.start()
        wait_until(lambda: _port_open(ours.port), 10, what="smtpd port")
        got = {}
        for name, port in (("postfix", pf.port), ("postern", ours.port)):
            p = types.SimpleNamespace(port=port)  # what rcpt() needs
            first = rcpt(p, "nosuch@localhost")
            last = []

            def done():
                last.append(rcpt(p, "nosuch@localhost"))
                return last[-1].startswith("550")
            wait_until(done, 60, interval=0.5, what=f"{name}: 550")
            got[name] = (first, last[-1])
        assert got["postern"] == got["postfix"], (got, pf.log()[-2000:])


def test_probes_use_the_address_verify_routing(tmp_path):
    """address_verify_local_transport (like the other address_verify_*
    routing parameters) applies to probes only: mail still goes local."""
    with Instance(tmp_path) as i:
        i.set_main(smtpd_recipient_restrictions="reject_unverified_recipient",
                   unverified_recipient_reject_code="550", address_verify_poll_count="1",
                   address_verify_local_transport="error:5.7.1 probes are not welcome here",
                   local_recipient_maps="", **FAST)
        i.start()
        wait_until(lambda: _port_open(i.port), 10, what="smtpd port")
        assert rcpt(i, "root@localhost").startswith("450 4.1.1")
        assert wait_for_reply(i, "root@localhost", "550") == (
            # The DSN is smtpd's 5.1.1 whatever the probe's was, as Postfix's.
            "550 5.1.1 <root@localhost>: Recipient address rejected: undeliverable address: "
            "probes are not welcome here")
        i.wait_for_log(r"error\[\d+\]: \w+: to=<root@localhost>, relay=none, .*dsn=5\.7\.1, "
                       r"status=undeliverable \(probes are not welcome here\)")


def test_cache_cleanup_drops_expired_entries(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(smtpd_recipient_restrictions="reject_unverified_recipient",
                   unverified_recipient_reject_code="550", address_verify_poll_count="1",
                   address_verify_negative_expire_time="3s",
                   address_verify_cache_cleanup_interval="1s",
                   local_recipient_maps="", **FAST)
        i.start()
        wait_until(lambda: _port_open(i.port), 10, what="smtpd port")
        rcpt(i, "nosuch@localhost")
        wait_for_reply(i, "nosuch@localhost", "550")
        time.sleep(4)
        rcpt(i, "bob@demo.test")  # the sweep runs after this request
        i.wait_for_log(rf"verify\[\d+\]: cache btree:{re.escape(str(i.dir))}/data/verify_cache "
                       r"full cleanup: retained=1 dropped=1 entries")
