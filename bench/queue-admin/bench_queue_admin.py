#!/usr/bin/python3
"""Queue administration on a big queue: `postqueue -p` and `postsuper -d
ALL` with --messages queued messages (default 100,000), Postern against
Debian's Postfix, each with its master running (so postqueue asks the
showq service). Messages sit in the hold queue so no queue manager moves
them; identical queue files are written into both spools. Reports wall
time and the command's peak RSS. Needs root. Not part of ctest.

    bench/queue-admin/bench_queue_admin.py [--bin build/bin] [--messages 100000]
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))

import instance  # noqa: E402
import postfix_oracle  # noqa: E402
from instance import Instance  # noqa: E402
from qadmin_helpers import mail_owner, start_qadmin_instance, write_queue_file  # noqa: E402


def fill(spool, owner, count):
    now = int(time.time())
    for i in range(count):
        write_queue_file(spool, "hold", f"sender{i % 1000}@example.com",
                         [f"rcpt{i}@dest{i % 500}.example.net"], arrival=now - i, owner=owner)


def measure(argv):
    """Wall time and peak RSS (KiB, from GNU time: a child forked by Python
    would inherit Python's high-water mark) of one run; output discarded."""
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if r.returncode != 0:
            sys.exit(f"{argv}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        return elapsed, int(rss.read().split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--messages", type=int, default=100000)
    args = ap.parse_args()
    if os.geteuid() != 0 or not postfix_oracle.available():
        sys.exit("needs root and Debian's Postfix")
    os.environ["POSTERN_BIN"] = args.bin
    instance.BIN = pathlib.Path(args.bin)  # the instance runs these daemons too
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        pf = postfix_oracle.PostfixInstance(tmp, postfix_oracle.free_port())
        inst = Instance(tmp)
        try:
            start_qadmin_instance(inst)
            pf.start()
            t0 = time.perf_counter()
            fill(pf.spool, "postfix", args.messages)
            fill(inst.spool, mail_owner(inst), args.messages)
            print(f"wrote 2 x {args.messages} queue files in {time.perf_counter() - t0:.1f}s")
            rows = []
            for name in ("postqueue -p", "postsuper -d ALL"):
                prog, *rest = name.split()
                ours = measure([f"{args.bin}/{prog}", "-c", str(inst.etc), *rest])
                theirs = measure([f"/usr/sbin/{prog}", "-c", str(pf.etc), *rest])
                rows.append((name, ours, theirs))
            print(f"{'command':<20} {'Postern s':>10} {'Postfix s':>10} {'Postern KiB':>12} "
                  f"{'Postfix KiB':>12}")
            for name, (ot, orss), (tt, trss) in rows:
                print(f"{name:<20} {ot:>10.2f} {tt:>10.2f} {orss:>12} {trss:>12}")
        finally:
            pf.stop()
            inst.stop()


if __name__ == "__main__":
    main()
