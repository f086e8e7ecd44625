# ctest-timeout: 60
"""The map types this build supports, as postconf -m lists them."""
from conftest import postern, postfix_oracle, run

# Postfix types Postern does not implement (yet).
MISSING = {"memcache", "nis"}


def test_postconf_m_lists_postfix_types(confdir):
    ours = run([postern("postconf"), "-c", confdir, "-m"])
    theirs = run([postfix_oracle("postconf"), "-c", confdir, "-m"])
    assert ours.returncode == theirs.returncode == 0
    want = [t for t in theirs.stdout.splitlines() if t not in MISSING]
    assert ours.stdout.splitlines() == want


def test_every_listed_type_is_known_to_postmap(confdir, tmp_path):
    for t in run([postern("postconf"), "-c", confdir, "-m"]).stdout.split():
        r = run([postern("postmap"), "-c", confdir, "-q", "x", f"{t}:{tmp_path}/nonexistent"])
        assert "unsupported dictionary type" not in r.stderr, t
