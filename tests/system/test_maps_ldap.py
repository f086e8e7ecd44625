# ctest-timeout: 120
"""ldap: tables against a real OpenLDAP slapd on 127.0.0.1, queried with
our postmap -q and compared with Debian's Postfix postmap (postfix-ldap)."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import postern, run

SLAPD = "/usr/sbin/slapd"
SCHEMA = pathlib.Path("/etc/ldap/schema")
BASE = "dc=example,dc=com"
ADMIN = "cn=admin," + BASE

LDIF = f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,{BASE}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: alice
cn: Alice
sn: A
mail: alice@example.com
mailLocalAddress: alice@example.com
mailLocalAddress: postmaster@example.com
mailRoutingAddress: alice@mail.example.com

dn: uid=bob,ou=people,{BASE}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: bob
cn: Bob
sn: B
mail: bob@example.com
mail: robert@example.org
mailLocalAddress: team@example.com
mailRoutingAddress: bob@mail.example.com

dn: uid=carol,ou=people,{BASE}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: carol
cn: Carol
sn: C
mail: carol@example.com
mailLocalAddress: team@example.com
mailRoutingAddress: carol@mail.example.com

dn: cn=staff,ou=people,{BASE}
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: staff
mailLocalAddress: staff@example.com
member: uid=alice,ou=people,{BASE}
member: uid=bob,ou=people,{BASE}

dn: cn=everyone,ou=people,{BASE}
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: everyone
mailLocalAddress: everyone@example.com
mailRoutingAddress: owner@mail.example.com
member: cn=staff,ou=people,{BASE}
member: uid=carol,ou=people,{BASE}
member: uid=nobody,ou=people,{BASE}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    if not os.path.exists(SLAPD) or not shutil.which("ldapadd"):
        pytest.skip("slapd/ldap-utils are not installed; tools/deps installs them")
    d = tmp_path_factory.mktemp("slapd")
    (d / "db").mkdir()
    port = free_port()
    tls_port = free_port()
    cert, key = d / "cert.pem", d / "key.pem"
    r = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", key, "-out", cert])
    assert r.returncode == 0, r.stderr
    conf = d / "slapd.conf"
    conf.write_text("\n".join([
        f"include {SCHEMA}/core.schema", f"include {SCHEMA}/cosine.schema",
        f"include {SCHEMA}/inetorgperson.schema", f"include {SCHEMA}/misc.schema",
        "modulepath /usr/lib/ldap", "moduleload back_mdb",
        f"pidfile {d}/slapd.pid", f"argsfile {d}/slapd.args",
        f"TLSCertificateFile {cert}", f"TLSCertificateKeyFile {key}",
        "database mdb", f'suffix "{BASE}"', f'rootdn "{ADMIN}"', "rootpw secret",
        f"directory {d}/db", "maxsize 10485760", ""]))
    url = f"ldap://127.0.0.1:{port}/"
    log = open(d / "slapd.log", "w")
    urls = f"{url} ldaps://127.0.0.1:{tls_port}/"
    proc = subprocess.Popen([SLAPD, "-d", "0", "-h", urls, "-f", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("slapd did not start: " + (d / "slapd.log").read_text())
                time.sleep(0.1)
        r = run(["ldapadd", "-x", "-H", url, "-D", ADMIN, "-w", "secret"], input=LDIF)
        assert r.returncode == 0, r.stderr
        yield {"port": port, "tls_port": tls_port, "cert": cert, "dir": d}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def table(tmp_path, slapd, name="ldap.cf", **params):
    settings = {"server_host": f"ldap://127.0.0.1:{slapd['port']}", "search_base": BASE,
                "version": "3", "bind": "yes", "bind_dn": ADMIN, "bind_pw": "secret",
                "timeout": "5"}
    settings.update(params)
    path = tmp_path / name
    path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items() if v is not None))
    return f"ldap:{path}"


def oracle():
    path = "/usr/sbin/postmap"
    if not os.path.exists(path) or not os.path.exists("/usr/lib/postfix/postfix-ldap.so"):
        return None
    return path


def query(confdir, key, spec, exe=None):
    return run([exe or postern("postmap"), "-c", confdir, "-q", key, spec])


CASES = [
    # (table parameters, key, expected output or None for not found)
    ({"query_filter": "(mail=%s)", "result_attribute": "uid"}, "alice@example.com", "alice"),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid"}, "ALICE@Example.COM", "alice"),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid"}, "nobody@example.com", None),
    ({"query_filter": "(mailLocalAddress=%s)", "result_attribute": "mailRoutingAddress"},
     "team@example.com", "bob@mail.example.com,carol@mail.example.com"),
    ({"query_filter": "(uid=%u)", "result_attribute": "mail"}, "bob@anything.test",
     "bob@example.com,robert@example.org"),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid", "result_format": "%s@dest.test"},
     "alice@example.com", "alice@dest.test"),
    ({"query_filter": "(mail=%s)", "result_attribute": "mailRoutingAddress",
      "result_format": "relay:[%d]"}, "alice@example.com", "relay:[mail.example.com]"),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid", "domain": "example.org"},
     "alice@example.com", None),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid", "domain": "example.org"},
     "robert@example.org", "bob"),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid"}, "*", None),
    ({"query_filter": "(uid=%u)", "result_attribute": "uid",
      "search_base": f"ou=people,{BASE}", "scope": "one"}, "carol", "carol"),
    ({"query_filter": "(objectClass=*)", "result_attribute": "uid",
      "search_base": f"uid=%u,ou=people,{BASE}", "scope": "base"}, "alice@x.test", "alice"),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid", "bind": "no"},
     "alice@example.com", "alice"),
    ({"query_filter": "(mail=%d)", "result_attribute": "uid"}, "no-domain", None),
    ({"query_filter": "(mail=%s)", "result_attribute": "uid", "result_format": "%S"},
     "ALICE@Example.COM", "alice@example.com"),
    # Groups: DNs in special_result_attribute are followed, recursively.
    ({"query_filter": "(mailLocalAddress=%s)", "result_attribute": "mailRoutingAddress",
      "special_result_attribute": "member"}, "staff@example.com",
     "alice@mail.example.com,bob@mail.example.com"),
    ({"query_filter": "(mailLocalAddress=%s)", "result_attribute": "mailRoutingAddress",
      "special_result_attribute": "member"}, "everyone@example.com",
     "owner@mail.example.com,alice@mail.example.com,bob@mail.example.com,carol@mail.example.com"),
    ({"query_filter": "(mailLocalAddress=%s)", "result_attribute": "uid",
      "leaf_result_attribute": "mail", "special_result_attribute": "member"},
     "staff@example.com", "alice,alice@example.com,bob,bob@example.com,robert@example.org"),
    ({"query_filter": "(mailLocalAddress=%s)", "result_attribute": "uid",
      "terminal_result_attribute": "mailRoutingAddress", "special_result_attribute": "member"},
     "everyone@example.com", "owner@mail.example.com"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_lookup_matches_postfix(tmp_path, confdir, slapd, case):
    params, key, want = CASES[case]
    spec = table(tmp_path, slapd, **params)
    r = query(confdir, key, spec)
    if want is None:
        assert (r.returncode, r.stdout) == (1, ""), r.stderr
    else:
        assert (r.returncode, r.stdout) == (0, want + "\n"), r.stderr
    theirs = oracle()
    if theirs:
        t = query(confdir, key, spec, theirs)
        assert (t.returncode, t.stdout) == (r.returncode, r.stdout)


def test_query_from_stdin(tmp_path, confdir, slapd):
    spec = table(tmp_path, slapd, query_filter="(mail=%s)", result_attribute="uid")
    r = run([postern("postmap"), "-c", confdir, "-q", "-", spec],
            input="alice@example.com\nnobody@x\nbob@example.com\n")
    assert r.stdout == "alice@example.com\talice\nbob@example.com\tbob\n"


def test_seed_recipe(tmp_path, confdir, slapd):
    """The LDAP recipe of the seeds (bind with a DN, mail -> mail) works as written."""
    spec = table(tmp_path, slapd, query_filter="(mail=%s)", result_attribute="mail")
    assert query(confdir, "bob@example.com", spec).stdout == "bob@example.com,robert@example.org\n"


def test_bad_password_is_a_temporary_failure(tmp_path, confdir, slapd):
    spec = table(tmp_path, slapd, bind_pw="wrong", query_filter="(mail=%s)", result_attribute="uid")
    r = query(confdir, "alice@example.com", spec)
    assert r.returncode == 1 and r.stdout == ""
    assert "Unable to bind to server" in r.stderr
    assert f"fatal: table {spec}: query error:" in r.stderr


def test_unreachable_server_is_a_temporary_failure(tmp_path, confdir, slapd):
    spec = table(tmp_path, slapd, server_host=f"ldap://127.0.0.1:{free_port()}",
                 query_filter="(mail=%s)", result_attribute="uid")
    r = query(confdir, "alice@example.com", spec)
    assert r.returncode == 1 and r.stdout == ""
    assert "Can't contact LDAP server" in r.stderr
    assert f"fatal: table {spec}: query error:" in r.stderr


def test_main_cf_parameters(tmp_path, confdir, slapd):
    """ldap:NAME (not a path) reads NAME_server_host etc. from main.cf."""
    (confdir / "main.cf").write_text(
        f"users_server_host = 127.0.0.1:{slapd['port']}\nusers_search_base = {BASE}\n"
        "users_version = 3\nusers_bind_dn = " + ADMIN + "\nusers_bind_pw = secret\n"
        "users_query_filter = (mail=%s)\nusers_result_attribute = uid\n")
    assert query(confdir, "carol@example.com", "ldap:users").stdout == "carol\n"


TLS_CASES = [
    # (extra parameters, found?)
    (lambda s: {"start_tls": "yes", "tls_ca_cert_file": s["cert"], "tls_require_cert": "yes"}, True),
    (lambda s: {"server_host": f"ldaps://127.0.0.1:{s['tls_port']}",
                "tls_ca_cert_file": s["cert"], "tls_require_cert": "yes"}, True),
    (lambda s: {"start_tls": "yes", "tls_require_cert": "no"}, True),
    # A certificate nobody vouches for, required to verify: no answer.
    (lambda s: {"start_tls": "yes", "tls_ca_cert_file": "/etc/ssl/certs/ca-certificates.crt",
                "tls_require_cert": "yes"}, False),
]


@pytest.mark.parametrize("case", range(len(TLS_CASES)))
def test_tls(tmp_path, confdir, slapd, case):
    extra, ok = TLS_CASES[case]
    params = {"query_filter": "(mail=%s)", "result_attribute": "uid"}
    params.update({k: str(v) for k, v in extra(slapd).items()})
    spec = table(tmp_path, slapd, **params)
    r = query(confdir, "alice@example.com", spec)
    if ok:
        assert (r.returncode, r.stdout) == (0, "alice\n"), r.stderr
    else:
        assert r.returncode == 1 and r.stdout == "" and "query error" in r.stderr
    theirs = oracle()
    if theirs:
        t = query(confdir, "alice@example.com", spec, theirs)
        assert (t.returncode, t.stdout) == (r.returncode, r.stdout), t.stderr
