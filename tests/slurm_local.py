"""A real single-node SLURM (Debian packages) on localhost, for tests/test_slurm.py.

Started by hand (no systemd): MariaDB + slurmdbd (so `sacct` works as on a real cluster and
the executor plugin's default status command needs no change), munged, slurmctld, slurmd.
Two partitions share the node: `cpu` (default) and `gpu`; the node has fake GPUs (gres backed
by character devices made with mknod — SLURM schedules them, nothing computes on them).
Every daemon is stopped by its PID in `stop()`; config files this module wrote are removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "slurmdbd", "munge", "mariadb-server"]
BINARIES = ["slurmctld", "slurmd", "sbatch", "sacct", "slurmdbd", "munged", "mariadbd", "mariadb"]
CONF_DIR = Path("/etc/slurm")
CLUSTER = "selectbench"


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if not (shutil.which(b) or Path("/usr/sbin", b).exists())]


def ensure_installed(log) -> str | None:
    """Install the Debian packages if missing; None if ready, else why not (a skip reason)."""
    if not missing_binaries():
        return None
    if os.environ.get("SELECTBENCH_NO_SYSTEM_INSTALL"):
        return (f"SLURM not installed ({', '.join(missing_binaries())} missing) and "
                "SELECTBENCH_NO_SYSTEM_INSTALL is set")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"SLURM not installed ({', '.join(missing_binaries())} missing) and no root apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        log.write(f"$ {' '.join(cmd)}\n{res.stdout[-2000:]}{res.stderr[-2000:]}\n")
        if res.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {res.stderr.strip()[-300:]}"
    left = missing_binaries()
    return f"still missing after apt-get: {', '.join(left)}" if left else None


def _sbin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class LocalSlurm:
    def __init__(self, root: Path, gpus: int = 2, cpus: int = 8, mem_mb: int = 16000):
        self.root, self.gpus, self.cpus, self.mem_mb = Path(root), gpus, cpus, mem_mb
        self.node = socket.gethostname().split(".")[0]
        self.pids: dict[str, Path] = {}
        self.written: list[Path] = []
        self.log = open(self.root / "slurm-setup.log", "a")

    # ------------------------------------------------------------ config
    def _write(self, path: Path, text: str, mode: int = 0o644, owner: str | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path not in self.written:
            backup = path.with_name(path.name + ".selectbench-backup")
            if not backup.exists():
                shutil.copy2(path, backup)
        path.write_text(text)
        path.chmod(mode)
        if owner:
            shutil.chown(path, owner, owner)
        self.written.append(path)

    def configure(self):
        r = self.root
        for d in ("state", "spool", "log", "run", "dev"):
            (r / d).mkdir(parents=True, exist_ok=True)
        devs = []
        for i in range(self.gpus):
            dev = r / "dev" / f"fakegpu{i}"
            try:
                if not dev.exists():
                    os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))   # a character device (like /dev/null)
            except PermissionError:        # a container without CAP_MKNOD: any existing character device
                dev = Path(["/dev/null", "/dev/zero", "/dev/full", "/dev/random"][i])
            devs.append(dev)
        self._write(CONF_DIR / "slurm.conf", f"""\
ClusterName={CLUSTER}
SlurmctldHost={self.node}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
DefMemPerCPU=500
ReturnToService=2
MinJobAge=300
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStoreFlags=job_comment
GresTypes=gpu
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} Gres=gpu:{self.gpus} State=UNKNOWN
PartitionName=cpu Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={self.node} Default=NO MaxTime=INFINITE State=UP
""")
        self._write(CONF_DIR / "gres.conf", "AutoDetect=off\n" + "".join(
            f"NodeName={self.node} Name=gpu File={d}\n" for d in devs))
        self._write(CONF_DIR / "slurmdbd.conf", f"""\
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile={r}/run/slurmdbd.pid
LogFile={r}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=selectbench_slurm_acct
StorageUser=root
""", mode=0o600)

    # ------------------------------------------------------------ daemons
    def _spawn(self, name: str, cmd: list[str], pidfile: Path, user: str | None = None):
        self.log.write(f"$ {' '.join(cmd)}\n")
        self.log.flush()
        subprocess.run(cmd if user is None else ["runuser", "-u", user, "--", *cmd],
                       stdout=self.log, stderr=self.log, timeout=60, check=True)
        self.pids[name] = pidfile
        _wait(lambda: pidfile.exists() and pidfile.read_text().strip(), 30, f"{name} pid file {pidfile}")

    def start(self):
        r = self.root
        # MariaDB, accounting database for slurmdbd (root over the unix socket, no password)
        run_dir = Path("/run/mysqld")   # the client library's default socket: slurmdbd finds it
        run_dir.mkdir(exist_ok=True)
        shutil.chown(run_dir, "mysql", "mysql")
        sock = run_dir / "mysqld.sock"
        self.mysql_sock = sock
        if not Path("/var/lib/mysql/mysql").exists():     # the package's postinst did not initialise it
            subprocess.run(["mariadb-install-db", "--user=mysql"], stdout=self.log, stderr=self.log, check=True,
                           timeout=120)
        db_pid = run_dir / "selectbench-mysqld.pid"
        proc = subprocess.Popen([_sbin("mariadbd"), "--user=mysql", f"--socket={sock}", f"--pid-file={db_pid}",
                                 "--skip-networking",
                                 f"--log-error={r}/log/mariadb.log"], stdout=self.log, stderr=self.log,
                                start_new_session=True)
        self.pids["mariadbd"] = db_pid
        self.mariadb = proc
        _wait(lambda: sock.exists() or proc.poll() is not None, 60, "MariaDB socket")
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited: see {r}/log/mariadb.log")
        # munge: slurm's authentication
        munge_run = Path("/run/munge")
        munge_run.mkdir(exist_ok=True)
        shutil.chown(munge_run, "munge", "munge")
        self._spawn("munged", [_sbin("munged"), "--force"], munge_run / "munged.pid", user="munge")
        self._spawn("slurmdbd", [_sbin("slurmdbd")], r / "run/slurmdbd.pid")
        _wait(lambda: subprocess.run(["sacctmgr", "-n", "list", "cluster"], capture_output=True).returncode == 0,
              60, "slurmdbd answering sacctmgr")
        self._spawn("slurmctld", [_sbin("slurmctld"), "-i"], r / "run/slurmctld.pid")
        self._spawn("slurmd", [_sbin("slurmd")], r / "run/slurmd.pid")
        _wait(self._node_idle, 90, f"node {self.node} idle (see {r}/log/slurmctld.log)")

    def _node_idle(self) -> bool:
        res = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True)
        return res.returncode == 0 and res.stdout.split() and all(s == "idle" for s in res.stdout.split())

    def stop(self):
        """Cancel jobs, stop every daemon by its PID (reverse start order), remove our config."""
        subprocess.run(["scancel", "--full", "-u", "root"], capture_output=True, timeout=30)
        pids = []
        for name in reversed(list(self.pids)):
            try:
                pids.append(int(self.pids[name].read_text().strip()))
            except (OSError, ValueError):
                continue
        self.stopped = pids
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        for pid in pids:
            _kill(pid)
        if getattr(self, "mariadb", None) is not None:
            self.mariadb.wait(timeout=30)
        self.pids.clear()
        for path in reversed(self.written):
            backup = path.with_name(path.name + ".selectbench-backup")
            if backup.exists():
                shutil.move(backup, path)
            else:
                path.unlink(missing_ok=True)
        self.written.clear()
        self.log.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal(pid: int, sig) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _kill(pid: int, grace: float = 20):
    _signal(pid, signal.SIGTERM)
    end = time.time() + grace
    while time.time() < end and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        _signal(pid, signal.SIGKILL)


def daemons_running(pids: list[int]) -> list[int]:
    return [p for p in pids if _alive(p)]


def _wait(cond, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
