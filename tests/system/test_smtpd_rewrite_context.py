# ctest-timeout: 180
"""local_header_rewrite_clients: mail from a client it names (by default one
on our own inet_interfaces, such as 127.0.0.1) is rewritten in the local
context, so cleanup adds a missing Message-Id: and Date: as Postfix's does;
from any other client the headers are left as they came."""
import smtplib

import pytest

from delivery_helpers import maildir_messages
from instance import BIN, Instance, wait_until


def _smtp(port):
    try:
        return smtplib.SMTP("127.0.0.1", port, timeout=20)
    except OSError:
        return None


def _deliver_bare_message(tmp_path, **main):
    if not (BIN / "smtpd").exists():
        pytest.skip("smtpd is not built")
    inst = Instance(tmp_path)
    try:
        if main:
            inst.set_main(**main)
        inst.start()
        s = wait_until(lambda: _smtp(inst.port), 15, what="smtpd")
        s.sendmail("a@example.com", ["ann@demo.test"], "Subject: bare\n\nno id, no date\n")
        s.quit()
        msgs = maildir_messages(inst, "ann", timeout=30)
        assert len(msgs) == 1
        head = msgs[0].split("\n\n", 1)[0]
        return [line.split(":", 1)[0].lower() for line in head.splitlines() if ":" in line
                and not line.startswith((" ", "\t"))]
    finally:
        inst.stop()


def test_loopback_client_gets_missing_headers(tmp_path):
    names = _deliver_bare_message(tmp_path)
    assert "message-id" in names and "date" in names, names


def test_remote_context_leaves_headers_alone(tmp_path):
    names = _deliver_bare_message(tmp_path, local_header_rewrite_clients="")
    assert "message-id" not in names and "date" not in names, names


def test_check_address_map_names_local_clients(tmp_path):
    names = _deliver_bare_message(tmp_path,
                                  local_header_rewrite_clients="check_address_map inline:{127.0.0.1=x}")
    assert "message-id" in names, names
