#!/usr/bin/python3
"""smtpd over TLS: STARTTLS handshakes per second and messages per second
over STARTTLS sessions, for Postern and Debian's Postfix on the same
machine, in the same run.

    bench/smtpd-tls/bench_smtpd_tls.py [--bin build/bin] [--handshakes 400]
                                       [--messages 2000] [--clients 4]

Both servers get the same RSA certificate, `smtpd_tls_security_level =
may`, session tickets shared between processes (tlsmgr), and deliver the
mail with the discard agent, so what is measured is smtpd, TLS and the
queue. Handshakes: each connection does EHLO, STARTTLS, the handshake
(no resumption), EHLO, QUIT. Messages: each client opens one STARTTLS
session and sends its share of the messages on it (MAIL, RCPT, DATA).
Run as root (Postfix's master insists). Not part of ctest.
"""
import argparse
import os
import pathlib
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "system"))

BODY = "Subject: bench\r\n\r\n" + ("x" * 70 + "\r\n") * 40


def settings(pki):
    return dict(smtpd_tls_security_level="may",
                smtpd_tls_cert_file=str(pki / "server-rsa.pem"),
                smtpd_tls_key_file=str(pki / "server-rsa.key"),
                smtpd_tls_loglevel="0",
                mydestination="bench.test", local_transport="discard",
                local_recipient_maps="", mynetworks="127.0.0.0/8",
                smtpd_client_connection_count_limit="0",
                smtpd_client_connection_rate_limit="0",
                default_process_limit="100")


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def parallel(n_clients, work):
    errors = []

    def run(k):
        try:
            work(k)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        sys.exit(f"client errors: {errors[:3]}")
    return elapsed


def handshakes(port, total, clients):
    def work(k):
        for _ in range(total // clients):
            ctx = client_context()  # a fresh context: no session to resume
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
                s.ehlo("bench.client")
                s.starttls(context=ctx)
                s.ehlo("bench.client")
    return total / parallel(clients, work)


def messages(port, total, clients):
    def work(k):
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            s.ehlo("bench.client")
            s.starttls(context=client_context())
            s.ehlo("bench.client")
            for n in range(total // clients):
                s.sendmail("bench@example.com", [f"u{k}@bench.test"], BODY)
    return total / parallel(clients, work)


def wait_port(port):
    from instance import wait_until
    import socket

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(up, 30, what=f"port {port}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--handshakes", type=int, default=400)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    a = ap.parse_args()
    os.environ["POSTERN_BIN"] = str(pathlib.Path(a.bin).resolve())
    os.environ.setdefault("POSTERN_SOURCE", str(ROOT))
    from instance import Instance
    from postfix_oracle import PostfixInstance, available, free_port
    if not available():
        sys.exit("needs root and Debian's postfix package")
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-smtpd-tls-"))
    pki = work / "pki"
    pki.mkdir()
    subprocess.run(["sh", str(ROOT / "tests/unit/tls/make_certs.sh"), str(pki)], check=True,
                   capture_output=True)
    os.chmod(pki, 0o755)
    for f in pki.iterdir():
        os.chmod(f, 0o644)
    results = {}
    pn = Instance(work, name="postern")
    pn.set_main(**settings(pki))
    pn.start()
    try:
        wait_port(pn.port)
        results["Postern"] = (handshakes(pn.port, a.handshakes, a.clients),
                              messages(pn.port, a.messages, a.clients))
    finally:
        pn.stop()
    with PostfixInstance(work, port=free_port()) as pf:
        pf.set_main(**settings(pki))
        pf.start()
        results["Postfix"] = (handshakes(pf.port, a.handshakes, a.clients),
                              messages(pf.port, a.messages, a.clients))
    print(f"{'':8} {'handshakes/s':>13} {'messages/s':>11}   "
          f"({a.handshakes} STARTTLS handshakes, {a.messages} messages, {a.clients} clients)")
    for name, (h, m) in results.items():
        print(f"{name:8} {h:13.1f} {m:11.1f}")
    (hp, mp), (hf, mf) = results["Postern"], results["Postfix"]
    print(f"{'ratio':8} {hp / hf:13.2f} {mp / mf:11.2f}   (Postern / Postfix)")


if __name__ == "__main__":
    main()
