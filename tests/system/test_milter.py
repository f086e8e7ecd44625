# ctest-timeout: 600
"""Milters (smtpd_milters, non_smtpd_milters) against real milters written
with Debian's python3-milter: replies and log lines for rejections at each
stage, the modifications as they end up in the queue file, discard,
quarantine (hold/), a milter that is down and one that hangs."""
import re

import pytest

from cleanup_helpers import QueueFile, sendmail, wait_for_queue_file, queue_files
from milter_helpers import MESSAGE, PyMilter, milter_instance, postcat
from smtpd_helpers import Client


@pytest.fixture
def milter_env(tmp_path):
    """(make(mode, **main) -> (inst, milter)); everything stopped at the end."""
    made = []

    def make(mode, smtpd_args="", milter_param="smtpd_milters", spec="{spec}", **main):
        m = PyMilter(tmp_path, mode) if mode else None
        made.append(m)
        value = spec.format(spec=m.spec if m else "")
        inst = milter_instance(tmp_path, smtpd_args=smtpd_args, **{milter_param: value, **main})
        made.append(inst)
        return inst, m

    yield make
    for x in reversed(made):
        if x is None:
            continue
        if hasattr(x, "stop"):
            x.stop()
            x.remove()
        else:
            x.close()


def send(inst, rcpts=("bob@oracle.test",), sender="alice@oracle.test", message=MESSAGE):
    """One SMTP transaction; the replies to MAIL, each RCPT, DATA and the end."""
    c = Client(inst.port)
    out = {"banner": c.banner[-1], "ehlo": c.cmd("EHLO client.test")}
    out["mail"] = c.cmd(f"MAIL FROM:<{sender}>")
    out["rcpt"] = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
    out["data"] = c.cmd("DATA")
    if out["data"].startswith("354"):
        c.send(message.replace("\n", "\r\n").encode() + b".\r\n")
        out["end"] = c.reply()[-1]
    c.cmd("QUIT")
    c.close()
    return out


def queued_file(inst, queue="incoming"):
    return wait_for_queue_file(inst.spool, queue)[0]


def test_reject_at_rcpt_gives_the_milters_reply_and_postfix_log_line(milter_env):
    inst, m = milter_env("reject_rcpt")
    out = send(inst, rcpts=("bad@oracle.test", "bob@oracle.test"))
    assert out["rcpt"][0] == "550 5.7.1 Recipient refused by test milter"
    assert out["rcpt"][1] == "250 2.1.5 Ok"
    assert out["end"].startswith("250 2.0.0 Ok: queued as ")
    inst.wait_for_log(r"NOQUEUE: milter-reject: RCPT from localhost\[127\.0\.0\.1\]: "
                      r"550 5\.7\.1 Recipient refused by test milter; "
                      r"from=<alice@oracle\.test> to=<bad@oracle\.test> proto=ESMTP "
                      r"helo=<client\.test>")
    qf = queued_file(inst)
    assert qf.recipients == ["bob@oracle.test"]
    ev = m.events()
    assert any(e.startswith("connect: localhost 127.0.0.1") for e in ev), ev
    assert "helo: client.test" in ev
    assert "rcpt: <bad@oracle.test>" in ev
    # The content phase (run by cleanup with smtpd's connection) saw the
    # headers and the queue ID macro.
    assert "header: Subject: milter test" in ev
    qid = qf.path.name
    assert f"eom: i={qid}" in ev


def test_tempfail_at_rcpt(milter_env):
    inst, _ = milter_env("tempfail_rcpt")
    out = send(inst)
    assert out["rcpt"] == ["451 4.7.1 Service unavailable - try again later"]
    assert out["data"].startswith("554 5.5.1")
    inst.wait_for_log(r"NOQUEUE: milter-reject: RCPT from localhost\[127\.0\.0\.1\]: 451 4\.7\.1 "
                      r"Service unavailable - try again later; from=<alice@oracle\.test> "
                      r"to=<bob@oracle\.test>")


def test_reject_at_mail(milter_env):
    inst, _ = milter_env("reject_mail")
    out = send(inst)
    assert out["mail"] == "550 5.7.1 Sender refused by test milter"
    inst.wait_for_log(r"NOQUEUE: milter-reject: MAIL from localhost\[127\.0\.0\.1\]: 550 5\.7\.1 "
                      r"Sender refused by test milter; from=<alice@oracle\.test> proto=ESMTP")


def test_add_header(milter_env):
    inst, m = milter_env("addheader")
    out = send(inst)
    assert out["end"].startswith("250 2.0.0 Ok: queued as ")
    qf = queued_file(inst)
    assert qf.headers[-1] == "X-Test-Milter: added by test milter"
    assert qf.header("Subject") == "milter test"
    assert qf.mode & 0o700 == 0o700
    assert "X-Test-Milter: added by test milter" in postcat(inst, qf.path)


def test_change_and_delete_header(milter_env):
    inst, _ = milter_env("chgheader")
    send(inst)
    qf = queued_file(inst)
    assert qf.header("Subject") == "changed by milter"
    assert "Subject: milter test" not in qf.headers


def test_delete_header(milter_env):
    inst, _ = milter_env("delheader")
    send(inst)
    qf = queued_file(inst)
    assert qf.header("X-Remove-Me") is None
    assert qf.header("Subject") == "milter test"


def test_insert_header_at_the_top(milter_env):
    inst, _ = milter_env("insheader")
    send(inst)
    qf = queued_file(inst)
    assert qf.headers[0] == "X-First: inserted"


def test_replace_body(milter_env):
    inst, _ = milter_env("replacebody")
    send(inst)
    qf = queued_file(inst)
    body = qf.lines[qf.lines.index("") + 1:]
    assert body == ["The body was replaced.", "Second line."]
    assert qf.header("Subject") == "milter test"


def test_add_and_delete_recipient_and_change_sender(milter_env):
    inst, _ = milter_env("all")
    out = send(inst, rcpts=("one@oracle.test", "two@oracle.test"))
    assert out["end"].startswith("250 2.0.0 Ok: queued as ")
    qf = queued_file(inst)
    assert qf.sender == "changed-sender@oracle.test"
    assert qf.recipients == ["one@oracle.test", "added@oracle.test"]
    assert qf.of("/") == ["two@oracle.test"]  # canceled_recipient, as Postfix
    assert "added@oracle.test" in qf.of("O")
    assert qf.header("Subject") == "changed by milter"
    assert qf.header("X-Test-Milter") == "all"
    body = qf.lines[qf.lines.index("") + 1:]
    assert body == ["Replaced."]
    text = postcat(inst, qf.path)
    assert "sender: changed-sender@oracle.test" in text
    assert "recipient: added@oracle.test" in text


def test_quarantine_puts_the_message_on_hold(milter_env):
    inst, _ = milter_env("quarantine")
    out = send(inst)
    assert out["end"].startswith("250 2.0.0 Ok: queued as ")
    qf = queued_file(inst, "hold")
    assert qf.recipients == ["bob@oracle.test"]
    inst.wait_for_log(r"milter-hold: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: "
                      r"milter triggers HOLD action; from=<alice@oracle\.test> "
                      r"to=<bob@oracle\.test> proto=ESMTP helo=<client\.test>")
    assert not queue_files(inst.spool, "incoming")


def test_discard_at_end_of_message(milter_env):
    inst, _ = milter_env("discard")
    out = send(inst)
    assert out["end"].startswith("250 2.0.0 Ok: queued as ")
    inst.wait_for_log(r"milter-discard: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: "
                      r"milter triggers DISCARD action")
    assert not queue_files(inst.spool, "incoming") and not queue_files(inst.spool, "hold")


def test_reject_at_end_of_message(milter_env):
    inst, _ = milter_env("reject_eom")
    out = send(inst)
    assert out["end"] == "554 5.7.1 Content refused by test milter"
    inst.wait_for_log(r"[0-9A-Z]+: milter-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: "
                      r"5\.7\.1 Content refused by test milter; from=<alice@oracle\.test> "
                      r"to=<bob@oracle\.test> proto=ESMTP helo=<client\.test>")
    assert not queue_files(inst.spool, "incoming")


def test_tempfail_at_end_of_message(milter_env):
    inst, _ = milter_env("tempfail_eom")
    out = send(inst)
    assert out["end"] == "451 4.7.1 Service unavailable - try again later"
    assert not queue_files(inst.spool, "incoming")


@pytest.mark.parametrize("action,mail_reply", [
    ("tempfail", "451 4.7.1 Service unavailable - try again later"),
    ("reject", "550 5.7.1 Command rejected"),
    ("accept", "250 2.1.0 Ok"),
])
def test_milter_down_applies_default_action(milter_env, action, mail_reply):
    from instance import free_port
    inst, _ = milter_env(None, spec=f"inet:127.0.0.1:{free_port()}", milter_default_action=action)
    out = send(inst)
    assert out["mail"] == mail_reply
    inst.wait_for_log(r"warning: connect to Milter service inet:127\.0\.0\.1:\d+: ")
    if action != "accept":
        # Postfix's lines: the failure counts from CONNECT on.
        inst.wait_for_log(r"NOQUEUE: milter-reject: CONNECT from localhost\[127\.0\.0\.1\]: "
                          + re.escape(mail_reply) + r"; proto=SMTP\n")
        inst.wait_for_log(r"NOQUEUE: milter-reject: EHLO from localhost\[127\.0\.0\.1\]: "
                          + re.escape(mail_reply) + r"; proto=SMTP helo=<client\.test>\n")
        inst.wait_for_log(r"NOQUEUE: milter-reject: MAIL from localhost\[127\.0\.0\.1\]: "
                          + re.escape(mail_reply) + r"; from=<alice@oracle\.test> proto=ESMTP "
                          r"helo=<client\.test>\n")
    if action == "accept":
        assert out["end"].startswith("250 2.0.0 Ok: queued as ")
        queued_file(inst)


def test_milter_down_quarantine_holds_the_message(milter_env):
    from instance import free_port
    inst, _ = milter_env(None, spec=f"{{{{ inet:127.0.0.1:{free_port()}, default_action=quarantine }}}}",
                         milter_default_action="tempfail")
    out = send(inst)
    assert out["end"].startswith("250 2.0.0 Ok: queued as ")
    queued_file(inst, "hold")


def test_hanging_milter_times_out_into_default_action(milter_env):
    inst, _ = milter_env("hang_mail",
                         spec="{{ {spec}, command_timeout=2s, default_action=reject }}")
    out = send(inst)
    assert out["mail"] == "550 5.7.1 Command rejected"
    inst.wait_for_log(r"warning: milter inet:127\.0\.0\.1:\d+: read timeout")
    assert out["rcpt"] == ["503 5.5.1 Error: need MAIL command"]


def test_daemon_name_macro_from_master_cf(milter_env):
    """The submission entry of the seeds: -o milter_macro_daemon_name=ORIGINATING."""
    inst, m = milter_env("addheader", smtpd_args="  -o milter_macro_daemon_name=ORIGINATING\n")
    send(inst)
    queued_file(inst)
    assert any("daemon_name=ORIGINATING j=mx.oracle.test" in e for e in m.events()), m.events()


def test_non_smtpd_milters_for_sendmail(milter_env):
    inst, m = milter_env("addheader", milter_param="non_smtpd_milters")
    r = sendmail(inst, ["-f", "alice@oracle.test", "bob@oracle.test"], MESSAGE)
    assert r.returncode == 0, r.stderr
    qf = queued_file(inst)
    assert "X-Test-Milter: added by test milter" in qf.headers
    ev = m.events()
    assert "mail: <alice@oracle.test> " in ev or "mail: <alice@oracle.test>" in ev, ev
    assert "rcpt: <bob@oracle.test>" in ev


def test_non_smtpd_milters_do_not_see_smtp_mail(milter_env):
    inst, m = milter_env("addheader", milter_param="non_smtpd_milters")
    send(inst)
    qf = queued_file(inst)
    assert qf.header("X-Test-Milter") is None
    assert not any(e.startswith("mail:") for e in m.events())
