#!/usr/bin/python3
"""Queue drain: N messages waiting in incoming/ are delivered to virtual
Maildirs; time to empty the queue and qmgr's peak memory (VmHWM), for
Postern and for Debian's Postfix on the same machine, same run.

    bench/delivery/bench_drain.py [--bin build/bin] [--messages 10000]

Both get identical queue files written by tests/queue-inject (the format
is Postfix's), one recipient each spread over 100 Maildirs. Run as root.
Not part of ctest. (The README's 100,000-message figure: --messages 100000.)
"""
import argparse
import os
import pathlib
import pwd
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))
sys.path.insert(0, str(ROOT / "bench"))
from cpuacct import CpuGroup, proc_cpu_seconds  # noqa: E402

BODY = "Received: from bench\nSubject: bench\n\n" + "x" * 70 + "\n" * 20


def queue_empty(spool):
    for q in ("incoming", "active"):
        d = spool / q
        if d.is_dir() and any(p.is_file() for p in d.rglob("*")):
            return False
    return True


def hwm_kb(pid):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def qmgr_pid(master_pid):
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            comm = (p / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "qmgr" and int(stat.rsplit(")", 1)[1].split()[1]) == master_pid:
            return int(p.name)
    return None


def drain(name, etc, spool, start, trigger, master_pid_file, n, inject, log=""):
    r = subprocess.run([str(inject), "-c", str(etc), "-n", "-N", str(n), "-f", "bench@example.com",
                        "u%n@demo.test"], input=BODY, text=True, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"{name}: queue-inject: {r.stderr}")
    group = CpuGroup(name)
    t0 = time.perf_counter()
    with group.entered():
        start()
    trigger()
    peak = 0
    q = None
    while not queue_empty(spool):
        try:
            mpid = int(master_pid_file.read_text().strip())
            q = qmgr_pid(mpid)
            if q:
                peak = max(peak, hwm_kb(q))
        except (OSError, ValueError):
            pass
        # Listing a big queue costs CPU too: look less often then.
        time.sleep(0.05 if n <= 10000 else 0.5)
    elapsed = time.perf_counter() - t0
    cpu = group.seconds()
    qcpu = proc_cpu_seconds(q) if q else None
    group.remove()
    if os.environ.get("BENCH_DEBUG"):
        os.system(f"grep -v 'cannot execute' {log} | grep -v 'smtp\|removed' | head -12")
    print(f"{name:8} {n} messages drained in {elapsed:.1f}s ({n / elapsed:.0f}/s), "
          f"qmgr VmHWM {peak / 1024:.1f} MiB"
          + (f", CPU {cpu:.1f}s in all ({cpu / n * 1e3:.2f} ms/message)" if cpu else "")
          + (f", qmgr CPU {qcpu:.2f}s" if qcpu is not None else ""))
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--only", choices=("postern", "postfix"), help="run one side only")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (Postfix's instance needs it)")
    bin_dir = pathlib.Path(args.bin).resolve()
    inject = bin_dir.parent / "tests" / "queue-inject"
    from postfix_oracle import PostfixInstance, free_port
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        tmp = pathlib.Path(tmp)
        os.chmod(tmp, 0o755)
        ours = theirs = None
        # Postern
        inst = tmp / "postern"
        subprocess.run([str(ROOT / "tools" / "make-instance"), "--dir", str(inst), "--port",
                        str(free_port()), "--bin", str(bin_dir)], check=True)
        etc = inst / "etc"
        # Postfix's virtual refuses regexp substitution in
        # virtual_mailbox_maps, so both get the same explicit table.
        table = "".join(f"u{i}@demo.test u{i}/\n" for i in range(100))
        (etc / "vbench").write_text(table)
        with open(etc / "main.cf", "a") as f:
            f.write(f"virtual_mailbox_maps = texthash:{etc}/vbench\n")
        subprocess.run([str(bin_dir / "postfix"), "-c", str(etc), "check"], capture_output=True)

        def p_trigger():
            import socket
            for _ in range(100):
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(str(inst / "spool" / "public" / "qmgr"))
                        s.sendall(b"I")
                    return
                except OSError:
                    time.sleep(0.1)
        try:
            if args.only != "postfix":
                ours = drain("postern", etc, inst / "spool",
                         lambda: subprocess.run([str(bin_dir / "postfix"), "-c", str(etc), "start"],
                                                check=True, capture_output=True),
                         p_trigger, inst / "spool" / "pid" / "master.pid", args.messages, inject,
                         inst / "log" / "maillog")
        finally:
            subprocess.run([str(bin_dir / "postfix"), "-c", str(etc), "stop"], capture_output=True)
        if args.only == "postern":
            return
        # Postfix
        pf = PostfixInstance(tmp, free_port())
        mail = tmp / "postfix-mail"
        mail.mkdir()
        pw = pwd.getpwnam("postfix")
        os.chown(mail, pw.pw_uid, pw.pw_gid)
        (pf.etc / "vbench").write_text(table)
        pf.set_main(virtual_mailbox_domains="demo.test", virtual_mailbox_base=str(mail),
                    virtual_mailbox_maps=f"texthash:{pf.etc}/vbench",
                    virtual_uid_maps=f"static:{pw.pw_uid}", virtual_gid_maps=f"static:{pw.pw_gid}",
                    virtual_minimum_uid="1")
        pf.command("postfix", "check")
        try:
            theirs = drain("postfix", pf.etc, pf.spool, pf.start, lambda: None,
                           pf.spool / "pid" / "master.pid", args.messages, inject, pf.maillog)
        finally:
            pf.stop()
        if ours:
            print(f"ratio postern/postfix drain time: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
