"""CPU time used by everything a mail system runs, whatever else the
machine does: processes started inside `CpuGroup.entered()` (the
master and every daemon it forks) are accounted in a cgroup-v1 cpuacct
group of their own. Without cgroup support `seconds()` is None."""
import contextlib
import os
import pathlib

ROOT = pathlib.Path("/sys/fs/cgroup/cpuacct")


class CpuGroup:
    def __init__(self, name):
        self.path = ROOT / f"postern-bench-{name}-{os.getpid()}"
        try:
            self.path.mkdir()
        except OSError:
            self.path = None

    @contextlib.contextmanager
    def entered(self):
        """Processes forked inside the block are accounted here."""
        if self.path is None:
            yield
            return
        (self.path / "cgroup.procs").write_text(str(os.getpid()))
        try:
            yield
        finally:
            (ROOT / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self):
        if self.path is None:
            return None
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def remove(self):
        if self.path is None:
            return
        for p in (self.path / "cgroup.procs").read_text().split():
            try:
                (ROOT / "cgroup.procs").write_text(p)
            except OSError:
                pass
        try:
            self.path.rmdir()
        except OSError:
            pass


def proc_cpu_seconds(pid):
    """utime + stime of a live process (all its threads)."""
    try:
        f = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None
