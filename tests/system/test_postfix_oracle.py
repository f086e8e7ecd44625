"""The Postfix oracle library works: an instance starts, takes a message on
its own port, and stops without leaving processes behind."""
import smtplib

import pytest

import postfix_oracle
from postfix_oracle import PostfixInstance, free_port


def test_oracle_instance_accepts_mail_and_stops(tmp_path):
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix is not installed or we are not root")
    port = free_port()
    with PostfixInstance(tmp_path, port) as pf:
        pf.set_main(mydestination="oracle.test", local_recipient_maps="",
                    home_mailbox="Maildir/", default_transport="discard")
        pf.start()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            code, banner = s.ehlo("client.test")
            assert code == 250
            s.sendmail("a@client.test", ["b@elsewhere.test"], "Subject: t\r\n\r\nbody\r\n")
        master_pid = int((pf.spool / "pid" / "master.pid").read_text())
    import os
    with pytest.raises(ProcessLookupError):
        os.kill(master_pid, 0)
