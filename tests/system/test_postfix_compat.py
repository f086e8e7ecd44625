# ctest-timeout: 300
"""postfix and master log what Postfix logs for the same commands, with the
same exit codes: both run side by side, Debian's Postfix as the oracle."""
import os
import re
import shutil
import tempfile
import time

import pytest

import postfix_oracle
from instance import Instance, free_port
from postfix_oracle import PostfixInstance

SEQUENCE = ["status", "start", "start", "status", "reload", "stop", "stop", "status"]
TAGS = ("postfix/postfix-script", "postfix/master")


def normalize(log, config_dir):
    """The control messages of a maillog, without time, host, pids and versions."""
    out = []
    for line in log.splitlines():
        m = re.match(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ (\S+?)\[\d+\]: (.*)$", line)
        if not m or m.group(1) not in TAGS:
            continue
        text = m.group(2).replace(str(config_dir), "CONFIG")
        text = re.sub(r"PID: \d+", "PID: N", text)
        text = re.sub(r"version \S+,", "version V,", text)
        if text.startswith("warning:"):
            continue  # instance-specific (missing daemons, ownership details)
        out.append(f"{m.group(1)}: {text}")
    return out


def run_sequence(command, read_log, config_dir):
    codes = []
    for step in SEQUENCE:
        codes.append(command(step).returncode)
        time.sleep(0.5 if step in ("start", "reload") else 0.1)
    # The last status is logged twice as "not running" in all (once at the start).
    deadline = time.monotonic() + 15
    while read_log().count("mail system is not running\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    return codes, normalize(read_log(), config_dir)


def test_control_commands_match_postfix(tmp_path):
    if not postfix_oracle.available():
        pytest.skip("Debian's Postfix is not installed or we are not root")
    # Not under tmp_path: concurrent pytest sessions reset its base to 0700,
    # which the postfix user then cannot cross.
    base = tempfile.mkdtemp(prefix="postern-oracle-")
    os.chmod(base, 0o755)
    try:
        with PostfixInstance(base, free_port()) as pf, Instance(tmp_path) as ours:
            oracle_codes, oracle_log = run_sequence(
                lambda step: pf.command("postfix", step), pf.log, pf.etc)
            pf.started = False
            our_codes, our_log = run_sequence(lambda step: ours.postfix(step), ours.log_text,
                                              ours.etc)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert our_codes == oracle_codes == [1, 0, 1, 0, 0, 0, 1, 1]
    # Postfix loses the lines logged while it stops (postlogd is stopped with
    # everything else; with syslog they appear); Postern's master writes its
    # own lines. "waiting for ..." depends on timing. Neither is compared.
    def comparable(lines):
        return [l for l in lines if not l.endswith(("waiting for the Postfix mail system to terminate",
                                                    "stopping the Postfix mail system",
                                                    "terminating on signal 15"))]
    assert "postfix/postfix-script: stopping the Postfix mail system" in our_log
    assert "postfix/master: terminating on signal 15" in our_log
    assert comparable(our_log) == comparable(oracle_log)
