# ctest-timeout: 300
"""`cmake --install` puts commands, daemons, configuration, links and systemd
units where an administrator expects them, and never overwrites an existing
main.cf or master.cf."""
import os
import subprocess

from conftest import BIN


def install(destdir):
    r = subprocess.run(["cmake", "--install", str(BIN.parent)], capture_output=True, text=True,
                       env={**os.environ, "DESTDIR": str(destdir)}, timeout=240)
    assert r.returncode == 0, r.stderr
    return r


def test_install_layout(tmp_path):
    install(tmp_path)
    for cmd in ("postfix", "postconf", "postmap", "postalias", "postqueue", "postsuper",
                "postcat", "sendmail", "postdrop", "newaliases"):
        assert os.access(tmp_path / "usr/sbin" / cmd, os.X_OK), cmd
    for daemon in ("master", "smtpd", "cleanup", "qmgr", "pickup", "trivial-rewrite",
                   "virtual", "local", "bounce", "showq", "anvil"):
        assert os.access(tmp_path / "usr/libexec/postern" / daemon, os.X_OK), daemon
    assert not (tmp_path / "usr/sbin/master").exists()
    assert os.readlink(tmp_path / "usr/bin/mailq") == "/usr/sbin/sendmail"
    assert os.readlink(tmp_path / "usr/bin/newaliases") == "/usr/sbin/sendmail"
    assert (tmp_path / "etc/postfix/main.cf").exists()
    assert (tmp_path / "etc/postfix/master.cf").exists()
    assert (tmp_path / "lib/systemd/system/postern.service").exists()


def test_install_keeps_an_existing_configuration(tmp_path):
    etc = tmp_path / "etc/postfix"
    etc.mkdir(parents=True)
    (etc / "main.cf").write_text("myhostname = mine.example\n")
    r = install(tmp_path)
    assert (etc / "main.cf").read_text() == "myhostname = mine.example\n"
    assert "Keeping existing" in r.stdout


def test_set_gid_commands(tmp_path):
    """Installed by root with a postdrop group, postdrop and postqueue are
    set-gid postdrop, as Postfix's."""
    import grp
    if os.getuid() != 0:
        return
    try:
        gid = grp.getgrnam("postdrop").gr_gid
    except KeyError:
        return
    install(tmp_path)
    for cmd in ("postdrop", "postqueue"):
        st = os.stat(tmp_path / "usr/sbin" / cmd)
        assert st.st_gid == gid, cmd
        assert st.st_mode & 0o2000, cmd


def test_set_gid_postqueue_refuses_a_users_configuration(tmp_path):
    """A set-gid postqueue must not let a user pick the configuration."""
    import subprocess
    if os.getuid() != 0:
        return
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(f"queue_directory = {tmp_path}/spool\n")
    pq = tmp_path / "postqueue"
    pq.write_bytes((BIN / "postqueue").read_bytes())
    if subprocess.run(["chgrp", "postdrop", str(pq)]).returncode != 0:
        return
    os.chmod(pq, 0o2755)
    r = subprocess.run(["su", "-s", "/bin/sh", "nobody", "-c", f"{pq} -c {etc} -p"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 77, r
    assert f"{etc} is not an authorized configuration directory" in r.stderr
