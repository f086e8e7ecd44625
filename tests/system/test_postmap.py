# ctest-timeout: 300
"""postmap, postalias and newaliases compared with Debian's Postfix (the
oracle): same output, messages and exit codes, and each reads the other's
hash/btree/lmdb files."""
import os
import pathlib
import stat

import pytest

from conftest import SEEDS, postern, postfix_oracle, run

SOURCE = """Key.One value1
# a comment
key2 v2
  continued
novalue
key2 duplicate

key3\tv3 with  spaces  \nUPPER@Example.COM Mixed Case Value
"""

ALIASES = """# comment
root: admin, "|/usr/bin/prog arg"
Postmaster:root
list: :include:/etc/list,
  /var/mail/file
bad line
nocolon value
: empty
empty:
root: dup
"quoted name": x
b:   x   ,   y
e: \\user, user@[1.2.3.4]
F@dom: z
"""


def ours(program="postmap"):
    return postern(program)


def theirs(program="postmap"):
    return postfix_oracle(program)


def both(tmp_path, confdir, argv, program="postmap", files=None, stdin=None):
    """Runs `program argv` as ours and as Postfix's, each in its own copy of
    `files` (name -> text), with the same relative names; returns both
    results and the two working directories."""
    results = []
    for side, exe in (("ours", ours(program)), ("theirs", theirs(program))):
        d = tmp_path / side
        d.mkdir(exist_ok=True)
        for name, text in (files or {}).items():
            (d / name).write_text(text)
        results.append(run([exe, "-c", confdir, *argv], cwd=d, input=stdin))
    return results[0], results[1], tmp_path / "ours", tmp_path / "theirs"


def same(a, b):
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


def dump(exe, confdir, spec, cwd, aliases=False):
    r = run([exe, "-c", confdir, "-s", spec], cwd=cwd)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if not l.startswith("YP_LAST_MODIFIED")]
    return sorted(lines)


@pytest.mark.parametrize("kind", ["hash", "btree", "lmdb"])
def test_build_messages_and_contents_match(tmp_path, confdir, kind):
    a, b, d1, d2 = both(tmp_path, confdir, [f"{kind}:t"], files={"t": SOURCE})
    same(a, b)
    assert "t, line 5: expected format: key whitespace value" in a.stderr
    assert dump(ours(), confdir, f"{kind}:t", d1) == dump(theirs(), confdir, f"{kind}:t", d2)
    suffix = ".lmdb" if kind == "lmdb" else ".db"
    assert not [p for p in os.listdir(d1) if ".tmp" in p]
    assert (d1 / ("t" + suffix)).exists()


@pytest.mark.parametrize("kind", ["hash", "btree", "lmdb"])
def test_interop_both_directions(tmp_path, confdir, kind):
    _, _, d1, d2 = both(tmp_path, confdir, [f"{kind}:t"], files={"t": SOURCE})
    keys = ["key.one", "KEY2", "key3", "upper@example.com", "missing"]
    for reader in (ours(), theirs()):
        for d in (d1, d2):
            for key in keys:
                mine = run([ours(), "-c", confdir, "-q", key, f"{kind}:t"], cwd=d)
                other = run([reader, "-c", confdir, "-q", key, f"{kind}:t"], cwd=d)
                assert (mine.returncode, mine.stdout) == (other.returncode, other.stdout), (reader, d, key)
    r = run([theirs(), "-c", confdir, "-q", "key2", f"{kind}:t"], cwd=d1)
    assert r.stdout == "v2  continued\n"


def test_query_forms_match(tmp_path, confdir):
    _, _, d1, d2 = both(tmp_path, confdir, ["t"], files={"t": SOURCE})
    for argv, stdin in ((["-q", "KEY.ONE", "t"], None), (["-q", "nope", "t"], None),
                        (["-q", "-", "t"], "key.one\nKEY2\nnope\n"),
                        (["-q", "-", "t", "lmdb:missing"], "x\n"),
                        (["-fq", "KEY.ONE", "t"], None),
                        (["-q", "x", "missing"], None), (["-q"], None), ([], None),
                        (["-z", "t"], None)):
        a = run([ours(), "-c", confdir, *argv], cwd=d1, input=stdin)
        b = run([theirs(), "-c", confdir, *argv], cwd=d2, input=stdin)
        same(a, b)


def test_delete_incremental_and_duplicates(tmp_path, confdir):
    _, _, d1, d2 = both(tmp_path, confdir, ["t"], files={"t": SOURCE})
    steps = [(["-d", "key3", "t"], None), (["-d", "key3", "t"], None),
             (["-d", "-", "t"], "key2\nnope\n"), (["-i", "t"], "new1 v1\nKey.One other\n"),
             (["-ri", "t"], "new1 replaced\n"), (["-wi", "t"], "new1 ignored\n"),
             (["-i", "t"], "bad\n")]
    for argv, stdin in steps:
        a = run([ours(), "-c", confdir, *argv], cwd=d1, input=stdin)
        b = run([theirs(), "-c", confdir, *argv], cwd=d2, input=stdin)
        same(a, b)
        assert dump(ours(), confdir, "t", d1) == dump(theirs(), confdir, "t", d2)


def test_fold_and_nul_options(tmp_path, confdir):
    for opts in (["-f"], ["-n"], ["-N"], ["-fn"]):
        for d in ("ours", "theirs"):
            (tmp_path / d).mkdir(exist_ok=True)
        a, b, d1, d2 = both(tmp_path, confdir, [*opts, "t"], files={"t": SOURCE})
        same(a, b)
        for key in ("Key.One", "key.one", "UPPER@Example.COM"):
            for d in (d1, d2):
                x = run([ours(), "-c", confdir, *opts, "-q", key, "t"], cwd=d)
                y = run([theirs(), "-c", confdir, *opts, "-q", key, "t"], cwd=d)
                assert (x.returncode, x.stdout) == (y.returncode, y.stdout), (opts, key, d)


def test_new_file_takes_source_permissions(tmp_path, confdir):
    for opts, want in (([], 0o600), (["-p"], 0o644)):
        d = tmp_path / ("p" if opts else "n")
        d.mkdir()
        src = d / "sasl_passwd"
        src.write_text("[smtp.example.com]:587 user@example.com:secret\n")
        src.chmod(0o600)
        old = os.umask(0o022)
        try:
            r = run([ours(), "-c", confdir, *opts, "sasl_passwd"], cwd=d)
        finally:
            os.umask(old)
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE((d / "sasl_passwd.db").stat().st_mode) == want


def test_pattern_tables_match_oracle(tmp_path, confdir):
    regexp = ("/^(a+)b$/ got $1\n/^Sub/i   subj\nif /^x/\n/y$/ xy\nendif\n!/^z/ notz\n"
              "/(/ bad\n/abc/q flag\n!/(n)/ $1\n/unclosed x\n/^(q)/ a$0\n/^(r)/ $foo\n/^(s)/ ${1\n/^(u)(v)?/ [$1][$2]\n"
              "/^Content-(Disposition|Type).*name\\s*=\\s*\"?(.+\\.(exe|vbs|pif|scr|bat|cmd|com|cpl))(\\?=)?\"?\\s*$/\n"
              "    REJECT Attachment type not allowed: $2\nendif\n")
    regexp += "if /^if/ extra words\n/^iff/ iff\nendif\nendif\n/^empty/\n"
    cidr = ("junk bad\n10.0.0.0/8\nif 10.0.0.0/8 extra\nendif\n1.2.3.4/ x\n[1.2.3.4]/8 y\n"
            "::ffff:1.2.3.4 m\n1.2.3.4/abc x\n192.168.1.0/24 net24\n192.168.0.0/16 net16\n10.0.0.1 host\n2001:db8::/32 v6net\n"
            "[2001:db8::1]/128 v6host\n!192.168.1.5 not5\n1.2.3.4/33 bad\n10.1.2.3/8 hostbits\n")
    keys = ["aab", "AB", "sub", "Sub", "xy", "xay", "zz", "u", "uv",
            'Content-Type: application/octet-stream; name="evil.exe"', "iff", "empty"]
    ip_keys = ["192.168.1.7", "192.168.2.1", "10.0.0.1", "2001:db8::1", "8.8.8.8", "::1", "junk",
               "[10.0.0.1]", "::ffff:1.2.3.4", "ipv6:::1", "1.2.3.4"]
    files = {"re": regexp, "cidr": cidr}
    _, _, d1, d2 = both(tmp_path, confdir, ["-q", "x", "static:x"], files=files)
    for spec, ks in (("regexp:re", keys), ("pcre:re", keys), ("cidr:cidr", ip_keys)):
        for key in ks:
            a = run([ours(), "-c", confdir, "-q", key, spec], cwd=d1)
            b = run([theirs(), "-c", confdir, "-q", key, spec], cwd=d2)
            assert (a.returncode, a.stdout) == (b.returncode, b.stdout), (spec, key)
        a = run([ours(), "-c", confdir, "-q", "-", spec], cwd=d1, input="\n".join(ks) + "\n")
        b = run([theirs(), "-c", confdir, "-q", "-", spec], cwd=d2, input="\n".join(ks) + "\n")
        assert a.stdout == b.stdout
        # Warnings name the file and line exactly as Postfix does.
        assert a.stderr == b.stderr, spec
    for argv in (["-s", "regexp:re"], ["regexp:re"], ["nosuchtype:x"], ["-q", "x", "static:"]):
        a = run([ours(), "-c", confdir, *argv], cwd=d1)
        b = run([theirs(), "-c", confdir, *argv], cwd=d2)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout)
        assert a.stderr.splitlines()[-1] == b.stderr.splitlines()[-1]


def test_other_types_match_oracle(tmp_path, confdir):
    _, _, d1, d2 = both(tmp_path, confdir, ["-q", "x", "static:x"], files={"t": SOURCE})
    for argv in (["-q", "b", "inline:{a=1, {b = two words}, { c=x, y }}"],
                 ["-q", "c", "inline:{a=1, {b = two words}, { c=x, y }}"],
                 ["-q", "a", "inline:{a}"],
                 ["-q", "a", "inline:{a=1"], ["-q", "zz", "static:{ a b }"],
                 ["-q", "zz", "fail:foo"], ["-q", "root", "unix:passwd.byname"],
                 ["-q", "root", "unix:group.byname"], ["-q", "KEY2", "texthash:t"],
                 ["-q", "x", "texthash:missing"],
                 ["-q", "a", "unionmap:{inline:{a=1}, inline:{a=2,b=3}, static:s}"],
                 ["-q", "a", "unionmap:{inline:{a=1}, fail:x}"],
                 ["-q", "a", "unionmap:{inline:{b=1}}"], ["-q", "a", "unionmap:inline:{a=1}"],
                 ["-q", "a", "pipemap:{inline:{a=x}, inline:{x=y}}"],
                 ["-q", "a", "pipemap:{inline:{a=x}, inline:{z=y}}"],
                 ["-q", "a", "pipemap:{inline:{a=1}}"],
                 ["-q", "a", "randmap:{x}"], ["-q", "a", "randmap:{}"]):
        a = run([ours(), "-c", confdir, *argv], cwd=d1)
        b = run([theirs(), "-c", confdir, *argv], cwd=d2)
        same(a, b)
    # Postfix dumps inline: in hash-table order; compare the entries.
    a = run([ours(), "-c", confdir, "-s", "inline:{a=1, b=2, {c = x y}}"], cwd=d1)
    b = run([theirs(), "-c", confdir, "-s", "inline:{a=1, b=2, {c = x y}}"], cwd=d2)
    assert sorted(a.stdout.splitlines()) == sorted(b.stdout.splitlines()) == ["a\t1", "b\t2", "c\tx y"]


@pytest.mark.parametrize("kind", ["hash", "lmdb"])
def test_postalias_matches_oracle(tmp_path, confdir, kind):
    a, b, d1, d2 = both(tmp_path, confdir, [f"{kind}:aliases"], program="postalias",
                        files={"aliases": ALIASES})
    same(a, b)
    assert dump(ours("postalias"), confdir, f"{kind}:aliases", d1) == \
        dump(theirs("postalias"), confdir, f"{kind}:aliases", d2)
    for d in (d1, d2):
        for key in ("root", "Postmaster", "quoted name", "list", "@", "nope", "e"):
            x = run([ours("postalias"), "-c", confdir, "-q", key, f"{kind}:aliases"], cwd=d)
            y = run([theirs("postalias"), "-c", confdir, "-q", key, f"{kind}:aliases"], cwd=d)
            assert (x.returncode, x.stdout) == (y.returncode, y.stdout), (d, key)
        x = run([ours("postalias"), "-c", confdir, "-q", "-", f"{kind}:aliases"], cwd=d, input="root\nnope\n")
        y = run([theirs("postalias"), "-c", confdir, "-q", "-", f"{kind}:aliases"], cwd=d, input="root\nnope\n")
        assert x.stdout == y.stdout == 'root:\tadmin, "|/usr/bin/prog arg"\n'


def test_postalias_usage_messages_match(tmp_path, confdir):
    for argv in ([], ["-z", "x"], ["-q", "x", "-s", "a"], ["-d", "x", "-q", "y", "a"]):
        same(run([ours("postalias"), "-c", confdir, *argv], cwd=tmp_path),
             run([theirs("postalias"), "-c", confdir, *argv], cwd=tmp_path))
    for argv in (["-q", "x", "-d", "y", "a"], ["-s", "-q", "x", "a"]):
        same(run([ours(), "-c", confdir, *argv], cwd=tmp_path),
             run([theirs(), "-c", confdir, *argv], cwd=tmp_path))


def test_newaliases_rebuilds_every_alias_database(tmp_path, confdir):
    (tmp_path / "aliases").write_text("root: admin\n")
    (tmp_path / "more").write_text("postmaster: root\n")
    (confdir / "main.cf").write_text(
        f"alias_database = hash:{tmp_path}/aliases, lmdb:{tmp_path}/more\n")
    r = run([ours("newaliases"), "-c", confdir])
    assert r.returncode == 0, r.stderr
    q = run([theirs("postalias"), "-c", confdir, "-q", "root", f"hash:{tmp_path}/aliases"])
    assert q.stdout == "admin\n"
    q = run([theirs("postalias"), "-c", confdir, "-q", "postmaster", f"lmdb:{tmp_path}/more"])
    assert q.stdout == "root\n"


def test_default_database_type_from_main_cf(tmp_path, confdir):
    (confdir / "main.cf").write_text("default_database_type = lmdb\n")
    (tmp_path / "t").write_text("a b\n")
    r = run([ours(), "-c", confdir, str(tmp_path / "t")])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t.lmdb").exists() and not (tmp_path / "t.db").exists()
    assert run([ours(), "-c", confdir, "-q", "a", str(tmp_path / "t")]).stdout == "b\n"


def test_seed_recipes(tmp_path, confdir):
    """The map recipes of ../shared/seeds work as written."""
    recipes = {
        "sasl_passwd": "[smtp.gmail.com]:587 user@gmail.com:password\n",
        "vmailbox": "user@example.com    example.com/user/\ninfo@example.org    example.org/info/\n",
        "virtual": "admin@example.com   user@example.com\npostmaster@example.com  user@example.com\n"
                   "@example.net        catchall@example.com\n",
        "transport": "example.com         lmtp:unix:private/dovecot-lmtp\n"
                     "example.org         smtp:[backup-mx.example.org]:25\n"
                     "internal.example.com  lmtp:inet:10.0.1.50:24\n",
        "sender_relay": "@example.com [smtp.example.com]:587\n",
    }
    for name, text in recipes.items():
        (tmp_path / name).write_text(text)
        r = run([ours(), "-c", confdir, str(tmp_path / name)])
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert (tmp_path / f"{name}.db").exists()
    checks = [("sasl_passwd", "[smtp.gmail.com]:587", "user@gmail.com:password"),
              ("virtual", "@example.net", "catchall@example.com"),
              ("transport", "internal.example.com", "lmtp:inet:10.0.1.50:24"),
              ("vmailbox", "info@example.org", "example.org/info/")]
    for name, key, value in checks:
        r = run([theirs(), "-c", confdir, "-q", key, f"hash:{tmp_path}/{name}"])
        assert r.stdout == value + "\n"
    (tmp_path / "mime_header_checks").write_text(
        "# Block dangerous file types\n"
        "/^Content-(Disposition|Type).*name\\s*=\\s*\"?(.+\\.(exe|vbs|pif|scr|bat|cmd|com|cpl))(\\?=)?\"?\\s*$/\n"
        "    REJECT Attachment type not allowed: $2\n")
    r = run([ours(), "-c", confdir, "-q", 'Content-Disposition: attachment; filename="x.vbs"',
             f"regexp:{tmp_path}/mime_header_checks"])
    assert r.stdout == "REJECT Attachment type not allowed: x.vbs\n"
    assert run([ours(), "-c", confdir, "-q", "anyone", "static:5000"]).stdout == "5000\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to test privilege dropping")
def test_root_builds_as_the_source_owner(tmp_path, confdir):
    import pwd
    nobody = pwd.getpwnam("nobody")
    for side, exe in (("ours", ours()), ("theirs", theirs())):
        for opts in ([], ["-o"]):
            d = tmp_path / f"{side}{len(opts)}"
            d.mkdir()
            d.chmod(0o777)
            (d / "t").write_text("a b\n")
            os.chown(d / "t", nobody.pw_uid, nobody.pw_gid)
            for p in [tmp_path, *tmp_path.parents]:
                if str(p) in ("/", "/tmp"):
                    break
                p.chmod(p.stat().st_mode | 0o011)
            r = run([exe, "-c", confdir, *opts, "t"], cwd=d)
            assert r.returncode == 0, (side, r.stderr)
            owner = (d / "t.db").stat().st_uid
            assert owner == (0 if opts else nobody.pw_uid), (side, opts)


MESSAGE = """Subject: spam here
X-Long: one
 two
Content-Type: multipart/mixed; boundary="b"

preamble body line
--b
Content-Type: text/plain

body line in part
--b--
"""


def test_header_and_body_query_modes_match(tmp_path, confdir):
    checks = ("/^Subject:.*spam/ REJECT subj\n/^X-Long:/ LONG\n/body line/ BODY\n"
              "/^Content-Type: text\\/plain/ CT\n/^$/ EMPTY\n/^--b/ BOUNDARY\n")
    _, _, d1, d2 = both(tmp_path, confdir, ["-q", "x", "static:x"], files={"checks": checks})
    for opts in (["-h"], ["-b"], ["-hb"], ["-m"], ["-bm"], ["-hm"], ["-hmb"]):
        for kind in ("regexp", "pcre"):
            a = run([ours(), "-c", confdir, *opts, "-q", "-", f"{kind}:checks"], cwd=d1, input=MESSAGE)
            b = run([theirs(), "-c", confdir, *opts, "-q", "-", f"{kind}:checks"], cwd=d2, input=MESSAGE)
            same(a, b)
    a = run([ours(), "-c", confdir, "-h", "-q", "x", "regexp:checks"], cwd=d1)
    b = run([theirs(), "-c", confdir, "-h", "-q", "x", "regexp:checks"], cwd=d2)
    same(a, b)


def test_base64_option_matches_oracle(tmp_path, confdir):
    files = {"f1": "hello\n", "f2": "world", "t": "k f1, f2\nm f1\nn nofile\n", "bad": "x notbase64!!\n"}
    a, b, d1, d2 = both(tmp_path, confdir, ["-F", "t"], files=files)
    same(a, b)
    for argv in (["-s", "t"], ["-F", "-s", "t"], ["-F", "-q", "k", "t"], ["-F", "-q", "-", "t"]):
        x = run([ours(), "-c", confdir, *argv], cwd=d1, input="k\nm\nz\n")
        y = run([theirs(), "-c", confdir, *argv], cwd=d2, input="k\nm\nz\n")
        assert (x.returncode, sorted(x.stdout.split("\n")), x.stderr) == \
            (y.returncode, sorted(y.stdout.split("\n")), y.stderr), argv
    for d in (d1, d2):
        assert run([ours(), "-c", confdir, "bad"], cwd=d).returncode == 0
    for argv in (["-F", "-q", "x", "bad"], ["-F", "-s", "bad"]):
        same(run([ours(), "-c", confdir, *argv], cwd=d1), run([theirs(), "-c", confdir, *argv], cwd=d2))


def test_seed_content_checks_match_oracle(tmp_path, confdir):
    """header_checks, mime_header_checks and body_checks from the seeds,
    queried as regexp tables and also run through plain `postmap FILE`
    as the seeds do."""
    files = {
        "header_checks": "/^Subject:.*\\bviagra\\b/i    REJECT Spam content detected\n"
                         "/^X-Mailer: SuperSpamBot/   REJECT Known spam tool\n",
        "body_checks": "/click here to claim your prize/i   REJECT Spam body content\n"
                       "# Block URLs with dangerous patterns\n"
                       "/^.*http:\\/\\/.*malicious-domain\\.com.*$/\n    REJECT URL blocked by policy\n",
        "mime_header_checks": "# Block dangerous file types\n"
                              "/^Content-(Disposition|Type).*name\\s*=\\s*\"?(.+\\.(exe|vbs|pif|scr|bat|cmd|com|cpl))(\\?=)?\"?\\s*$/\n"
                              "    REJECT Attachment type not allowed: $2\n",
    }
    keys = ["Subject: buy viagra now", "Subject: buy VIAGRA now", "Subject: viagras",
            "X-Mailer: SuperSpamBot 2.0", "x-mailer: superspambot", "click here to claim your prize",
            "CLICK HERE TO CLAIM YOUR PRIZE", "see http://www.malicious-domain.com/x",
            "see https://malicious-domain.com", 'Content-Type: application/x; name="a.scr"',
            'Content-Disposition: attachment; filename="b.pdf"']
    _, _, d1, d2 = both(tmp_path, confdir, ["-q", "x", "static:x"], files=files)
    for name in files:
        for kind in ("regexp", "pcre"):
            a = run([ours(), "-c", confdir, "-q", "-", f"{kind}:{name}"], cwd=d1, input="\n".join(keys) + "\n")
            b = run([theirs(), "-c", confdir, "-q", "-", f"{kind}:{name}"], cwd=d2, input="\n".join(keys) + "\n")
            same(a, b)
            assert a.stdout, (name, kind)
        same(run([ours(), "-c", confdir, name], cwd=d1), run([theirs(), "-c", confdir, name], cwd=d2))
        assert dump(ours(), confdir, name, d1) == dump(theirs(), confdir, name, d2)


def test_database_older_than_source_warning(tmp_path, confdir):
    _, _, d1, d2 = both(tmp_path, confdir, ["t"], files={"t": "a b\n"})
    for d, exe in ((d1, ours()), (d2, theirs())):
        run([exe, "-c", confdir, "lmdb:t"], cwd=d)
        now = __import__("time").time()
        for name in ("t.db", "t.lmdb"):
            os.utime(d / name, (now - 1000, now - 1000))
        os.utime(d / "t", (now - 500, now - 500))
    for argv in (["-q", "a", "t"], ["-s", "lmdb:t"], ["-q", "a", "lmdb:t"]):
        a = run([ours(), "-c", confdir, *argv], cwd=d1)
        b = run([theirs(), "-c", confdir, *argv], cwd=d2)
        same(a, b)
        assert "is older than source file t" in a.stderr
