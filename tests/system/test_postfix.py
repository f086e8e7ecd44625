# ctest-timeout: 300
"""master and the postfix command on a real instance: start/stop/status/reload,
services spawned on demand by master (the test-echo service), limits,
crashes, throttling, reload of listeners, postfix check, privilege drop."""
import os
import pwd
import signal
import socket
import time

import pytest

from instance import BIN, Instance, process_alive, wait_until

ROOT = os.geteuid() == 0

# postlogd carries the children's log lines to maillog_file.
POSTLOG = "postlog   unix-dgram n  -       n       -       1       postlogd\n"


class Echo:
    """A client of test-echo: a greeting "ready PID", then one line per command."""

    def __init__(self, sock):
        self.sock = sock
        self.file = sock.makefile("rw")
        greeting = self.file.readline().strip()
        assert greeting.startswith("ready "), greeting
        self.pid = int(greeting.split()[1])

    def ask(self, command):
        self.file.write(command + "\n")
        self.file.flush()
        return self.file.readline().strip()

    def close(self):
        self.file.close()
        self.sock.close()


@pytest.fixture
def inst(tmp_path):
    with Instance(tmp_path) as i:
        i.set_main(service_throttle_time="2s")
        yield i


def echo_instance(inst, extra=""):
    inst.write_master_cf(POSTLOG + "echo      unix  -       -       n       -       2       test-echo\n" + extra)
    inst.start()


def test_start_status_stop(inst):
    echo_instance(inst)
    r = inst.postfix("status")
    assert r.returncode == 0
    pid = inst.master_pid()
    assert f"postfix/postfix-script: the Postfix mail system is running: PID: {pid}" in r.stderr
    r = inst.postfix("start")
    assert r.returncode == 1
    assert "fatal: the Postfix mail system is already running" in r.stderr
    inst.wait_for_log(r"postfix/master\[\d+\]: daemon started -- version")
    # The queue tree was created by start, with master's pid files.
    for d in ("incoming", "active", "deferred", "hold", "maildrop", "public", "private", "pid"):
        assert (inst.spool / d).is_dir()
    assert (inst.spool / "pid" / "master.pid").read_text() == f"{pid:>32}\n"

    r = inst.postfix("stop")
    assert r.returncode == 0, r.stderr
    assert "stopping the Postfix mail system" in r.stderr
    assert not process_alive(pid)
    r = inst.postfix("status")
    assert r.returncode == 1
    assert "the Postfix mail system is not running" in r.stderr
    r = inst.postfix("stop")
    assert r.returncode == 1
    assert "fatal: the Postfix mail system is not running" in r.stderr
    inst.wait_for_log(r"terminating on signal 15")


def test_usage_errors(inst):
    r = inst.postfix("frobnicate")
    assert r.returncode == 1
    assert "fatal: unknown command: 'frobnicate'" in r.stderr
    r = inst.postfix("reload")
    assert r.returncode == 1
    assert "the Postfix mail system is not running" in r.stderr


def test_spawn_on_demand_and_process_limit(inst):
    echo_instance(inst)
    # Nothing runs for "echo" until a client comes (postlogd may run).
    assert not any("test-echo" in _cmdline(p) for p in inst.children())
    first = Echo(inst.connect_unix("echo"))
    second = Echo(inst.connect_unix("echo"))
    assert first.pid != second.pid
    assert first.ask("service") == "echo unix"
    # maxproc 2: the third client waits until one of the two leaves.
    third_sock = inst.connect_unix("echo", timeout=1.0)
    with pytest.raises(socket.timeout):
        third_sock.recv(100)
    inst.wait_for_log(r'warning: service "echo" \(private/echo\) has reached its process limit "2"')
    first.close()
    third_sock.settimeout(10)
    third = Echo(third_sock)
    assert third.pid != second.pid
    assert third.ask("echo hi") == "hi"
    second.close()
    third.close()


def test_restart_after_crash(inst):
    echo_instance(inst)
    c = Echo(inst.connect_unix("echo"))
    crashed = c.pid
    assert c.ask("crash") == ""
    inst.wait_for_log(rf"warning: process \S+/test-echo pid {crashed} killed by signal 6")
    d = Echo(inst.connect_unix("echo"))
    assert d.pid != crashed
    assert d.ask("echo again") == "again"
    d.close()
    # A crash after serving is not a start-up failure: no throttling.
    assert "bad command startup" not in inst.log_text()


def test_sigkilled_child_is_replaced_and_listener_kept(inst):
    echo_instance(inst)
    c = Echo(inst.connect_unix("echo"))
    assert c.ask("pid") == str(c.pid)
    c.close()
    os.kill(c.pid, signal.SIGKILL)
    inst.wait_for_log(rf"pid {c.pid} killed by signal 9")
    d = Echo(inst.connect_unix("echo"))
    assert d.pid != c.pid
    assert d.ask("echo still here") == "still here"
    d.close()


def test_service_crashing_at_start_is_throttled(inst):
    echo_instance(inst, "bad       unix  -       -       n       -       1       test-echo crash-at-start\n")
    s = inst.connect_unix("bad")
    inst.wait_for_log(r"warning: process \S+/test-echo pid \d+ exit status 1")
    inst.wait_for_log(r"warning: \S+/test-echo: bad command startup -- throttling")
    # After service_throttle_time (2s) master tries again, and throttles again.
    inst.wait_for_log(r"bad command startup -- throttling", timeout=15, count=2)
    s.close()
    # Other services are unaffected.
    e = Echo(inst.connect_unix("echo"))
    assert e.ask("echo ok") == "ok"
    e.close()


def test_missing_program_is_reported(inst):
    echo_instance(inst, "ghost     unix  -       -       n       -       -       no-such-daemon\n")
    inst.wait_for_log(r"warning: \S+master.cf: line \d+: service ghost \(unix\): cannot execute "
                      r"\S+/no-such-daemon: No such file or directory")
    s = inst.connect_unix("ghost")
    inst.wait_for_log(r"fatal: spawn: exec \S+/no-such-daemon: No such file or directory")
    inst.wait_for_log(r"no-such-daemon: bad command startup -- throttling")
    s.close()


def test_port_in_use_fails_start(inst):
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", inst.port))
    busy.listen(1)
    try:
        inst.write_master_cf(POSTLOG + f"127.0.0.1:{inst.port} inet n - n - - test-echo\n")
        r = inst.postfix("start")
        assert r.returncode == 1
        assert "fatal: mail system startup failed" in r.stderr
        assert f"fatal: bind 127.0.0.1 port {inst.port}: Address already in use" in r.stderr
        inst.wait_for_log(rf"postfix/master\[\d+\]: fatal: bind 127.0.0.1 port {inst.port}: "
                          r"Address already in use")
        assert inst.postfix("status").returncode == 1
    finally:
        busy.close()


def test_inet_service(inst):
    inst.write_master_cf(POSTLOG + f"127.0.0.1:{inst.port} inet n - n - - test-echo\n")
    inst.start()
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    c = Echo(s)
    assert c.ask("service") == f"127.0.0.1:{inst.port} inet"
    c.close()


def test_reload_adds_and_removes_listeners(inst):
    inst.write_master_cf(POSTLOG + "echo      unix  -       -       n       -       2       test-echo\n"
                         f"127.0.0.1:{inst.port} inet n - n - - test-echo\n")
    inst.start()
    old = Echo(inst.connect_unix("echo"))
    assert old.ask("echo before") == "before"
    inst.write_master_cf(POSTLOG + "echo2     unix  -       -       n       -       2       test-echo\n"
                         f"127.0.0.1:{inst.port} inet n - n - - test-echo\n")
    r = inst.postfix("reload")
    assert r.returncode == 0
    assert "refreshing the Postfix mail system" in r.stderr
    inst.wait_for_log(r"reload -- version")
    # The old child finishes its client; the removed service takes no new ones.
    assert old.ask("echo during") == "during"
    old.close()
    wait_until(lambda: not _connects(inst, "echo"), 5, what="echo listener closed")
    new = Echo(inst.connect_unix("echo2"))
    assert new.ask("service") == "echo2 unix"
    new.close()
    # The inet listener was kept across the reload.
    c = Echo(socket.create_connection(("127.0.0.1", inst.port), timeout=10))
    assert c.ask("echo kept") == "kept"
    c.close()
    # Old-generation processes exit once idle.
    wait_until(lambda: not process_alive(old.pid), 10, what="old child exit")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _connects(inst, name):
    try:
        s = inst.connect_unix(name, timeout=1)
        s.close()
        return True
    except OSError:
        return False


def test_wakeup_triggers_service(inst):
    inst.write_master_cf(POSTLOG + "tick      unix  n       -       n       1       1       test-echo trigger\n")
    inst.start()
    inst.wait_for_log(r"postfix/test-echo\[\d+\]: trigger: W", timeout=10, count=2)
    assert "process limit" not in inst.log_text()


def test_stop_leaves_no_process(inst):
    echo_instance(inst)
    clients = [Echo(inst.connect_unix("echo")) for _ in range(2)]
    pids = [c.pid for c in clients]
    master = inst.master_pid()
    children = inst.children()
    assert set(pids) <= set(children)
    r = inst.postfix("stop")
    assert r.returncode == 0
    for pid in children + [master]:
        wait_until(lambda: not process_alive(pid), 10, what=f"pid {pid} gone")
    for c in clients:
        c.close()


def test_abort(inst):
    echo_instance(inst)
    c = Echo(inst.connect_unix("echo"))
    master = inst.master_pid()
    r = inst.postfix("abort")
    assert r.returncode == 0
    assert "aborting the Postfix mail system" in r.stderr
    wait_until(lambda: not process_alive(master), 10, what="master gone")
    wait_until(lambda: not process_alive(c.pid), 10, what="child gone")
    c.close()


def test_check_reports_broken_permission(inst):
    assert inst.postfix("check").returncode == 0  # creates the queue tree
    incoming = inst.spool / "incoming"
    os.chmod(incoming, 0o777)
    r = inst.postfix("check")
    assert r.returncode == 0
    assert f"postfix/postfix-script: warning: group or other writable: {incoming}" in r.stderr
    stray = inst.spool / "deferred" / "stray"
    stray.write_text("x")
    if ROOT:
        os.chown(stray, 0, 0)
        r = inst.postfix("check")
        assert f"warning: not owned by postern: {stray}" in r.stderr
    r = inst.postfix("set-permissions")
    assert r.returncode == 0
    assert oct(incoming.stat().st_mode & 0o777) == oct(0o700)
    assert "group or other writable" not in inst.postfix("check").stderr


def test_check_creates_missing_directories(inst):
    r = inst.postfix("check")
    assert r.returncode == 0, r.stderr
    expect = {"maildrop": 0o730, "public": 0o710, "private": 0o700, "incoming": 0o700,
              "pid": 0o755, "corrupt": 0o700, "flush": 0o700, "saved": 0o700}
    for name, mode in expect.items():
        st = (inst.spool / name).stat()
        assert st.st_mode & 0o777 == mode, name
        if ROOT:
            owner = pwd.getpwuid(st.st_uid).pw_name
            assert owner == ("root" if name == "pid" else "postern"), name


@pytest.mark.skipif(not ROOT, reason="privilege separation needs root")
def test_children_run_as_mail_owner_and_chroot_sees_queue_only(inst):
    inst.write_master_cf(POSTLOG +
                         "echo      unix  -       -       n       -       2       test-echo\n"
                         "jail      unix  -       -       y       -       2       test-echo\n"
                         "rooted    unix  -       n       n       -       2       test-echo\n")
    inst.start()
    postern = pwd.getpwnam("postern")
    c = Echo(inst.connect_unix("echo"))
    assert c.ask("whoami") == f"uid={postern.pw_uid} gid={postern.pw_gid}"
    assert c.ask("cwd") == str(inst.spool)
    c.close()
    j = Echo(inst.connect_unix("jail"))
    assert j.ask("whoami") == f"uid={postern.pw_uid} gid={postern.pw_gid}"
    assert j.ask("cwd") == "/"
    assert set(j.ask("ls /").split()) == {p.name for p in inst.spool.iterdir()}
    # Inside the jail the service still logs, through postlogd.
    assert j.ask("log hello from the jail") == "logged"
    inst.wait_for_log(r"postfix/test-echo\[\d+\]: hello from the jail")
    j.close()
    r = Echo(inst.connect_unix("rooted"))
    assert r.ask("whoami") == "uid=0 gid=0"
    r.close()
    # Master itself stays root; its sockets belong to mail_owner.
    assert os.stat(inst.socket_path("echo")).st_uid == postern.pw_uid


def test_logrotate(inst):
    echo_instance(inst)
    inst.wait_for_log(r"daemon started")
    subprocess_run = __import__("subprocess").run
    subprocess_run([str(BIN / "postlog"), "-c", str(inst.etc), "-t", "postfix/script", "before rotation"],
                   check=True, timeout=30)
    inst.wait_for_log(r"postfix/script\[\d+\]: before rotation")
    r = inst.postfix("logrotate")
    assert r.returncode == 0, r.stderr
    rotated = [p for p in inst.maillog.parent.iterdir() if p.name.startswith("maillog.")]
    assert len(rotated) == 1 and rotated[0].name.endswith(".gz")
    subprocess_run([str(BIN / "postlog"), "-c", str(inst.etc), "after rotation"], check=True, timeout=30)
    inst.wait_for_log(r"postfix/postlog\[\d+\]: after rotation")
    assert "before rotation" not in inst.log_text()


@pytest.mark.skipif(not ROOT, reason="needs root to become another user")
def test_unprivileged_instance_runs_as_invoking_user(tmp_path):
    """Started by a user who is not root, the whole instance runs as that user."""
    with Instance(tmp_path, user="postern") as inst:
        postern = pwd.getpwnam("postern")
        main_cf = (inst.etc / "main.cf").read_text()
        assert "mail_owner = postern" in main_cf
        inst.write_master_cf(POSTLOG +
                             "echo      unix  -       -       y       -       2       test-echo\n")
        inst.start()
        master = inst.master_pid()
        assert os.stat(f"/proc/{master}").st_uid == postern.pw_uid
        c = Echo(inst.connect_unix("echo"))
        assert c.ask("whoami") == f"uid={postern.pw_uid} gid={postern.pw_gid}"
        # No chroot without root: the service still sees the whole file system.
        assert c.ask("cwd") == str(inst.spool)
        c.close()
        assert (inst.spool / "pid").stat().st_uid == postern.pw_uid
        inst.wait_for_log(r"postfix/master\[\d+\]: daemon started")
        r = inst.postfix("stop")
        assert r.returncode == 0, r.stderr
        wait_until(lambda: not process_alive(master), 10, what="master gone")


def test_multi_client_server(inst):
    echo_instance(inst, "multi     unix  -       -       n       -       2       test-echo multi\n")
    # One process serves clients at the same time, and stays available to
    # master while it does: a second client does not make master fork again.
    a = Echo(inst.connect_unix("multi"))
    b = Echo(inst.connect_unix("multi"))
    assert b.pid == a.pid
    assert b.ask("echo two") == "two"
    assert a.ask("echo one") == "one"
    a.close()
    b.close()
    c = Echo(inst.connect_unix("multi"))
    assert c.pid == a.pid
    c.close()


def test_multi_client_server_max_use(inst):
    echo_instance(inst, "multi     unix  -       -       n       -       2       test-echo "
                        "-o max_use=2 multi\n")
    a = Echo(inst.connect_unix("multi"))
    b = Echo(inst.connect_unix("multi"))
    assert a.pid == b.pid
    # Used up: the next client gets a new process while the old one finishes.
    c = Echo(inst.connect_unix("multi"))
    assert c.pid != a.pid
    assert a.ask("echo still") == "still"
    a.close()
    b.close()
    wait_until(lambda: not process_alive(a.pid), 10, what="used-up process exit")
    c.close()


def test_pass_service_gets_the_passed_descriptor(inst):
    echo_instance(inst, "handoff   pass  -       -       n       -       1       test-echo\n")
    ours, theirs = socket.socketpair()
    carrier = inst.connect_unix("handoff")
    socket.send_fds(carrier, [b"x"], [theirs.fileno()])
    theirs.close()
    carrier.close()
    ours.settimeout(10)
    c = Echo(ours)
    assert c.ask("service") == "handoff pass"
    c.close()


def test_fifo_wakeup(inst):
    inst.write_master_cf(POSTLOG + "tickf     fifo  n       -       n       1       1       test-echo trigger\n")
    inst.start()
    assert (inst.spool / "public" / "tickf").is_fifo()
    inst.wait_for_log(r"postfix/test-echo\[\d+\]: trigger: W", timeout=10, count=2)


def test_max_use_and_max_idle(inst):
    echo_instance(inst, "used      unix  -       -       n       -       1       test-echo -o max_use=2\n"
                        "idle      unix  -       -       n       -       1       test-echo -o max_idle=1s\n")
    a = Echo(inst.connect_unix("used"))
    a.close()
    b = Echo(inst.connect_unix("used"))
    assert b.pid == a.pid
    assert b.ask("config max_use") == "2"
    b.close()
    # Two clients served: that process exits, and the next client gets a new one.
    wait_until(lambda: not process_alive(a.pid), 10, what="max_use exit")
    c = Echo(inst.connect_unix("used"))
    assert c.pid != a.pid
    c.close()
    d = Echo(inst.connect_unix("idle"))
    d.close()
    wait_until(lambda: not process_alive(d.pid), 10, what="max_idle exit")
    # Exits for max_use/max_idle are normal: nothing is logged as abnormal.
    assert f"pid {a.pid} exit status" not in inst.log_text()


def test_start_fg(inst):
    inst.write_master_cf(POSTLOG + "echo      unix  -       -       n       -       2       test-echo\n")
    import subprocess
    fg = subprocess.Popen([str(BIN / "postfix"), "-c", str(inst.etc), "start-fg"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: inst.master_pid() == fg.pid, 10, what="master in the foreground")
        inst.wait_for_log(r"daemon started")  # its listeners are open
        c = Echo(inst.connect_unix("echo"))
        assert c.ask("echo fg") == "fg"
        c.close()
        assert inst.postfix("stop").returncode == 0
        assert fg.wait(timeout=15) == 0
        assert "postfix/master: daemon started" in fg.stderr.read()
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()


def test_reload_moves_inet_listener_to_new_interface(inst):
    inst.write_master_cf(POSTLOG + f"{inst.port} inet n - n - - test-echo\n")
    inst.start()
    c = Echo(socket.create_connection(("127.0.0.1", inst.port), timeout=10))
    c.close()
    inst.set_main(inet_interfaces="127.0.0.2")
    assert inst.postfix("reload").returncode == 0
    inst.wait_for_log(r"reload -- version")
    c = Echo(wait_until(lambda: _try_connect(("127.0.0.2", inst.port)), 10, what="new listener"))
    assert c.ask("echo moved") == "moved"
    c.close()
    wait_until(lambda: not _try_connect(("127.0.0.1", inst.port)), 10, what="old listener closed")


def _try_connect(addr):
    try:
        return socket.create_connection(addr, timeout=5)
    except OSError:
        return None


def test_maillog_file_needs_postlog_service(inst):
    inst.write_master_cf("echo      unix  -       -       n       -       2       test-echo\n")
    r = inst.postfix("start")
    assert r.returncode == 1
    assert ("fatal: missing 'postlog' service in master.cf - "
            "run 'postfix upgrade-configuration'") in r.stderr
    assert inst.postfix("upgrade-configuration").returncode == 0
    assert "postlog   unix-dgram" in (inst.etc / "master.cf").read_text()
    inst.start()


def test_flush_triggers_qmgr(inst):
    inst.write_master_cf(POSTLOG + "qmgr      unix  n       -       n       -       1       test-echo trigger\n")
    r = inst.postfix("flush")
    assert r.returncode == 1
    assert "fatal: Cannot flush mail queue - mail system is down" in r.stderr
    inst.start()
    r = inst.postfix("flush")
    assert r.returncode == 0, r.stderr
    inst.wait_for_log(r"postfix/test-echo\[\d+\]: trigger: FADI")


def test_relative_config_directory(inst):
    inst.write_master_cf(POSTLOG + "echo      unix  -       -       n       -       2       test-echo\n")
    import subprocess
    r = subprocess.run([str(BIN / "postfix"), "-c", "etc", "start"], cwd=inst.dir,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert inst.postfix("reload").returncode == 0
    inst.wait_for_log(rf"reload -- version \S+, configuration {inst.etc}\n")
    c = Echo(inst.connect_unix("echo"))
    assert c.ask("echo relative") == "relative"
    c.close()


def test_bad_master_cf(inst):
    inst.write_master_cf(POSTLOG + "echo unix - - n - 2 test-echo\nbroken tcp - - n - - test-echo\n")
    r = inst.postfix("start")
    assert r.returncode == 1
    assert "master.cf: line 3" in r.stderr, r.stderr
    # A mistake made while running is reported, and master keeps the old configuration.
    inst.write_master_cf(POSTLOG + "echo unix - - n - 2 test-echo\n")
    inst.start()
    inst.write_master_cf(POSTLOG + "echo unix - - n - 2 test-echo\n127.0.0.1:99999 inet n - n - - x\n")
    assert inst.postfix("reload").returncode == 0
    inst.wait_for_log(r"master\[\d+\]: error: \S+master.cf: line 3: bad port number: 99999 -- "
                      r"keeping the old configuration")
    c = Echo(inst.connect_unix("echo"))
    assert c.ask("echo alive") == "alive"
    c.close()


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_inet_interfaces_loopback_only_listens_on_both_families(inst):
    inst.set_main(inet_interfaces="loopback-only", inet_protocols="all")
    inst.write_master_cf(POSTLOG + f"{inst.port} inet n - n - - test-echo\n")
    inst.start()
    for addr in (("127.0.0.1", inst.port), ("::1", inst.port)):
        c = Echo(socket.create_connection(addr, timeout=10))
        assert c.ask("service") == f"{inst.port} inet"
        c.close()
    # One process gets both listeners (-s 2).
    assert any("-s 2" in _cmdline(p).replace("\0", " ") for p in inst.children())


def test_start_fg_logs_to_stdout(inst):
    """The container set-up: postfix start-fg with maillog_file = /dev/stdout."""
    import subprocess
    inst.set_main(maillog_file="/dev/stdout")
    inst.write_master_cf(POSTLOG + "echo      unix  -       -       n       -       2       test-echo\n")
    out = inst.dir / "stdout"
    with open(out, "w") as sink:
        fg = subprocess.Popen([str(BIN / "postfix"), "-c", str(inst.etc), "start-fg"],
                              stdout=sink, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: "daemon started" in out.read_text(), 10, what="master's log on stdout")
        c = Echo(inst.connect_unix("echo"))
        assert c.ask("log via postlogd") == "logged"
        c.close()
        wait_until(lambda: "postfix/test-echo" in out.read_text(), 10, what="a child's log on stdout")
        assert inst.postfix("stop").returncode == 0
        assert fg.wait(timeout=15) == 0
        assert not inst.maillog.exists()
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()
