# ctest-timeout: 120
"""The flush service on its own: its protocol, eligibility per
fast_flush_domains, bad requests, and the log kept per site."""
import os

import pytest

from instance import Instance, wait_until
from qadmin_helpers import (TriggerSink, attr0_request, find_queue_file, mail_owner,
                            start_qadmin_instance, write_queue_file)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="queue files are written as mail_owner")


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        start_qadmin_instance(i, fast_flush_domains="example.com, .sub.example.net")
        yield i


def ask(inst, *pairs):
    return attr0_request(inst.spool / "public" / "flush", list(pairs))[1]


def test_requests(inst):
    owner = mail_owner(inst)
    a = write_queue_file(inst.spool, "deferred", "s@x.test", ["r@example.com"], owner=owner)
    b = write_queue_file(inst.spool, "deferred", "s@x.test", ["r@a.sub.example.net"], owner=owner)
    gone = "ABCDE12345"
    assert ask(inst, ("request", "add"), ("site", "example.com"), ("queue_id", a)) == {"status": "0"}
    assert ask(inst, ("request", "add"), ("site", "example.com"), ("queue_id", a)) == {"status": "0"}
    assert ask(inst, ("request", "add"), ("site", "example.com"), ("queue_id", gone)) == {"status": "0"}
    assert ask(inst, ("request", "add"), ("site", "a.sub.example.net"), ("queue_id", b)) == {"status": "0"}
    assert ask(inst, ("request", "add"), ("site", "sub.example.net"), ("queue_id", b)) == {"status": "4"}
    assert ask(inst, ("request", "add"), ("site", "../etc"), ("queue_id", b)) == {"status": "3"}
    assert ask(inst, ("request", "add"), ("site", "example.com"), ("queue_id", "bad/id")) == {"status": "3"}
    assert ask(inst, ("request", "frob")) == {"status": "3"}
    qmgr = TriggerSink(inst.spool / "public" / "qmgr")
    try:
        assert ask(inst, ("request", "send_site"), ("site", "EXAMPLE.com")) == {"status": "0"}
        assert find_queue_file(inst.spool, a) == "incoming"
        # The log keeps what is still queued, once.
        assert (inst.spool / "flush" / "example.com").read_text() == a + "\n"
        assert ask(inst, ("request", "purge")) == {"status": "0"}
        assert find_queue_file(inst.spool, b) == "incoming"
        wait_until(lambda: qmgr.received.count(b"I") >= 2, 5, what="qmgr triggers")
    finally:
        qmgr.close()
    inst.wait_for_log(r'flush\[\d+\]: warning: unrecognized request: "frob"')
