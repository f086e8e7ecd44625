# ctest-timeout: 900
"""postcat: Postern's postcat prints exactly what Debian's Postfix 3.7
postcat prints, for queue files written by Postfix (checked-in samples and,
as root, files from a live Postfix instance), for files written by Postern's
queue library (which Debian's postcat must read without complaint), and for
damaged or unusual files (same output, warnings and exit status)."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from conftest import BIN, DATA, postern, postfix_oracle, run
import postfix_oracle as oracle_lib

SAMPLES = sorted(p for p in (DATA / "queue").iterdir() if "-" in p.name and p.suffix != ".py")
WRITER = BIN.parent / "tests" / "queue_file_writer"

FLAGS = ["", "-e", "-h", "-b", "-he", "-hb", "-eb", "-o", "-d", "-od", "-ohb", "-oe", "-r",
         "-s 97 -o", "-s 5"]
# Postfix's -v also writes debug lines to stderr: compare standard output only.
VERBOSE_FLAGS = ["-v", "-ov", "-odv", "-hv", "-bv", "-rv", "-orv"]


@pytest.fixture(scope="module")
def etc(tmp_path_factory):
    d = tmp_path_factory.mktemp("etc")
    (d / "main.cf").write_text("")
    return d


def postcats(etc, args, **kw):
    """Runs Debian's postcat and ours with the same arguments."""
    theirs = run([postfix_oracle("postcat"), "-c", etc, *args], text=False, **kw)
    ours = run([postern("postcat"), "-c", etc, *args], text=False, **kw)
    return theirs, ours


def assert_same(etc, args, verbose=False, **kw):
    theirs, ours = postcats(etc, args, **kw)
    assert ours.stdout == theirs.stdout, f"stdout differs for postcat {' '.join(map(str, args))}"
    if not verbose:
        # Both prefix their messages with argv[0] as given.
        ours_err = ours.stderr.decode().replace(postern("postcat"), "postcat")
        theirs_err = theirs.stderr.decode().replace(postfix_oracle("postcat"), "postcat")
        assert ours_err == theirs_err, f"stderr differs for {args}"
    assert ours.returncode == theirs.returncode, f"exit status differs for {args}"
    return ours


# ---- Files written by Postfix ----

@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_postfix_written_files(etc, sample):
    for flags in FLAGS:
        assert_same(etc, [*flags.split(), sample])
    for flags in VERBOSE_FLAGS:
        assert_same(etc, [*flags.split(), sample], verbose=True)


def test_sample_shows_envelope_headers_and_body(etc):
    sample = next(p for p in SAMPLES if p.name.startswith("deferred-"))
    out = run([postern("postcat"), "-c", etc, sample]).stdout
    assert f"*** ENVELOPE RECORDS {sample} ***" in out
    assert "done_recipient: ok@discard.test" in out
    assert "recipient: late@defer.test" in out
    assert "Subject: partly delivered\n" in out
    assert out.endswith(f"*** MESSAGE FILE END {sample} ***\n")


def test_live_postfix_queue_files(etc, tmp_path):
    """Fresh files from a throwaway Postfix 3.7 (maildrop, hold, deferred
    with a done recipient, long queue IDs)."""
    if not oracle_lib.available():
        pytest.skip("needs root and Debian's Postfix")
    sys.path.insert(0, str(DATA / "queue"))
    import make_samples
    out = tmp_path / "samples"
    out.mkdir()
    files = make_samples.make_samples(out)
    assert len(files) == 4
    for f in files:
        for flags in ["", "-o", "-hb", "-e", "-ov"]:
            assert_same(etc, [*flags.split(), f], verbose="v" in flags)


# ---- Files written by Postern ----

def write_queue_file(queue_dir, queue, message, *opts):
    r = run([WRITER, *opts, queue_dir, queue], input=message)
    assert r.returncode == 0, r.stderr
    qid, path = r.stdout.split()
    return qid, pathlib.Path(path)


@pytest.fixture
def queue_dir(tmp_path):
    q = tmp_path / "spool"
    for name in ("maildrop", "incoming", "active", "deferred", "hold", "saved", "corrupt"):
        (q / name).mkdir(parents=True)
    return q


MESSAGE = ("Received: from client.test (localhost [127.0.0.1])\n"
           "\tby postern.test (Postern) with ESMTP id TEST;\n"
           "Subject: written by Postern\n"
           "To: bob@dest.test,\n carol@dest.test\n"
           "\n"
           "Body line one.\n"
           ".leading dot\n"
           + "y" * 5000 + "\n"
           "Last line.\n")


def test_postfix_postcat_reads_postern_file(etc, queue_dir):
    qid, path = write_queue_file(
        queue_dir, "incoming", MESSAGE,
        "-s", "alice@client.test", "-a", "log_ident=x", "-a", "rewrite_context=local",
        "-r", "bob@dest.test=Bob@Dest.test", "-r", "carol@dest.test", "-d", "0")
    assert path == queue_dir / "incoming" / qid
    assert (path.stat().st_mode & 0o777) == 0o700
    theirs = run([postfix_oracle("postcat"), "-c", etc, path])
    assert theirs.returncode == 0 and theirs.stderr == ""
    lines = theirs.stdout.splitlines()
    assert lines[0] == f"*** ENVELOPE RECORDS {path} ***"
    assert lines[1].startswith("message_size: ")
    assert "sender: alice@client.test" in lines
    assert "named_attribute: rewrite_context=local" in lines
    assert "original_recipient: Bob@Dest.test" in lines
    assert "done_recipient: bob@dest.test" in lines
    assert "recipient: carol@dest.test" in lines
    assert "Subject: written by Postern" in lines
    assert "y" * 5000 in lines  # L records rejoined by Postfix's postcat
    assert lines[-1] == f"*** MESSAGE FILE END {path} ***"
    # Postfix's postcat finds no fault with the size record: with -h it
    # jumps to the content through the size record's data offset.
    h = run([postfix_oracle("postcat"), "-c", etc, "-h", path])
    assert h.stderr == "" and h.stdout.startswith("Received: from client.test")
    for flags in FLAGS:
        assert_same(etc, [*flags.split(), path])
    for flags in VERBOSE_FLAGS:
        assert_same(etc, [*flags.split(), path], verbose=True)


def test_postfix_postcat_reads_postern_maildrop_and_long_id_files(etc, queue_dir):
    _, maildrop = write_queue_file(queue_dir, "maildrop", "Subject: m\n\nhi\n", "-m", "-f", "Carol Q",
                                   "-s", "carol@compat.test", "-r", "dave@dest.test")
    qid, deferred = write_queue_file(queue_dir, "deferred", MESSAGE, "-l", "-s", "", "-r", "x@y.test")
    assert len(qid) >= 12 and "z" in qid[10:]
    assert deferred.parent.parent == queue_dir / "deferred"  # hashed: deferred/X/ID
    for path in (maildrop, deferred):
        theirs = run([postfix_oracle("postcat"), "-c", etc, path])
        assert theirs.returncode == 0 and theirs.stderr == "", theirs.stderr
        for flags in ["", "-o", "-hb", "-e", "-ov"]:
            assert_same(etc, [*flags.split(), path], verbose="v" in flags)


def test_queue_id_lookup(tmp_path, queue_dir):
    etc = tmp_path / "qetc"
    etc.mkdir()
    (etc / "main.cf").write_text(f"queue_directory = {queue_dir}\n")
    held, _ = write_queue_file(queue_dir, "hold", MESSAGE, "-s", "a@b.test", "-r", "c@d.test")
    deferred, dpath = write_queue_file(queue_dir, "deferred", MESSAGE, "-s", "a@b.test", "-r", "c@d.test")
    ours = assert_same(etc, ["-q", deferred])
    rel = dpath.relative_to(queue_dir)
    assert ours.stdout.decode().splitlines()[0] == f"*** ENVELOPE RECORDS {rel} ***"
    assert_same(etc, ["-q", "-h", held])
    assert_same(etc, ["-q", held, deferred])
    r = assert_same(etc, ["-q", "NOSUCHID"])
    assert r.returncode == 1
    assert_same(etc, ["-q", "../etc"])
    # Maildrop comes before hold in the search order.
    shutil.copy(queue_dir / "hold" / held, queue_dir / "maildrop" / held)
    ours = assert_same(etc, ["-q", "-e", held])
    assert f"maildrop/{held}" in ours.stdout.decode()


def test_stdin_and_command_errors(etc, tmp_path):
    sample = SAMPLES[0]
    assert_same(etc, [], input=sample.read_bytes())
    assert_same(etc, [tmp_path / "missing"])
    assert_same(etc, ["-x"])
    assert_same(etc, ["-s", "-5", sample])
    assert_same(etc, ["-s", "abc", sample])
    assert_same(etc, [sample, tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert_same(etc, [empty])
    r = run([postern("postcat"), "-c", tmp_path / "nonexistent", sample])
    assert r.returncode == 1 and "main.cf: No such file or directory" in r.stderr


# ---- Damaged and unusual files ----

def rec(rtype, data=b""):
    if isinstance(rtype, str):
        rtype = ord(rtype)
    if isinstance(data, str):
        data = data.encode()
    n, out = len(data), bytearray([rtype])
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            break
    return bytes(out) + data


def message(lines, envelope=(("S", "a@b"), ("R", "c@d"))):
    d = rec("T", "1795439462 5") + b"".join(rec(t, v) for t, v in envelope) + rec("M")
    for line in lines:
        d += rec(*line) if isinstance(line, tuple) else rec("N", line)
    return d + rec("X") + rec("E")


def with_size(lines, size=None, offset_delta=0):
    body = rec("T", "1 2") + rec("S", "a@b") + rec("R", "c@d") + rec("M")
    pos = 42 + len(body)
    content = b"".join(rec(*l) if isinstance(l, tuple) else rec("N", l) for l in lines)
    size_text = f"{len(content) if size is None else size} {pos + offset_delta}".ljust(40)
    return rec("C", size_text) + body + content + rec("X") + rec("R", "xr") + rec("E")


def pointer_file():
    head = rec("T", "1 2") + rec("M") + rec("N", "a")
    skipped = rec("N", "skipped")
    target = len(head) + 17 + len(skipped)
    tail = rec("N", "target")
    x = target + len(tail) + 17
    return head + rec("p", f"{target:15d}") + skipped + tail + rec("p", f"{x:15d}") + rec("X") + rec("E")


HOLD = next(p for p in SAMPLES if p.name.startswith("hold-")).read_bytes()

DAMAGED = {
    "truncated-in-data": HOLD[:300],
    "truncated-after-size": HOLD[:97],
    "truncated-in-length": HOLD[:6238],
    "not-a-queue-file": b"Z\x05hello",
    "first-record-text": rec("N", "x") + rec("T", "1 2"),
    "too-many-length-bits": rec("T", "1 2") + rec("M") + b"N\xff\xff\xff\xff\xff\x01abc",
    "negative-length": rec("T", "1 2") + rec("M") + b"N\xff\xff\xff\xff\x0fabc",
    "length-beyond-file": rec("T", "1 2") + rec("M") + b"N\xff\xff\xff\x7fabc",
    "unknown-types": rec("T", "1 2") + b"".join(rec(t, f"v{t}") for t in range(256) if chr(t) not in "MXEpCTcWA"),
    "unknown-types-in-content": rec("T", "1 2") + rec("M") + b"".join(
        rec(t, f"v{t}") for t in range(256) if chr(t) not in "MXEpCTcWA"),
    "unknown-types-extracted": rec("T", "1 2") + rec("M") + rec("X") + b"".join(
        rec(t, f"v{t}") for t in range(256) if chr(t) not in "MXEpCTcWA"),
    "out-of-order-markers": rec("T", "1 2") + rec("M") + rec("N", "a") + rec("M") + rec("N", "b") + rec("X")
        + rec("R", "xr") + rec("N", "xn") + rec("L", "xl") + rec("M") + rec("X") + rec("E"),
    "end-in-content": rec("T", "1 2") + rec("M") + rec("N", "x") + rec("Q", "qq") + rec("E"),
    "extracted-without-content": rec("T", "1 2") + rec("S", "a@b") + rec("X") + rec("N", "x") + rec("E"),
    "records-after-end": rec("T", "1 2") + rec("E") + rec("N", "after"),
    "pointers": pointer_file(),
    "zero-pointer-and-padding": message(["x", ("p", f"{0:15d}"), ("w", "   "), "y"]),
    "malformed-pointer": message(["x", ("p", "junk")]),
    "odd-values": rec("T", "abc") + rec("T", "") + rec("T", "-5 1") + rec("W", "5") + rec("W", "")
        + rec("C", "x") + rec("c", "7") + rec("A", "create_time=bad") + rec("A", " n = v ")
        + rec("A", "noequal") + rec("A", "=v") + rec("A", "n==v") + rec("M"),
    "nul-bytes": rec("T", "1 2") + rec("N", "env\0n") + rec("L", "env\0l") + rec("S", "s\0x")
        + rec("A", "a=b\0c") + rec("M") + rec("N", "Subj\0ect: x") + rec("L", "l\0l") + rec("N", "n\0n")
        + rec("R", "r\0r") + rec("X") + rec("N", "x\0n") + rec("E"),
    "big-record": rec("T", "1 2") + rec("M") + rec("N", "a" * 100000) + rec("X") + rec("E"),
    "headers-then-body": message(["Subject: a", "body line", "more"]),
    "no-headers": message(["body only", "Subject: x"]),
    "continued-headers": message(["Subject: a", " cont", "\tcont2", ("L", "X-Long: " + "y" * 10), "tail", "", "body"]),
    "blank-first": message(["", "Subject: x", "body"]),
    "long-body-lines": message(["Subject: a", "", ("L", "bbb"), ("L", "ccc"), "ddd", "e"]),
    "mime": message(["Subject: a", "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="XX"', "",
                     "preamble", "--XX", "Content-Type: text/plain", "", "part body", "--XX--"]),
    "mbox-from": message(["From someone", "Subject: a", "", "b"]),
    "header-only": message(["Subject: a"]),
    "leading-space": message([" leading space", "Subject: a", "", "b"]),
    "split-header-name": message(["Subject: a", ("L", "Cont"), ("L", "inued: x"), "", "b"]),
    "header-names": message(["Subject : x", "Su(b): x", 'S"q: 1', "Subject\t: x", "X:", "a b: c", "body"]),
    "bad-header-names": message([": x", "Sub\x01ject: x", "\xc3\x9cber: x", "body"]),
    "header-continuation-pieces": message(["Subject: a", ("L", "X-Long: y"), ("L", "zzz"), "end", "Next: h", "", "body"]),
    "records-in-content": message([("R", "first"), "Subject: a", ("R", "inhdr"), " cont", "", ("R", "inbody"), "b",
                                   ("S", "x"), ("K", "k"), "c"]),
    "truncated-first-record": HOLD[:50],
    "open-line-before-extracted": rec("T", "1 2") + rec("M") + rec("N", "Subject: a") + rec("N") + rec("L", "abc")
        + rec("X") + rec("L", "def") + rec("E"),
    "open-line-at-end": rec("T", "1 2") + rec("M") + rec("N", "Subject: a") + rec("N") + rec("L", "abc") + rec("E"),
    "attribute-syntax": rec("T", "1 2") + rec("A") + rec("A", "  ") + rec("A", " =x") + rec("A", "a b=c")
        + rec("A", "ab =c") + rec("A", "a\tb") + rec("A", "a=\x01") + rec("M"),
    "size-record-ok": with_size(["Subject: s", "", "body"]),
    "size-record-zero": with_size(["Subject: s", "", "body"], size=0),
    "size-record-points-at-marker": with_size(["Subject: s", "", "body"], offset_delta=-2),
    "size-record-wrong-size": with_size(["Subject: s", "", "body"], size=5),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_and_unusual_files(etc, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(DAMAGED[name])
    for flags in FLAGS:
        assert_same(etc, [*flags.split(), path])
    for flags in VERBOSE_FLAGS:
        assert_same(etc, [*flags.split(), path], verbose=True)
