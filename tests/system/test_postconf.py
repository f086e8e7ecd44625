"""postconf against throwaway configuration directories, and against
Debian's Postfix 3.7 as the oracle where it is installed."""
import re
import shutil

import pytest

from conftest import DATA, postern, postfix_oracle, run

# Defaults that depend on the build or the host, not on behaviour.
BUILD_SPECIFIC = {
    "command_directory", "daemon_directory", "config_directory", "queue_directory",
    "data_directory", "meta_directory", "shlib_directory", "manpage_directory",
    "sendmail_path", "mailq_path", "newaliases_path", "html_directory",
    "readme_directory", "sample_directory", "mail_name",
    "myhostname", "mydomain", "mynetworks", "process_id", "process_name",
}


def parse_listing(text):
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" = ")
        if line.endswith(" ="):
            name, value = line[:-2], ""
        out[name] = value
    return out


def test_defaults_match_postfix_snapshot(tmp_path, capsys):
    # The snapshot is Debian's `postconf -d` with Debian's master.cf; ours
    # runs with a master.cf that defines the same delivery services.
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(DATA / "master.cf.debian-services", etc / "master.cf")
    (etc / "main.cf").write_text("")
    ours = run([postern("postconf"), "-c", etc, "-d"])
    assert ours.returncode == 0, ours.stderr
    theirs = parse_listing((DATA / "postconf-d-postfix-3.7.11.txt").read_text())
    mine = parse_listing(ours.stdout)
    missing = sorted(set(theirs) - set(mine))
    assert not missing, f"parameters missing: {missing}"
    same = [n for n in theirs if mine[n] == theirs[n]]
    differ = sorted(n for n in theirs if mine[n] != theirs[n])
    with capsys.disabled():
        print(f"\npostconf -d: {len(same)}/{len(theirs)} defaults identical to Postfix 3.7.11;"
              f" differing: {differ}")
    assert set(differ) <= BUILD_SPECIFIC


def test_unknown_parameter_warns_and_exits_zero(confdir):
    r = run([postern("postconf"), "-c", confdir, "no_such_parameter"])
    assert r.returncode == 0
    assert r.stdout == ""
    assert "warning: no_such_parameter: unknown parameter" in r.stderr


def test_malformed_main_cf_names_file_and_line(confdir):
    (confdir / "main.cf").write_text("myhostname = a\nthis line is wrong\n")
    r = run([postern("postconf"), "-c", confdir, "myhostname"])
    assert r.returncode == 1
    assert f"fatal: {confdir}/main.cf, line 2: missing '=' after attribute name: \"this\"" in r.stderr


def test_recursive_expansion_is_an_error_not_a_crash(confdir):
    (confdir / "main.cf").write_text("relayhost = $a\na = $b\nb = $a\n")
    r = run([postern("postconf"), "-c", confdir, "-x", "relayhost"])
    assert r.returncode == 1
    assert "unreasonable macro call nesting" in r.stderr
    assert "macro processing error" in r.stderr


def test_edit_keeps_comments_and_is_atomic(confdir):
    (confdir / "main.cf").write_text("# site settings\nmyhostname = old.example\n  # note\n")
    r = run([postern("postconf"), "-c", confdir, "-e", "myhostname=new.example",
             "relayhost = [smtp.example.net]:587"])
    assert r.returncode == 0, r.stderr
    assert (confdir / "main.cf").read_text() == (
        "# site settings\nmyhostname = new.example\n  # note\nrelayhost = [smtp.example.net]:587\n")
    assert not list(confdir.glob("*.tmp"))
    r = run([postern("postconf"), "-c", confdir, "-h", "relayhost"])
    assert r.stdout == "[smtp.example.net]:587\n"
    # name=value without -e edits too.
    run([postern("postconf"), "-c", confdir, "mydomain=example.org"])
    assert "mydomain = example.org\n" in (confdir / "main.cf").read_text()
    run([postern("postconf"), "-c", confdir, "-#", "mydomain"])
    assert "#mydomain = example.org\n" in (confdir / "main.cf").read_text()
    run([postern("postconf"), "-c", confdir, "-X", "relayhost"])
    assert "relayhost" not in (confdir / "main.cf").read_text()


def test_bad_master_cf_names_file_and_line(confdir):
    (confdir / "master.cf").write_text("smtp inet n - n - - smtpd\nbad inet x - n - - smtpd\n")
    r = run([postern("postconf"), "-c", confdir, "-M"])
    assert r.returncode == 1
    assert f"{confdir}/master.cf: line 2" in r.stderr


def test_master_cf_field_and_parameter_edits(confdir):
    r = run([postern("postconf"), "-c", confdir, "-Me",
             "submission/inet=submission inet n - n - - smtpd -o smtpd_tls_security_level=encrypt"])
    assert r.returncode == 0, r.stderr
    r = run([postern("postconf"), "-c", confdir, "-P", "submission/inet/smtpd_tls_security_level"])
    assert r.stdout == "submission/inet/smtpd_tls_security_level = encrypt\n"
    run([postern("postconf"), "-c", confdir, "-Pe", "submission/inet/smtpd_sasl_auth_enable=yes"])
    r = run([postern("postconf"), "-c", confdir, "-P", "submission/inet"])
    assert r.stdout == ("submission/inet/smtpd_sasl_auth_enable = yes\n"
                        "submission/inet/smtpd_tls_security_level = encrypt\n")
    run([postern("postconf"), "-c", confdir, "-Fe", "submission/inet/chroot=y"])
    r = run([postern("postconf"), "-c", confdir, "-F", "submission/inet/chroot"])
    assert r.stdout == "submission/inet/chroot = y\n"
    run([postern("postconf"), "-c", confdir, "-M#", "submission/inet"])
    r = run([postern("postconf"), "-c", confdir, "-M", "submission/inet"])
    assert 'unmatched request: "submission/inet"' in r.stderr
    assert "#submission" in (confdir / "master.cf").read_text()


def test_bad_field_name_is_fatal(confdir):
    r = run([postern("postconf"), "-c", confdir, "-F", "smtp/inet/colour"])
    assert r.returncode == 1
    assert 'invalid field name: "colour"' in r.stderr


def oracle_pair(tmp_path, main_cf, master_cf):
    dirs = []
    for who in ("postfix", "postern"):
        d = tmp_path / who
        d.mkdir()
        (d / "main.cf").write_text(main_cf)
        (d / "master.cf").write_text(master_cf)
        dirs.append(d)
    return dirs


def normalise(text, d):
    return text.replace(str(d), "DIR")


SAMPLE_MAIN = """compatibility_level = 3.6
myhostname = mail.example.com
mydomain = example.com
myorigin = $mydomain
mydestination = $myhostname, localhost.$mydomain, localhost, $mydomain
relayhost = [smtp.example.net]:587
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd
smtp_sasl_security_options = noanonymous
smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated,
    reject_unauth_destination, check_policy_service unix:private/policy
"""


@pytest.mark.parametrize("args", [["-n"], ["-nf"], ["-M"], ["-Mf"], ["-P"], ["-F"],
                                  ["-d"], ["-x", "myorigin", "mydestination"],
                                  ["-h", "relayhost"], ["-H", "-n"]])
def test_output_matches_postfix(tmp_path, args):
    oracle = postfix_oracle("postconf")
    master = (DATA / "master.cf.debian-services").read_text()
    master += ("submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n"
               "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n")
    theirs_dir, ours_dir = oracle_pair(tmp_path, SAMPLE_MAIN, master)
    theirs = run([oracle, "-c", theirs_dir, *args])
    ours = run([postern("postconf"), "-c", ours_dir, *args])
    assert ours.returncode == theirs.returncode
    skip = BUILD_SPECIFIC if "-d" in args else set()
    t = [l for l in normalise(theirs.stdout, theirs_dir).splitlines() if l.split(" ")[0] not in skip]
    o = [l for l in normalise(ours.stdout, ours_dir).splitlines() if l.split(" ")[0] not in skip]
    assert o == t


def test_edits_match_postfix(tmp_path):
    oracle = postfix_oracle("postconf")
    master = (DATA / "master.cf.debian-services").read_text()
    main = "# comment\nmyhostname = a\n  continued\n# inner\n  more\nmydomain = d\n"
    theirs_dir, ours_dir = oracle_pair(tmp_path, main, master)
    for edit in (["-e", "myhostname=b", "relayhost=[r]:587"], ["-#", "mydomain"],
                 ["-X", "relayhost"], ["-M#", "uucp/unix"], ["-MX", "bsmtp/unix"]):
        run([oracle, "-c", theirs_dir, *edit])
        run([postern("postconf"), "-c", ours_dir, *edit])
        assert (ours_dir / "main.cf").read_text() == (theirs_dir / "main.cf").read_text(), edit
        assert (ours_dir / "master.cf").read_text() == (theirs_dir / "master.cf").read_text(), edit


def test_database_table_configuration_is_checked_like_postfix(tmp_path):
    """ldap:/mysql:/... files are checked for parameters their type does not
    know, missing files are reported, and ldap:name makes name_* parameters
    legitimate; the same output and warnings as Postfix."""
    oracle = postfix_oracle("postconf")
    results = []
    for side, program in (("theirs", oracle), ("ours", postern("postconf"))):
        d = tmp_path / side
        d.mkdir()
        (d / "master.cf").write_text("")
        (d / "acc.cf").write_text("hosts = 127.0.0.1\nzzz = 2\nquery = SELECT 1\n")
        (d / "ldap.cf").write_text("server_host = x\nsearch_base = y\nfoo = 1\n")
        (d / "mem.cf").write_text("memcache = inet:127.0.0.1:11211\nhosts = x\n")
        (d / "main.cf").write_text(
            f"virtual_alias_maps = ldap:foo, mysql:{d}/missing.cf, proxy:ldap:{d}/ldap.cf\n"
            "foo_server_host = ldap.example\n"
            "foo_bogus = y\n"
            f"smtpd_recipient_restrictions = check_recipient_access mysql:{d}/acc.cf, permit\n"
            f"relay_domains = memcache:{d}/mem.cf\n")
        r = run([program, "-c", d, "-n"])
        warnings = {line.split(": ", 1)[1].replace(str(d), "DIR") for line in r.stderr.splitlines()}
        results.append((r.returncode, r.stdout.replace(str(d), "DIR"), warnings))
    assert results[1] == results[0]
    assert 'warning: open "mysql" configuration "DIR/missing.cf": No such file or directory' in results[1][2]
    assert "foo_server_host = ldap.example" in results[1][1]
