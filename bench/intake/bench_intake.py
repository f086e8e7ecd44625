#!/usr/bin/python3
"""SMTP intake: Debian's smtp-source sends N messages over S parallel
sessions (each session keeps its connection, -d) into Postern and into
Debian's Postfix on the same machine, same run; messages per second for
each and the ratio.

    bench/intake/bench_intake.py [--bin build/bin] [--messages 10000] [--sessions 20]

Both run with their queue manager taken out of master.cf, so only intake
is measured (smtpd, cleanup, trivial-rewrite): accepted mail stays in
incoming/, where the script counts it. Both fsync each queue file before
answering 250 (Postfix's cleanup always does; so does Postern's).
in_flow_delay is 0 in both: with no queue manager handing out flow
control tokens, Postfix's smtpd would otherwise wait a second before
each message. Run as
root. Not part of ctest; it stops by itself (smtp-source is bounded by
--timeout).
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))
sys.path.insert(0, str(ROOT / "bench"))
from cpuacct import CpuGroup  # noqa: E402
SMTP_SOURCE = "/usr/sbin/smtp-source"


def count_files(d):
    return sum(1 for p in d.rglob("*") if p.is_file()) if d.is_dir() else 0


def drop_qmgr(master_cf):
    """Comments out the qmgr service: mail stays in incoming/."""
    text = master_cf.read_text()
    text = re.sub(r"^(qmgr\s)", r"#\1", text, flags=re.M)
    master_cf.write_text(text)


def send(name, port, spool, args):
    cmd = [SMTP_SOURCE, "-d", "-s", str(args.sessions), "-m", str(args.messages),
           "-l", str(args.size), "-f", "bench@example.com", "-t", "rcpt@example.net",
           "-M", "bench.example.com", f"127.0.0.1:{port}"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        print(f"{name}: smtp-source exited {r.returncode}: {r.stderr.strip()[:300]}")
    # cleanup has answered before smtpd says 250: every file is complete.
    queued = count_files(spool / "incoming")
    print(f"{name:8} {args.messages} messages, {args.sessions} sessions: {elapsed:.1f}s "
          f"({args.messages / elapsed:.0f}/s), {queued} queued")
    if queued != args.messages:
        print(f"{name}: warning: {queued} of {args.messages} messages in incoming/")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=1000, help="message length (smtp-source -l)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds allowed per side")
    ap.add_argument("--only", choices=("postern", "postfix"), help="run one side only")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (Postfix's instance needs it)")
    bin_dir = pathlib.Path(args.bin).resolve()
    from postfix_oracle import PostfixInstance, free_port, wait_for_port
    ours = theirs = None
    group_p, group_f = CpuGroup("postern"), CpuGroup("postfix")
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        tmp = pathlib.Path(tmp)
        os.chmod(tmp, 0o755)
        if args.only != "postfix":
            inst = tmp / "postern"
            port = free_port()
            subprocess.run([str(ROOT / "tools" / "make-instance"), "--dir", str(inst), "--port",
                            str(port), "--bin", str(bin_dir)], check=True)
            etc = inst / "etc"
            drop_qmgr(etc / "master.cf")
            with open(etc / "main.cf", "a") as f:
                f.write("in_flow_delay = 0s\n")
            try:
                with group_p.entered():
                    subprocess.run([str(bin_dir / "postfix"), "-c", str(etc), "start"],
                                   check=True, capture_output=True)
                wait_for_port(port)
                ours = send("postern", port, inst / "spool", args)
            finally:
                subprocess.run([str(bin_dir / "postfix"), "-c", str(etc), "stop"],
                               capture_output=True)
        if args.only != "postern":
            port = free_port()
            pf = PostfixInstance(tmp, port)
            drop_qmgr(pf.etc / "master.cf")
            pf.set_main(in_flow_delay="0s")
            pf.command("postfix", "check")
            try:
                with group_f.entered():
                    pf.start()
                theirs = send("postfix", port, pf.spool, args)
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
