#!/usr/bin/python3
"""End-to-end relay throughput: smtp-source -> MTA -> sink, for Postern and
for Debian's Postfix on the same machine in the same run, with and without
TLS on the outbound leg; messages/s and the Postern/Postfix ratio.

    bench/relay/bench_relay.py [--bin build/bin] [--messages 2000]
                               [--sessions 10] [--size 4000] [--timeout 300]

The relay under test takes mail over SMTP from smtp-source (-s sessions in
parallel) on 127.0.0.1 and sends all of it to relayhost [127.0.0.1]:sink.
Plain: the sink is Debian's smtp-sink. TLS (smtp_tls_security_level =
encrypt): smtp-sink has no TLS, so the sink is a Debian Postfix smtpd with
STARTTLS that discards everything (the same sink for both relays). A run
ends when the sink has received every message (smtp-sink's -c counter, or
the TLS sink's discard log lines); each run is bounded by --timeout seconds. Run as root. Not part of ctest.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=4000, help="message size in bytes")
    ap.add_argument("--timeout", type=int, default=300, help="seconds allowed per run")
    ap.add_argument("--modes", default="plain,tls")
    args = ap.parse_args()
    os.environ["POSTERN_BIN"] = str(pathlib.Path(args.bin).resolve())
    os.environ["POSTERN_SOURCE"] = str(ROOT)
    if os.geteuid() != 0:
        sys.exit("bench_relay: run as root (Debian's Postfix needs it)")

    import smtp_helpers as h
    from instance import Instance
    from postfix_oracle import PostfixInstance, free_port, wait_for_port

    work = pathlib.Path(h.shared_dir("postern-bench-relay-"))
    certs = h.make_certs(work / "pki")
    results = {}
    for mode in args.modes.split(","):
        for system in ("postern", "postfix"):
            sink = tls_pf = None
            if mode == "tls":
                tls_pf = h.tls_sink(work, certs)
                sink_port = tls_pf.port
            else:
                sink = h.SmtpSink(backlog=512)
                sink_port = sink.port
            if sink:
                def counter(sink=sink):
                    return sink.count
            else:
                def counter(pf=tls_pf):
                    return len(re.findall(r"status=sent \(sunk\)", pf.log()))
            client = dict(relayhost=f"[127.0.0.1]:{sink_port}",
                          smtp_tls_security_level="encrypt" if mode == "tls" else "none",
                          smtp_tls_CAfile=str(certs / "ca.pem"),
                          smtpd_client_connection_count_limit="0",
                          smtpd_client_connection_rate_limit="0")
            try:
                if system == "postern":
                    with Instance(work, name=f"relay-{mode}") as inst:
                        inst.set_main(myhostname="relay.bench", **client)
                        inst.start()
                        wait_for_port(inst.port)
                        results[(system, mode)] = run_one(args, inst.port, counter)
                else:
                    pf = PostfixInstance(work, free_port(), hostname="relay.bench")
                    with pf:
                        pf.set_main(**client)
                        pf.start()
                        results[(system, mode)] = run_one(args, pf.port, counter)
            finally:
                if sink:
                    sink.close()
                if tls_pf:
                    tls_pf.__exit__(None, None, None)
            r = results[(system, mode)]
            print(f"{system:8} {mode:5} {r['sent']}/{args.messages} sent in {r['seconds']:.1f}s: "
                  f"{r['rate']:.0f} msg/s{'' if r['complete'] else ' (INCOMPLETE: timed out)'}",
                  flush=True)
    print()
    print(f"messages={args.messages} sessions={args.sessions} size={args.size}")
    for mode in args.modes.split(","):
        a, b = results.get(("postern", mode)), results.get(("postfix", mode))
        if a and b and b["rate"] > 0:
            print(f"{mode:5}  postern {a['rate']:.0f} msg/s  postfix {b['rate']:.0f} msg/s  "
                  f"ratio {a['rate'] / b['rate']:.2f}")
    import shutil
    shutil.rmtree(work, ignore_errors=True)


def run_one(args, port, received):
    """Sends args.messages through the relay on `port`; waits until the sink
    has them all (received() counts what the sink got)."""
    start = time.monotonic()
    src = subprocess.run(["/usr/sbin/smtp-source", "-4", "-s", str(args.sessions), "-m",
                          str(args.messages), "-l", str(args.size), "-f", "bench@example.com",
                          "-t", "sink@remote.bench", "-M", "source.bench", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=args.timeout)
    if src.returncode != 0:
        print(f"smtp-source: {src.stderr.strip()[:500]}", file=sys.stderr)
    deadline = start + args.timeout
    sent = 0
    while time.monotonic() < deadline:
        sent = received()
        if sent >= args.messages:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - start
    return {"sent": sent, "seconds": seconds, "rate": sent / seconds if seconds else 0,
            "complete": sent >= args.messages}


if __name__ == "__main__":
    main()
