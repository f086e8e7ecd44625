# ctest-timeout: 180
"""smtpd and trivial-rewrite notice that a lookup table they use was
rebuilt (postmap) and restart, as Postfix's do ("table hash:... has
changed -- restarting"), so new mail sees the new table. (Issue 5; kept
with the smtpd TLS tests because this helper owns those files.)"""
import pathlib
import shutil
import tempfile
import time

from conftest import BIN, run
from smtpd_helpers import Client, smtpd_instance


def test_table_change_restarts_smtpd_and_trivial_rewrite(tmp_path):
    shared = pathlib.Path(tempfile.mkdtemp(prefix="postern-tables-"))
    shared.chmod(0o755)
    relay = shared / "relay_domains"
    relay.write_text("relay.example OK\n")
    conf = shared / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text("")

    def postmap():
        r = run([BIN / "postmap", "-c", conf, f"hash:{relay}"])
        assert r.returncode == 0, r.stderr
    postmap()
    i = smtpd_instance(tmp_path, relay_domains=f"hash:{relay}",
                       smtpd_relay_restrictions="reject_unauth_destination")

    def rcpt():
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@example.com>")
        r = c.cmd("RCPT TO:<x@other.example>")
        c.cmd("QUIT")
        c.close()
        return r
    try:
        assert rcpt() == "554 5.7.1 <x@other.example>: Relay access denied"
        time.sleep(1.1)  # a new modification time for the rebuilt table
        relay.write_text("relay.example OK\nother.example OK\n")
        postmap()
        replies = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # processes notice at their own pace
            replies.append(rcpt())
            if replies[-1].startswith("250"):
                break
            time.sleep(0.2)
        assert replies[-1] == "250 2.1.5 Ok", (replies[-3:], i.log_text()[-4000:])
        i.wait_for_log(r"smtpd\[\d+\]: table hash:\S+relay_domains has changed -- restarting")
        i.wait_for_log(r"trivial-rewrite\[\d+\]: table hash:\S+relay_domains has changed -- "
                       r"restarting")
    finally:
        if i.cleanup:
            i.cleanup.close()
        i.stop()
        shutil.rmtree(shared, ignore_errors=True)
