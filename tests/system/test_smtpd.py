# ctest-timeout: 600
"""smtpd under master (with trivial-rewrite and a fake cleanup service):
replies compared side by side with Debian's Postfix for the same command
sequences, mail handed to cleanup, the bad-input cases and log lines."""
import re
import socket
import time

import pytest

import postfix_oracle
from postfix_oracle import PostfixInstance
from smtpd_helpers import (COMPARE_MAIN, Client, envelope, message_text, run_script,
                           smtpd_instance)

needs_oracle = pytest.mark.skipif(not postfix_oracle.available(),
                                  reason="Debian's Postfix (and root) needed")


@pytest.fixture
def inst(tmp_path):
    i = smtpd_instance(tmp_path)
    yield i
    if i.cleanup:
        i.cleanup.close()
    i.stop()


def start_oracle(pf):
    """Starts Debian's Postfix, retrying: under load `postfix start` now and
    then fails without a message."""
    for attempt in range(3):
        try:
            pf.start()
            return
        except RuntimeError:
            if attempt == 2:
                raise
            pf.stop()
            time.sleep(2)


def oracle_replies(tmp_path, scripts, **main):
    port = postfix_oracle.free_port()
    with PostfixInstance(tmp_path / "oracle", port) as pf:
        settings = {k: v for k, v in COMPARE_MAIN.items()
                    if k not in ("virtual_mailbox_domains", "virtual_mailbox_maps")}
        pf.set_main(default_transport="discard", **{**settings, **main})
        start_oracle(pf)
        return [run_script(port, s) for s in scripts]


def ours_replies(tmp_path, scripts, **main):
    (tmp_path / "ours").mkdir(parents=True, exist_ok=True)
    i = smtpd_instance(tmp_path / "ours", **main)
    try:
        return [run_script(i.port, s) for s in scripts], i
    finally:
        if i.cleanup:
            i.cleanup.close()
        i.stop()


PROTOCOL_SCRIPTS = [
    # Commands out of order, syntax errors, unknown commands (fewer than
    # smtpd_soft_error_limit errors per session).
    ["RCPT TO:<u@oracle.test>", "DATA", "FOO", "EXPN u", "HELP", "RSET x", "RSET",
     "NOOP", "NOOP x", "QUIT"],
    ["HELO", "EHLO", "EHLO client.example", "MAIL", "MAIL FROM:", "MAIL TO:<x>",
     "MAIL FROM:<a@b> FOO=bar", "MAIL FROM:<a@b> BODY=FOO", "QUIT"],
    ["EHLO client.example", "MAIL FROM:<a@b> RET=FOO", "MAIL FROM:<bad address>",
     "MAIL FROM:<a@b> SIZE=99999999999", "RSET", "MAIL FROM:<a@b> BODY=8BITMIME RET=HDRS ENVID=abc",
     "MAIL FROM:<c@d>", "RCPT", "RCPT FROM:<u@oracle.test>", "RCPT TO:", "QUIT"],
    ["EHLO client.example", "MAIL FROM:<c@d>", "RCPT TO:<bad address>",
     "RCPT TO:<u@oracle.test> FOO=1", "RCPT TO:<u@oracle.test> ORCPT=foo",
     "RCPT TO:<u@oracle.test> NOTIFY=FOO", "RCPT TO:<u@oracle.test> NOTIFY=SUCCESS,FAILURE",
     "RCPT TO:<u@oracle.test> ORCPT=rfc822;u@oracle.test", "RCPT TO:<\"quoted user\"@oracle.test>",
     "RCPT TO:<@a.example,@b.example:u@oracle.test>", "RCPT TO:<>",
     "RCPT TO:<u@oracle.test> NOTIFY=NEVER,SUCCESS", ("raw", b"NOOP\x00x\r\n"),
     "XCLIENT NAME=x", "BDAT 0 LAST", "QUIT"],
    ["HELO client.example", "VRFY", "VRFY u@oracle.test", "VRFY <u@oracle.test>", "ETRN",
     "ETRN x.y", "XCLIENT", "XCLIENT NAME=x", "MAIL FROM:<a@b>", "ETRN x.y", "QUIT x"],
    # A message, then the same session goes on.
    ["EHLO client.example", "MAIL FROM:<s@example.com>", "RCPT TO:<u@oracle.test>", "DATA",
     ("data", "Subject: hi\n\nbody\n..dot"), "MAIL FROM:<s@example.com>", "DATA", "QUIT"],
    # Message size, DATA with no valid recipients.
    ["EHLO client.example", "MAIL FROM:<s@example.com> SIZE=10240001", "MAIL FROM:<s@example.com> SIZE=10240000",
     "RCPT TO:<x@elsewhere.example>", "DATA", "QUIT"],
]

RELAY_ATTEMPTS = [
    "external@otherdomain.com", "<external@otherdomain.com>", "<user@elsewhere.example>",
    "<user%elsewhere.example@oracle.test>", "<elsewhere.example!user@oracle.test>",
    "<@oracle.test:user@elsewhere.example>", "<\"user@elsewhere.example\"@oracle.test>",
    "<user@elsewhere.example@oracle.test>", "<user@[192.0.2.1]>", "<USER@ELSEWHERE.EXAMPLE>",
    "<user@elsewhere.example.>", "<user@oracle.test.elsewhere.example>", "<user@sub.oracle.test>",
    "<\"user%elsewhere.example\"@oracle.test>", "<user@localhost>", "<\"quoted user\"@elsewhere.example>",
]


@needs_oracle
def test_protocol_replies_match_postfix(tmp_path):
    ours, _ = ours_replies(tmp_path, PROTOCOL_SCRIPTS)
    theirs = oracle_replies(tmp_path, PROTOCOL_SCRIPTS)
    for script, a, b in zip(PROTOCOL_SCRIPTS, ours, theirs):
        for cmd, x, y in zip(["<banner>"] + script, a, b):
            assert x == y, f"{cmd!r}: Postern {x!r} != Postfix {y!r}"


@needs_oracle
@pytest.mark.parametrize("restrictions", [
    {},  # compatibility_level 3.6 defaults: defer_unauth_destination
    {"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination"},
    {"smtpd_relay_restrictions": "", "smtpd_recipient_restrictions":
     "permit_mynetworks, reject_unauth_destination"},
])
def test_open_relay_attempts_are_rejected_like_postfix(tmp_path, restrictions):
    scripts = [["HELO test", "MAIL FROM: test@example.com", f"RCPT TO: {r}", "QUIT"]
               for r in RELAY_ATTEMPTS]
    ours, _ = ours_replies(tmp_path, scripts, **restrictions)
    theirs = oracle_replies(tmp_path, scripts, **restrictions)
    for r, a, b in zip(RELAY_ATTEMPTS, ours, theirs):
        rcpt_ours, rcpt_theirs = a[3], b[3]
        assert rcpt_ours == rcpt_theirs, f"RCPT TO: {r}"
        if not re.search(r"oracle\.test>?$", r) or "!" in r or "%" in r or "@oracle.test:" in r:
            assert rcpt_ours[0] in "45", f"{r} was accepted: {rcpt_ours}"


ACCESS = """\
rej1@oracle.test REJECT
rej2@oracle.test REJECT go away
rej3@oracle.test 550 no such
rej4@oracle.test 450 4.2.0 later
def1@oracle.test DEFER
def2@oracle.test DEFER try later
ok@oracle.test OK
dunno@oracle.test DUNNO
warn@oracle.test WARN careful
hold@oracle.test HOLD
nfq@oracle.test reject_non_fqdn_sender
blocked.example REJECT domain blocked
bad@ 554 5.7.2 user part blocked
"""


@needs_oracle
def test_access_map_actions_match_postfix(tmp_path):
    access = tmp_path / "access"
    access.write_text(ACCESS)
    import os
    os.chmod(tmp_path, 0o755)
    rcpts = ["rej1", "rej2", "rej3", "rej4", "def1", "def2", "ok", "dunno", "warn", "plain",
             "nofqdn", "x@sub.blocked.example", "bad@oracle.test", "hold"]
    scripts = []
    for r in rcpts:
        addr = r if "@" in r or r == "nofqdn" else f"{r}@oracle.test"
        scripts.append(["EHLO client", "MAIL FROM:<s@sender>", f"RCPT TO:<{addr}>",
                        "RCPT TO:<ok@oracle.test>", "QUIT"])
    scripts.append(["EHLO client", "MAIL FROM:<s>", "RCPT TO:<nfq@oracle.test>", "QUIT"])
    main = {"smtpd_relay_restrictions": "",
            "smtpd_recipient_restrictions": f"check_recipient_access texthash:{access}, "
                                            "reject_non_fqdn_recipient, reject_unauth_destination, permit"}
    ours, _ = ours_replies(tmp_path, scripts, **main)
    theirs = oracle_replies(tmp_path, scripts, **main)
    for s, a, b in zip(scripts, ours, theirs):
        assert a == b, s


@needs_oracle
def test_helo_sender_client_restrictions_match_postfix(tmp_path):
    main = {"smtpd_helo_required": "yes",
            "smtpd_helo_restrictions": "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname",
            "smtpd_sender_restrictions": "reject_non_fqdn_sender",
            "smtpd_client_restrictions": "permit_mynetworks, permit"}
    scripts = [
        ["MAIL FROM:<a@b.example>", "HELO bad_name!", "MAIL FROM:<a@b.example>",
         "RCPT TO:<u@oracle.test>", "QUIT"],
        ["HELO nodots", "MAIL FROM:<a@b.example>", "RCPT TO:<u@oracle.test>", "QUIT"],
        ["HELO good.example", "MAIL FROM:<a>", "RCPT TO:<u@oracle.test>", "RSET",
         "MAIL FROM:<a@b.example>", "RCPT TO:<u@oracle.test>", "QUIT"],
        ["HELO [127.0.0.1]", "MAIL FROM:<>", "RCPT TO:<u@oracle.test>", "QUIT"],
    ]
    ours, _ = ours_replies(tmp_path, scripts, **main)
    theirs = oracle_replies(tmp_path, scripts, **main)
    for s, a, b in zip(scripts, ours, theirs):
        assert a == b, s
    main2 = {"smtpd_client_restrictions": "reject", "smtpd_delay_reject": "yes"}
    script = [["HELO x.example", "MAIL FROM:<a@b.example>", "RCPT TO:<u@oracle.test>", "QUIT"]]
    ours, _ = ours_replies(tmp_path / "2", script, **main2)
    theirs = oracle_replies(tmp_path / "2", script, **main2)
    assert sorted(ours) == sorted(theirs)


def test_message_goes_to_cleanup(inst):
    c = Client(inst.port)
    assert c.banner == ["220 postfix.oracle.test ESMTP"]
    assert c.cmd("EHLO client.example").startswith("250 ")
    assert c.cmd("MAIL FROM:<s@example.com> RET=HDRS ENVID=env+2B1") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<u@oracle.test> NOTIFY=SUCCESS,DELAY") == "250 2.1.5 Ok"
    assert c.cmd("DATA") == "354 End data with <CR><LF>.<CR><LF>"
    c.send(b"Subject: test\r\n\r\nline one\r\n..leading dot\r\n.\r\n")
    r = c.reply()[-1]
    assert re.fullmatch(r"250 2\.0\.0 Ok: queued as ABC\d{4}", r), r
    assert c.cmd("QUIT") == "221 2.0.0 Bye"
    c.close()
    msg = inst.cleanup.messages[-1]
    assert envelope(msg, "S") == ["s@example.com"]
    assert envelope(msg, "R") == ["u@oracle.test"]
    assert envelope(msg, "i") == ["env+1"]
    assert envelope(msg, "n") == ["10"]
    text = message_text(msg)
    assert re.match(r"Received: from client\.example \(localhost \[127\.0\.0\.1\]\)\n"
                    r"\tby postfix\.oracle\.test \(Postern\) with ESMTP id ABC\d{4}\n"
                    r"\tfor <u@oracle\.test>; \w{3}, .*\n", text), text
    assert text.endswith("Subject: test\n\nline one\n.leading dot\n")
    qid = msg["queue_id"]
    inst.wait_for_log(rf"{qid}: client=localhost\[127\.0\.0\.1\]")
    inst.wait_for_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 "
                      r"quit=1 commands=5")


def test_bdat_chunks(inst):
    c = Client(inst.port)
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<s@example.com>")
    c.cmd("RCPT TO:<a@oracle.test>")
    assert c.cmd("RCPT TO:<b@oracle.test>") == "250 2.1.5 Ok"
    c.send(b"BDAT 12\r\nSubject: x\r\n")
    assert c.reply() == ["250 2.0.0 Ok: 12 bytes"]
    c.send(b"BDAT 5 LAST\r\nbody\n")
    r = c.reply()[-1]
    assert re.fullmatch(r"250 2\.0\.0 Ok: \d+ bytes queued as ABC\d{4}", r), r
    assert c.cmd("BDAT x") == "521 5.5.4 Syntax: BDAT count [LAST]"
    c.close()
    msg = inst.cleanup.messages[-1]
    assert envelope(msg, "R") == ["a@oracle.test", "b@oracle.test"]
    text = message_text(msg)
    assert "with ESMTP id" in text and ";\n\t" in text  # no "for <>" with two recipients
    assert text.endswith("Subject: x\nbody\n")


def test_relay_reject_is_logged_like_postfix(inst):
    c = Client(inst.port)
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@example.com>")
    assert c.cmd("RCPT TO:<x@y.example>") == "454 4.7.1 <x@y.example>: Relay access denied"
    c.cmd("QUIT")
    c.close()
    inst.wait_for_log(r"connect from localhost\[127\.0\.0\.1\]")
    inst.wait_for_log(re.escape(
        "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 454 4.7.1 <x@y.example>: Relay access "
        "denied; from=<a@example.com> to=<x@y.example> proto=ESMTP helo=<client.example>"))
    inst.wait_for_log(re.escape("disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=0/1 "
                                "quit=1 commands=3/4"))
    assert not inst.cleanup.messages


def test_bad_input(inst):
    c = Client(inst.port)
    c.cmd("EHLO client.example")
    # An over-long command line is cut, and the session goes on.
    assert c.cmd("NOOP " + "x" * 5000) == "250 2.0.0 Ok"
    assert c.cmd("MAIL FROM:<" + "a" * 3000 + "@example.com>")[:3] == "501"
    # A NUL byte in a command.
    c.send(b"MAIL FROM:<a\0b@example.com>\r\n")
    assert c.reply()[-1].startswith("5")
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    c.close()


@pytest.fixture
def small(tmp_path):
    i = smtpd_instance(tmp_path, message_size_limit="2000", smtpd_timeout="3s")
    yield i
    i.cleanup.close()
    i.stop()


def test_size_limit_and_8bit(small):
    c = Client(small.port)
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<s@example.com> SIZE=2001") == "552 5.3.4 Message size exceeds fixed limit"
    c.cmd("RSET")
    c.cmd("MAIL FROM:<s@example.com>")
    c.cmd("RCPT TO:<u@oracle.test>")
    c.cmd("DATA")
    c.send(b"Subject: x\r\n\r\n" + b"y" * 3000 + b"\r\n.\r\n")
    assert c.reply() == ["552 5.3.4 Message size exceeds fixed limit"]
    # 8-bit content without BODY=8BITMIME is accepted, as Postfix does.
    c.cmd("MAIL FROM:<s@example.com>")
    c.cmd("RCPT TO:<u@oracle.test>")
    c.cmd("DATA")
    c.send(b"Subject: \xe4\r\n\r\n\xf6\r\n.\r\n")
    assert c.reply()[-1].startswith("250 2.0.0 Ok: queued as")
    c.close()
    assert len(small.cleanup.messages) == 1


def test_bare_lf_cannot_smuggle(inst):
    c = Client(inst.port)
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<s@example.com>")
    c.cmd("RCPT TO:<u@oracle.test>")
    c.cmd("DATA")
    # "\n.\n" and "\r\n.\n" are not the end of the message: the smuggled
    # commands stay content.
    c.send(b"Subject: a\r\n\r\nbody\n.\nMAIL FROM:<evil@example.com>\r\n.\n"
           b"RCPT TO:<victim@oracle.test>\r\n.\r\n")
    r = c.reply()
    assert len(r) == 1 and r[0].startswith("250 2.0.0 Ok: queued as"), r
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    c.close()
    assert len(inst.cleanup.messages) == 1
    assert "MAIL FROM:<evil@example.com>" in message_text(inst.cleanup.messages[0])


def test_forbid_bare_newline(tmp_path):
    i = smtpd_instance(tmp_path, smtpd_forbid_bare_newline="yes")
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@example.com>")
        c.cmd("RCPT TO:<u@oracle.test>")
        c.cmd("DATA")
        c.send(b"Subject: a\n\nbody\r\n.\r\n")
        assert c.reply() == ["521 5.5.2 postfix.oracle.test Error: bare <LF> received"]
        c.close()
        assert not i.cleanup.messages
    finally:
        i.cleanup.close()
        i.stop()


def test_client_drops_mid_data_and_stalls(small):
    c = Client(small.port)
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<s@example.com>")
    c.cmd("RCPT TO:<u@oracle.test>")
    c.cmd("DATA")
    c.send(b"Subject: a\r\n\r\npartial")
    c.close()
    small.wait_for_log(r"lost connection after DATA \(\d+ bytes\) from localhost\[127\.0\.0\.1\]")
    assert not small.cleanup.messages
    # A client that stalls gets 421 after smtpd_timeout (3s here).
    c = Client(small.port)
    c.send(b"EHLO client.example\r\n")
    c.reply()
    c.s.settimeout(15)
    assert c.reply() == ["421 4.4.2 postfix.oracle.test Error: timeout exceeded"]
    small.wait_for_log(r"timeout after EHLO from localhost\[127\.0\.0\.1\]")


def test_cleanup_status_is_reported(tmp_path):
    i = smtpd_instance(tmp_path)
    try:
        i.cleanup.status = 8  # content rejected
        i.cleanup.reason = "5.7.1 message content rejected"
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@example.com>")
        c.cmd("RCPT TO:<u@oracle.test>")
        c.cmd("DATA")
        c.send(b"Subject: a\r\n\r\nbody\r\n.\r\n")
        assert c.reply() == ["550 5.7.1 message content rejected"]
        # cleanup dies before its verdict: 451, never a false 250.
        i.cleanup.drop = True
        c.cmd("MAIL FROM:<s@example.com>")
        c.cmd("RCPT TO:<u@oracle.test>")
        c.cmd("DATA")
        c.send(b"Subject: a\r\n\r\nbody\r\n.\r\n")
        assert c.reply() == ["451 4.3.0 Error: queue file write error"]
        # cleanup gone: the client gets a 4xx, never a false 250.
        i.cleanup.close()
        import os
        os.unlink(i.spool / "public" / "cleanup")
        c.cmd("MAIL FROM:<s@example.com>")
        assert c.cmd("RCPT TO:<u@oracle.test>") == "451 4.3.0 Error: queue file write error"
        assert c.cmd("DATA") == "451 4.3.0 Error: queue file write error"
        c.close()
    finally:
        i.stop()


def test_ehlo_keywords_and_vrfy(tmp_path):
    i = smtpd_instance(tmp_path, smtpd_discard_ehlo_keywords="chunking, dsn, silent-discard",
                       disable_vrfy_command="yes")
    try:
        c = Client(i.port)
        c.send("EHLO client.example")
        assert c.reply() == ["250-postfix.oracle.test", "250-PIPELINING", "250-SIZE 10240000",
                             "250-ETRN", "250-ENHANCEDSTATUSCODES", "250-8BITMIME",
                             "250 SMTPUTF8"]
        assert c.cmd("VRFY u@oracle.test") == "502 5.5.1 VRFY command is disabled"
        c.close()
    finally:
        i.cleanup.close()
        i.stop()


def test_hard_error_limit(tmp_path):
    i = smtpd_instance(tmp_path, smtpd_hard_error_limit="3", smtpd_soft_error_limit="10")
    try:
        c = Client(i.port)
        for _ in range(3):
            assert c.cmd("BOGUS") == "500 5.5.2 Error: command not recognized"
        c.send("NOOP")
        assert c.reply() == ["421 4.7.0 postfix.oracle.test Error: too many errors"]
        c.close()
    finally:
        i.cleanup.close()
        i.stop()


@needs_oracle
def test_stage_restrictions_match_postfix(tmp_path):
    import os
    os.chmod(tmp_path, 0o755)
    users = tmp_path / "users"
    users.write_text("known x\n")
    runs = [
        ({"local_recipient_maps": f"texthash:{users}"},
         [["EHLO client.example", "MAIL FROM:<s@example.com>", "RCPT TO:<nobody@oracle.test>",
           "RCPT TO:<known@oracle.test>", "VRFY nobody@oracle.test", "QUIT"]]),
        ({"smtpd_data_restrictions": "reject"},
         [["EHLO client.example", "MAIL FROM:<s@example.com>", "RCPT TO:<u@oracle.test>", "DATA",
           "QUIT"]]),
        ({"smtpd_end_of_data_restrictions": "reject"},
         [["EHLO client.example", "MAIL FROM:<s@example.com>", "RCPT TO:<u@oracle.test>", "DATA",
           ("data", "Subject: x\n\nbody"), "QUIT"]]),
        ({"smtpd_authorized_xclient_hosts": "127.0.0.0/8",
          "smtpd_authorized_xforward_hosts": "127.0.0.0/8"},
         [["EHLO client.example", "XFORWARD FOO=1", "XFORWARD NAME=x.example ADDR=192.0.2.9",
           "XCLIENT", "XCLIENT FOO=bar", "XCLIENT PROTO=FOO",
           "XCLIENT NAME=spam.example ADDR=192.0.2.1 HELO=fake.example PROTO=ESMTP",
           "EHLO again.example", "MAIL FROM:<s@example.com>", "RCPT TO:<x@elsewhere.example>",
           "XCLIENT NAME=x", "QUIT"]]),
        ({"smtpd_client_restrictions": "reject", "smtpd_delay_reject": "no"},
         [["EHLO client.example", "MAIL FROM:<s@example.com>", "NOOP", "QUIT"]]),
    ]
    for n, (main, scripts) in enumerate(runs):
        ours, _ = ours_replies(tmp_path / str(n), scripts, **main)
        theirs = oracle_replies(tmp_path / str(n), scripts, **main)
        assert ours == theirs, main


def test_policy_service(tmp_path):
    """check_policy_service inet:...: the request attributes and the action."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    requests = []

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            f = conn.makefile("rwb")
            while True:
                attrs = {}
                for line in f:
                    line = line.decode().rstrip("\n")
                    if not line:
                        break
                    k, _, v = line.partition("=")
                    attrs[k] = v
                if not attrs:
                    break
                requests.append(attrs)
                action = "REJECT not today" if attrs.get("recipient", "").startswith("no") else "DUNNO"
                f.write(f"action={action}\n\n".encode())
                f.flush()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    i = smtpd_instance(tmp_path, smtpd_recipient_restrictions=f"check_policy_service inet:127.0.0.1:{port}")
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@example.com>")
        assert c.cmd("RCPT TO:<no@oracle.test>") == \
            "554 5.7.1 <no@oracle.test>: Recipient address rejected: not today"
        assert c.cmd("RCPT TO:<yes@oracle.test>") == "250 2.1.5 Ok"
        c.close()
        r = requests[0]
        assert r["request"] == "smtpd_access_policy"
        assert r["protocol_state"] == "RCPT"
        assert r["protocol_name"] == "ESMTP"
        assert r["helo_name"] == "client.example"
        assert r["sender"] == "s@example.com"
        assert r["recipient"] == "no@oracle.test"
        assert r["client_address"] == "127.0.0.1"
        assert r["client_name"] == "localhost"
    finally:
        srv.close()
        i.cleanup.close()
        i.stop()


def test_real_cleanup_queues_the_message(tmp_path):
    """With the real cleanup service, a 250 means a complete queue file in incoming/."""
    import os
    i = smtpd_instance(tmp_path, with_cleanup=False,
                       master_extra="cleanup unix n - n - 0 cleanup\n")
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@example.com>")
        assert c.cmd("RCPT TO:<u@oracle.test>") == "250 2.1.5 Ok"
        c.cmd("DATA")
        c.send(b"Subject: real\r\n\r\nbody line\r\n.\r\n")
        r = c.reply()[-1]
        m = re.fullmatch(r"250 2\.0\.0 Ok: queued as (\w+)", r)
        assert m, r + i.log_text()
        qid = m.group(1)
        c.cmd("QUIT")
        c.close()
        files = [os.path.join(d, f) for d, _, fs in os.walk(i.spool / "incoming") for f in fs]
        assert any(os.path.basename(f) == qid for f in files), files
        data = open([f for f in files if os.path.basename(f) == qid][0], "rb").read()
        assert b"s@example.com" in data and b"u@oracle.test" in data and b"body line" in data
        assert b"Received: from client.example (localhost [127.0.0.1])" in data
        i.wait_for_log(rf"{qid}: client=localhost\[127\.0\.0\.1\]")
    finally:
        i.stop()


def test_anvil_client_limits(tmp_path):
    i = smtpd_instance(tmp_path, master_extra="anvil unix - - n - 1 anvil\n",
                       smtpd_client_message_rate_limit="1",
                       smtpd_client_recipient_rate_limit="2",
                       smtpd_client_connection_count_limit="1")
    try:
        # smtpd_instance's port probe counts until smtpd has said goodbye.
        i.wait_for_log(r"smtpd\[\d+\]: disconnect from localhost")
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert c.cmd("MAIL FROM:<s@example.com>") == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<a@oracle.test>") == "250 2.1.5 Ok"
        assert c.cmd("RCPT TO:<b@oracle.test>") == "250 2.1.5 Ok"
        assert c.cmd("RCPT TO:<c@oracle.test>") == "450 4.7.1 Error: too many recipients from 127.0.0.1"
        c.cmd("RSET")
        assert c.cmd("MAIL FROM:<s@example.com>") == "450 4.7.1 Error: too much mail from 127.0.0.1"
        # A second connection at the same time is over the count limit.
        c2 = Client(i.port)
        assert c2.banner == ["421 4.7.0 postfix.oracle.test Error: too many connections from 127.0.0.1"]
        c2.close()
        c.close()
        i.wait_for_log(r"warning: Connection concurrency limit exceeded: 2 from localhost\[127\.0\.0\.1\]"
                       r" for service 127\.0\.0\.1:\d+")
        i.wait_for_log(r"warning: Message delivery request rate limit exceeded: 2 from")
    finally:
        i.cleanup.close()
        i.stop()


def test_access_actions_reach_the_envelope(tmp_path):
    import os
    os.chmod(tmp_path, 0o755)
    access = tmp_path / "access"
    access.write_text("hold@oracle.test HOLD\nfilt@oracle.test FILTER smtp:[127.0.0.1]:10025\n"
                      "redir@oracle.test REDIRECT other@oracle.test\n"
                      "prep@oracle.test PREPEND X-Tag: tagged\n")
    (tmp_path / "i").mkdir()
    i = smtpd_instance(tmp_path / "i", smtpd_recipient_restrictions=f"check_recipient_access texthash:{access}")
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<s@example.com>")
        for r in ("hold", "filt", "redir", "prep"):
            assert c.cmd(f"RCPT TO:<{r}@oracle.test>") == "250 2.1.5 Ok"
        c.cmd("DATA")
        c.send(b"Subject: a\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[-1].startswith("250 2.0.0 Ok: queued as")
        c.close()
        msg = i.cleanup.messages[-1]
        assert envelope(msg, "f") == ["4"]
        assert envelope(msg, "L")[0] == "smtp:[127.0.0.1]:10025"
        assert envelope(msg, ">") == ["other@oracle.test"]
        assert "\nX-Tag: tagged\nSubject: a\n" in message_text(msg)
        i.wait_for_log(r"hold: RCPT from localhost\[127\.0\.0\.1\]: <hold@oracle\.test>: "
                       r"Recipient address triggers HOLD action; from=<s@example\.com> "
                       r"to=<hold@oracle\.test> proto=ESMTP helo=<client\.example>")
    finally:
        i.cleanup.close()
        i.stop()


def smtpd_log_lines(text):
    """smtpd's reject and disconnect lines, without time, host, pid, queue ID."""
    out = []
    for line in text.splitlines():
        m = re.search(r"postfix/smtpd\[\d+\]: (.*)$", line)
        if not m:
            continue
        msg = re.sub(r"^[0-9A-F]{6,}: ", "ID: ", m.group(1))
        if "reject" in msg or ("disconnect from" in msg and "commands=0/0" not in msg) \
                or "improper command pipelining" in msg:
            out.append(msg)
    return out


@needs_oracle
def test_log_lines_match_postfix(tmp_path):
    script = [["EHLO client.example", "MAIL FROM:<s@example.com>", "RCPT TO:<x@elsewhere.example>",
               "RCPT TO:<u@oracle.test>", "FOO", "VRFY x@elsewhere.example", "DATA",
               ("data", "Subject: x\n\nbody"), "RSET", "NOOP", "QUIT"],
              ["HELO client.example", ("raw", b"NOOP\r\nNOOP\r\n"), "QUIT"]]
    (tmp_path / "ours").mkdir()
    i = smtpd_instance(tmp_path / "ours", with_cleanup=False,
                       master_extra="cleanup unix n - n - 0 cleanup\n")
    try:
        for s in script:
            run_script(i.port, s)
        i.wait_for_log(r"disconnect from .* ehlo=1")
        i.wait_for_log(r"disconnect from .* helo=1")
        ours = smtpd_log_lines(i.log_text())
    finally:
        i.stop()
    port = postfix_oracle.free_port()
    with PostfixInstance(tmp_path / "oracle", port) as pf:
        settings = {k: v for k, v in COMPARE_MAIN.items()
                    if k not in ("virtual_mailbox_domains", "virtual_mailbox_maps")}
        pf.set_main(default_transport="discard", **settings)
        start_oracle(pf)
        for s in script:
            run_script(port, s)
        for _ in range(50):
            if " helo=1" in pf.log() and " ehlo=1" in pf.log():
                break
            time.sleep(0.1)
        theirs = smtpd_log_lines(pf.log())
    assert sorted(ours) == sorted(theirs)


def test_xforward_and_xclient(tmp_path):
    i = smtpd_instance(tmp_path, smtpd_authorized_xforward_hosts="127.0.0.0/8",
                       smtpd_authorized_xclient_hosts="127.0.0.0/8")
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert c.cmd("XFORWARD NAME=orig.example ADDR=IPV6:2001:db8::1 HELO=orig-helo") == "250 2.0.0 Ok"
        c.cmd("MAIL FROM:<s@example.com>")
        c.cmd("RCPT TO:<u@oracle.test>")
        c.cmd("DATA")
        c.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
        assert c.reply()[-1].startswith("250 2.0.0 Ok: queued as")
        attrs = envelope(i.cleanup.messages[-1], "A")
        assert "log_client_name=orig.example" in attrs
        assert "log_client_address=2001:db8::1" in attrs
        assert "log_helo_name=orig-helo" in attrs
        assert "client_name=localhost" in attrs
        # XCLIENT: the session goes on as the named client.
        assert c.cmd("XCLIENT NAME=spam.example ADDR=192.0.2.1 PROTO=ESMTP") == \
            "220 postfix.oracle.test ESMTP"
        c.cmd("EHLO again.example")
        c.cmd("MAIL FROM:<s@example.com>")
        c.cmd("RCPT TO:<x@elsewhere.example>")
        c.cmd("QUIT")
        c.close()
        i.wait_for_log(r"NOQUEUE: reject: RCPT from spam\.example\[192\.0\.2\.1\]: 454 4\.7\.1")
        i.wait_for_log(r"disconnect from spam\.example\[192\.0\.2\.1\] ")
    finally:
        i.cleanup.close()
        i.stop()


def test_full_queue_file_system(tmp_path):
    """Less free space than queue_minfree: 452 4.3.1 at MAIL FROM."""
    i = smtpd_instance(tmp_path, queue_minfree="1000000000000000000")
    try:
        c = Client(i.port)
        c.cmd("EHLO client.example")
        assert c.cmd("MAIL FROM:<s@example.com>") == "452 4.3.1 Insufficient system storage"
        c.close()
        i.wait_for_log(r"warning: not enough free space in mail queue")
    finally:
        i.cleanup.close()
        i.stop()
