#!/usr/bin/python3
"""End to end: Debian's smtp-source sends N messages over S parallel SMTP
sessions into Postern and into Debian's Postfix (same machine, same run);
each message is delivered by virtual to a Maildir. The figure is messages
per second from the first connection until the last message is in its
Maildir, for each, and the ratio.

    bench/delivery/bench_e2e.py [--bin build/bin] [--messages 10000] [--sessions 20]

The recipients cycle over 100 mailboxes (smtp-source -N numbers them).
Run as root. Not part of ctest; it stops by itself (--timeout per side).
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
from cpuacct import CpuGroup  # noqa: E402
SMTP_SOURCE = "/usr/sbin/smtp-source"
BOXES = 100


def table(n):
    # smtp-source -N makes recipients "<seq>u@demo.test", seq from 1 on.
    return "".join(f"{i}u@demo.test b{i % BOXES}/\n" for i in range(1, n + 1))


def delivered(mail):
    return sum(1 for p in mail.glob("b*/new/*"))


def run_side(name, port, mail, args):
    cmd = [SMTP_SOURCE, "-d", "-N", "-s", str(args.sessions), "-m", str(args.messages),
           "-l", str(args.size), "-f", "bench@example.com", "-t", "u@demo.test",
           "-M", "bench.example.com", f"127.0.0.1:{port}"]
    t0 = time.perf_counter()
    src = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = t0 + args.timeout
    sent_at = None
    while time.perf_counter() < deadline:
        if sent_at is None and src.poll() is not None:
            sent_at = time.perf_counter() - t0
        if delivered(mail) >= args.messages:
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    if src.poll() is None:
        src.kill()
    got = delivered(mail)
    if sent_at is None:
        sent_at = elapsed
    print(f"{name:8} {args.messages} messages: sent in {sent_at:.1f}s, all delivered in "
          f"{elapsed:.1f}s ({got / elapsed:.0f}/s end to end), {got} in Maildirs")
    if got < args.messages:
        print(f"{name}: warning: only {got} of {args.messages} delivered before the timeout")
    return elapsed if got >= args.messages else None


def show_children(pid_file):
    """CPU seconds of the live processes under master, by name (debugging)."""
    from cpuacct import proc_cpu_seconds
    master = int(pid_file.read_text().strip())
    by_name = {}
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            comm = (p / "comm").read_text().strip()
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master:
            n, t = by_name.get(comm, (0, 0.0))
            by_name[comm] = (n + 1, t + (proc_cpu_seconds(int(p.name)) or 0))
    print("live processes: " + ", ".join(f"{k} x{n} {t:.2f}s" for k, (n, t) in sorted(by_name.items())))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=1000, help="message length (smtp-source -l)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed per side")
    ap.add_argument("--only", choices=("postern", "postfix"), help="run one side only")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (Postfix's instance needs it)")
    bin_dir = pathlib.Path(args.bin).resolve()
    from postfix_oracle import PostfixInstance, free_port, wait_for_port
    ours = theirs = None
    group_p, group_f = CpuGroup("postern"), CpuGroup("postfix")
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        tmp = pathlib.Path(tmp)
        os.chmod(tmp, 0o755)
        if args.only != "postfix":
            inst = tmp / "postern"
            port = free_port()
            subprocess.run([str(ROOT / "tools" / "make-instance"), "--dir", str(inst), "--port",
                            str(port), "--bin", str(bin_dir)], check=True)
            etc = inst / "etc"
            (etc / "vbench").write_text(table(args.messages))
            with open(etc / "main.cf", "a") as f:
                f.write(f"virtual_mailbox_maps = texthash:{etc}/vbench\n")
            try:
                with group_p.entered():
                    subprocess.run([str(bin_dir / "postfix"), "-c", str(etc), "start"],
                                   check=True, capture_output=True)
                wait_for_port(port)
                ours = run_side("postern", port, inst / "mail", args)
                if os.environ.get("BENCH_DEBUG"):
                    show_children(inst / "spool" / "pid" / "master.pid")
            finally:
                subprocess.run([str(bin_dir / "postfix"), "-c", str(etc), "stop"],
                               capture_output=True)
        if args.only != "postern":
            port = free_port()
            pf = PostfixInstance(tmp, port)
            mail = pf.base / "mail"
            mail.mkdir()
            pw = pwd.getpwnam("postfix")
            os.chown(mail, pw.pw_uid, pw.pw_gid)
            (pf.etc / "vbench").write_text(table(args.messages))
            pf.set_main(virtual_mailbox_domains="demo.test", virtual_mailbox_base=str(mail),
                        virtual_mailbox_maps=f"texthash:{pf.etc}/vbench",
                        virtual_uid_maps=f"static:{pw.pw_uid}",
                        virtual_gid_maps=f"static:{pw.pw_gid}", virtual_minimum_uid="1")
            pf.command("postfix", "check")
            try:
                with group_f.entered():
                    pf.start()
                theirs = run_side("postfix", port, mail, args)
            finally:
                pf.stop()
                subprocess.run(["rm", "-rf", str(pf.base)])
        for name, g in (("postern", group_p), ("postfix", group_f)):
            cpu = g.seconds()
            if cpu:
                print(f"{name:8} CPU used by the mail system: {cpu:.1f}s "
                      f"({cpu / args.messages * 1e3:.2f} ms/message)")
            g.remove()
        if ours and theirs:
            print(f"ratio postern/postfix messages/s: {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
