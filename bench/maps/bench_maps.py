#!/usr/bin/python3
"""Lookups per second for hash, lmdb, pcre and cidr tables: Postern's
postmap -q - against Debian's Postfix postmap -q - on the same keys.

    bench/maps/bench_maps.py [--bin build/bin] [--keys 100000] [--rules 200]

hash and lmdb tables hold --keys entries and are queried with --keys keys
(half present, half absent); pcre and cidr tables hold --rules rules
(first match wins, so a lookup scans them in order) and are queried with
--keys keys. Each program reads its own table (built by itself) and every
run is repeated three times; the best time counts. Not part of ctest.
"""
import argparse
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def timed(argv, stdin_path, cwd):
    best = None
    for _ in range(3):
        with open(stdin_path, "rb") as stdin:
            start = time.perf_counter()
            r = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=cwd)
            elapsed = time.perf_counter() - start
        if r.returncode not in (0, 1):
            sys.exit(f"{argv}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        best = elapsed if best is None else min(best, elapsed)
    return best, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--rules", type=int, default=200)
    args = ap.parse_args()
    ours = os.path.abspath(os.path.join(args.bin, "postmap"))
    theirs = "/usr/sbin/postmap"
    if not os.path.exists(theirs):
        sys.exit("Debian's Postfix is not installed (/usr/sbin/postmap)")
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        etc = tmp / "etc"
        etc.mkdir()
        (etc / "main.cf").write_text("")
        n = args.keys
        entries = [f"user{i}@example{i % 97}.com" for i in range(n)]
        (tmp / "source").write_text("".join(f"{k} value-{i}\n" for i, k in enumerate(entries)))
        keys = [entries[rng.randrange(n)] if i % 2 == 0 else f"absent{i}@nowhere.test"
                for i in range(n)]
        (tmp / "keys").write_text("\n".join(keys) + "\n")
        # pcre: rules that mostly do not match, so lookups scan the table.
        rules = [f"/^user{i}[0-9]*@example{i % 97}\\.com$/ rule-{i}\n" for i in range(args.rules)]
        (tmp / "pcre").write_text("".join(rules))
        nets = [f"10.{i // 256 % 256}.{i % 256}.0/24 net-{i}\n" for i in range(args.rules)]
        (tmp / "cidr").write_text("".join(nets))
        ips = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(n)]
        (tmp / "ips").write_text("\n".join(ips) + "\n")

        rows = []
        for kind in ("hash", "lmdb"):
            for label, exe in (("postern", ours), ("postfix", theirs)):
                d = tmp / f"{label}-{kind}"
                d.mkdir()
                (d / "source").write_text((tmp / "source").read_text())
                start = time.perf_counter()
                subprocess.run([exe, "-c", str(etc), f"{kind}:source"], cwd=d, check=True)
                build = time.perf_counter() - start
                t, _ = timed([exe, "-c", str(etc), "-q", "-", f"{kind}:source"], tmp / "keys", d)
                rows.append((kind, label, n, build, t))
        for kind, keyfile in (("pcre", "keys"), ("cidr", "ips")):
            for label, exe in (("postern", ours), ("postfix", theirs)):
                t, _ = timed([exe, "-c", str(etc), "-q", "-", f"{kind}:{tmp / kind}"],
                             tmp / keyfile, tmp)
                rows.append((kind, label, n, None, t))

        print(f"{'table':6} {'program':8} {'lookups':>8} {'build s':>8} {'lookups/s':>11} {'vs postfix':>10}")
        by = {(k, l): t for k, l, _, _, t in rows}
        for kind, label, count, build, t in rows:
            ratio = by[(kind, "postfix")] / t
            b = f"{build:8.2f}" if build is not None else f"{'-':>8}"
            print(f"{kind:6} {label:8} {count:8d} {b} {count / t:11.0f} {ratio:9.2f}x")


if __name__ == "__main__":
    main()
