"""Shared fixtures for system tests: where Postern's programs are, the
Debian Postfix oracle, and throwaway configuration directories."""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

SOURCE = pathlib.Path(os.environ.get("POSTERN_SOURCE", pathlib.Path(__file__).resolve().parents[2]))
BIN = pathlib.Path(os.environ.get("POSTERN_BIN", SOURCE / "build" / "bin"))
DATA = SOURCE / "tests" / "data"
SEEDS = SOURCE.parent / "shared" / "seeds"
POSTFIX_SBIN = pathlib.Path("/usr/sbin")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Each pytest run gets its own temporary tree, traversable by other
    users (postfix, nobody, the postern user). pytest's shared default
    (/tmp/pytest-of-root) is reset to mode 0700 by every run that starts,
    which breaks tests of another run that ctest runs at the same time."""
    if not config.option.basetemp:
        top = tempfile.mkdtemp(prefix="postern-pytest-")
        os.chmod(top, 0o755)
        config.option.basetemp = os.path.join(top, "t")
        config._postern_tmp_top = top


@pytest.fixture
def tmp_path(tmp_path, request):
    """pytest's tmp_path, opened (0755 up to this run's own top directory) so
    that daemons running as other users can reach files the test puts there."""
    top = getattr(request.config, "_postern_tmp_top", None)
    if top:
        p = tmp_path
        while str(p).startswith(top) and str(p) != top:
            os.chmod(p, 0o755)
            p = p.parent
    return tmp_path


def postern(program):
    """Absolute path of one of our programs."""
    path = BIN / program
    assert path.exists(), f"{path} is not built"
    return str(path)


def postfix_oracle(program):
    """Absolute path of Debian's Postfix program, or skip the test."""
    path = POSTFIX_SBIN / program
    if not path.exists() or not pathlib.Path("/usr/lib/postfix/sbin/master").exists():
        pytest.skip(f"Debian's Postfix is not installed ({path}); tools/deps installs it")
    return str(path)


def run(argv, **kw):
    """Runs a command, returning CompletedProcess with text output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run([str(a) for a in argv], **kw)


@pytest.fixture
def confdir(tmp_path):
    """An empty configuration directory with our conf/master.cf."""
    d = tmp_path / "etc"
    d.mkdir()
    shutil.copy(SOURCE / "conf" / "master.cf", d / "master.cf")
    (d / "main.cf").write_text("")
    return d
