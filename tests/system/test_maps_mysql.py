# ctest-timeout: 180
"""mysql: tables against a real MariaDB server on 127.0.0.1, queried with
our postmap -q and compared with Debian's Postfix postmap (postfix-mysql)."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import postern, run

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
CLIENT = shutil.which("mariadb") or "/usr/bin/mariadb"

SETUP_SQL = """
CREATE DATABASE postfix;
CREATE USER 'postfix'@'127.0.0.1' IDENTIFIED BY 'password';
CREATE USER 'postfix'@'localhost' IDENTIFIED BY 'password';
GRANT SELECT ON postfix.* TO 'postfix'@'127.0.0.1';
GRANT SELECT ON postfix.* TO 'postfix'@'localhost';
USE postfix;
CREATE TABLE domains (domain VARCHAR(255) NOT NULL PRIMARY KEY);
CREATE TABLE users (email VARCHAR(255) NOT NULL PRIMARY KEY, maildir VARCHAR(255));
CREATE TABLE aliases (source VARCHAR(255) NOT NULL, destination VARCHAR(255));
INSERT INTO domains VALUES ('example.com'), ('example.org');
INSERT INTO users VALUES ('alice@example.com', 'example.com/alice/'),
                         ('bob@example.org', 'example.org/bob/'),
                         ('o''brien@example.com', 'example.com/obrien/');
INSERT INTO aliases VALUES ('team@example.com', 'alice@example.com'),
                           ('team@example.com', 'bob@example.org'),
                           ('null@example.com', NULL),
                           ('postmaster@example.com', 'alice@example.com');
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    if not os.path.exists(MARIADBD) or not os.path.exists(INSTALL_DB):
        pytest.skip("MariaDB server is not installed; tools/deps installs it")
    d = tmp_path_factory.mktemp("mariadb")
    data = d / "data"
    sock = d / "mysqld.sock"
    user = ["--user=root"] if os.geteuid() == 0 else []
    r = run([INSTALL_DB, "--no-defaults", f"--datadir={data}", "--skip-test-db",
             "--auth-root-authentication-method=normal", *user], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    port = free_port()
    cert, key = d / "cert.pem", d / "key.pem"
    r = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", key, "-out", cert])
    assert r.returncode == 0, r.stderr
    log = open(d / "mariadbd.log", "w")
    proc = subprocess.Popen([MARIADBD, "--no-defaults", f"--datadir={data}", f"--port={port}",
                             "--bind-address=127.0.0.1", f"--socket={sock}",
                             f"--pid-file={d}/mariadbd.pid", "--skip-log-bin",
                             "--innodb-buffer-pool-size=16M", f"--ssl-cert={cert}",
                             f"--ssl-key={key}", f"--ssl-ca={cert}", *user],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                if sock.exists():
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mariadbd did not start: " + (d / "mariadbd.log").read_text())
            time.sleep(0.2)
        r = run([CLIENT, "--no-defaults", f"--socket={sock}", "-u", "root"], input=SETUP_SQL)
        assert r.returncode == 0, r.stderr
        yield {"port": port, "socket": sock, "cert": cert}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def table(tmp_path, db, name="mysql.cf", **params):
    settings = {"hosts": f"inet:127.0.0.1:{db['port']}", "user": "postfix",
                "password": "password", "dbname": "postfix"}
    settings.update(params)
    path = tmp_path / name
    path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items() if v is not None))
    return f"mysql:{path}"


def oracle():
    if os.path.exists("/usr/sbin/postmap") and os.path.exists("/usr/lib/postfix/postfix-mysql.so"):
        return "/usr/sbin/postmap"
    return None


def query(confdir, key, spec, exe=None):
    return run([exe or postern("postmap"), "-c", confdir, "-q", key, spec])


Q_ALIAS = "SELECT destination FROM aliases WHERE source='%s'"
CASES = [
    ({"query": "SELECT domain FROM domains WHERE domain='%s'"}, "example.com", "example.com"),
    ({"query": "SELECT domain FROM domains WHERE domain='%s'"}, "Example.ORG", "example.org"),
    ({"query": "SELECT domain FROM domains WHERE domain='%s'"}, "example.net", None),
    ({"query": "SELECT email FROM users WHERE email='%s'"}, "alice@example.com", "alice@example.com"),
    ({"query": Q_ALIAS}, "team@example.com", "alice@example.com,bob@example.org"),
    ({"query": Q_ALIAS}, "null@example.com", None),
    ({"query": "SELECT maildir FROM users WHERE email='%s'"}, "o'brien@example.com",
     "example.com/obrien/"),
    ({"query": "SELECT maildir FROM users WHERE email='%s'"}, "x' OR '1'='1", None),
    ({"query": "SELECT maildir FROM users WHERE email='%u@%d'"}, "bob@example.org", "example.org/bob/"),
    ({"query": "SELECT domain FROM domains WHERE domain='%2.%1'"}, "x@mail.example.com", "example.com"),
    ({"query": "SELECT domain FROM domains WHERE domain='%d'"}, "nodomain", None),
    ({"query": Q_ALIAS, "result_format": "smtp:[%d]"}, "postmaster@example.com", "smtp:[example.com]"),
    ({"query": Q_ALIAS, "domain": "example.org"}, "team@example.com", None),
    ({"query": "SELECT '%s'"}, "MiXed@Example.COM", "mixed@example.com"),
    ({"table": "users", "select_field": "maildir", "where_field": "email"},
     "alice@example.com", "example.com/alice/"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_lookup_matches_postfix(tmp_path, confdir, mariadb, case):
    params, key, want = CASES[case]
    spec = table(tmp_path, mariadb, **params)
    r = query(confdir, key, spec)
    if want is None:
        assert (r.returncode, r.stdout) == (1, ""), r.stderr
    else:
        assert (r.returncode, r.stdout) == (0, want + "\n"), r.stderr
    theirs = oracle()
    if theirs:
        t = query(confdir, key, spec, theirs)
        assert (t.returncode, t.stdout) == (r.returncode, r.stdout)


def test_unix_socket_host(tmp_path, confdir, mariadb):
    spec = table(tmp_path, mariadb, hosts=f"unix:{mariadb['socket']}",
                 query="SELECT domain FROM domains WHERE domain='%s'")
    assert query(confdir, "example.com", spec).stdout == "example.com\n"


def test_second_host_used_when_first_is_down(tmp_path, confdir, mariadb):
    spec = table(tmp_path, mariadb,
                 hosts=f"inet:127.0.0.1:{free_port()} inet:127.0.0.1:{mariadb['port']}",
                 query="SELECT domain FROM domains WHERE domain='%s'")
    r = query(confdir, "example.com", spec)
    assert r.stdout == "example.com\n"


def test_unreachable_server_is_a_temporary_failure(tmp_path, confdir, mariadb):
    spec = table(tmp_path, mariadb, hosts=f"inet:127.0.0.1:{free_port()}",
                 query="SELECT domain FROM domains WHERE domain='%s'")
    r = query(confdir, "example.com", spec)
    assert r.returncode == 1 and r.stdout == ""
    assert f"fatal: table {spec}: query error:" in r.stderr


def test_bad_query_is_a_temporary_failure(tmp_path, confdir, mariadb):
    spec = table(tmp_path, mariadb, query="SELECT nosuchcolumn FROM domains WHERE domain='%s'")
    r = query(confdir, "example.com", spec)
    assert r.returncode == 1 and "query error" in r.stderr


def test_missing_dbname_matches_postfix(tmp_path, confdir, mariadb):
    spec = table(tmp_path, mariadb, dbname=None, query="SELECT 1")
    r = query(confdir, "x", spec)
    assert r.returncode == 1
    assert r.stderr.endswith("fatal: bad string length 0 < 1: dbname = \n")


def test_seed_recipe(tmp_path, confdir, mariadb):
    """The seeds' mysql-virtual-mailbox-domains.cf / -maps.cf, with our server."""
    dom = tmp_path / "mysql-virtual-mailbox-domains.cf"
    dom.write_text(f"user = postfix\npassword = password\nhosts = 127.0.0.1:{mariadb['port']}\n"
                   "dbname = postfix\nquery = SELECT domain FROM domains WHERE domain='%s'\n")
    box = tmp_path / "mysql-virtual-mailbox-maps.cf"
    box.write_text(f"user = postfix\npassword = password\nhosts = 127.0.0.1:{mariadb['port']}\n"
                   "dbname = postfix\nquery = SELECT email FROM users WHERE email='%s'\n")
    assert query(confdir, "example.org", f"mysql:{dom}").stdout == "example.org\n"
    assert query(confdir, "bob@example.org", f"mysql:{box}").stdout == "bob@example.org\n"


TLS_QUERY = ("SELECT IF(VARIABLE_VALUE = '', 'plain', 'tls') FROM information_schema.SESSION_STATUS "
             "WHERE VARIABLE_NAME = 'Ssl_version' AND '%s' <> ''")


@pytest.mark.parametrize("tls,want", [
    ({}, "plain"),
    ({"tls_CAfile": "CERT", "tls_verify_cert": "yes"}, "tls"),
    ({"tls_CAfile": "CERT"}, "tls"),
    ({"tls_CAfile": "/etc/ssl/certs/ca-certificates.crt", "tls_verify_cert": "yes"}, None),
])
def test_tls(tmp_path, confdir, mariadb, tls, want):
    params = {k: (str(mariadb["cert"]) if v == "CERT" else v) for k, v in tls.items()}
    spec = table(tmp_path, mariadb, query=TLS_QUERY, **params)
    r = query(confdir, "x", spec)
    if want is None:
        assert r.returncode == 1 and r.stdout == "" and "query error" in r.stderr
    else:
        assert (r.returncode, r.stdout) == (0, want + "\n"), r.stderr
    theirs = oracle()
    if theirs:
        t = query(confdir, "x", spec, theirs)
        assert (t.returncode, t.stdout) == (r.returncode, r.stdout), t.stderr
