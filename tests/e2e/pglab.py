"""A throw-away PostgreSQL server for the e2e suite, as tests/pgserver starts one for the Rust
tests: the binaries of Debian's `postgresql` package (or `PG_BIN`), a cluster initialised in
a temp dir, trust authentication on loopback only, fsync off, a free 127.0.0.1 port, and the
server always stopped and its dir removed. The server refuses to run as root, so under root
it runs as `nobody` (initdb too). Python 3 standard library only.

    with PgLab() as pg:                 # raises fslab.Skip without server binaries
        url = pg.database("cc")         # postgres://rustflow@127.0.0.1:PORT/cc
        pg.sql("cc", "SELECT 1")

The server process gets PR_SET_PDEATHSIG, so it dies with the runner even if the runner is
killed; a normal exit, a failure and KeyboardInterrupt go through `stop()`.
"""

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from fslab import Skip

# The unprivileged user the server runs as when we are root.
SERVER_USER = "nobody"
# The cluster's superuser (trust authentication, loopback only).
SUPERUSER = "rustflow"


def find_bin():
    """`PG_BIN`, else `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin; None
    when none has `postgres` and `initdb`."""
    def has_server(d: Path):
        return (d / "postgres").is_file() and (d / "initdb").is_file()

    if os.environ.get("PG_BIN"):
        d = Path(os.environ["PG_BIN"])
        return d if has_server(d) else None
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        d = Path(out.stdout.strip())
        if out.returncode == 0 and has_server(d):
            return d
    versions = []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.isdigit() and has_server(entry / "bin"):
                versions.append((int(entry.name), entry / "bin"))
    return max(versions)[1] if versions else None


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgLab:
    """One private PostgreSQL server. A context manager: it always stops."""

    def __init__(self):
        self.bin = find_bin()
        if self.bin is None:
            why = "no PostgreSQL server binaries (Debian package `postgresql`, or PG_BIN)"
            if os.environ.get("CI"):
                # CI installs the package (.ci/run): its absence there is a failure
                raise RuntimeError(f"{why}; CI installs the package, so this is a failure")
            raise Skip(why)
        self.root = Path(tempfile.mkdtemp(prefix="rustflow-pglab-"))
        self.data = self.root / "data"
        self.port = _free_tcp_port()
        self.proc = None
        self.as_root = os.geteuid() == 0
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            self.uid, self.gid = user.pw_uid, user.pw_gid
            os.chown(self.root, self.uid, self.gid)

    # --- processes as the server's user --------------------------------------------------
    def _drop_privileges(self):
        if self.as_root:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)

    def _server_preexec(self):
        self._drop_privileges()
        # after setuid: changing credentials clears the parent-death signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        os.setsid()

    def _run(self, *args, timeout=60):
        out = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                             timeout=timeout, preexec_fn=self._drop_privileges, cwd=self.root)
        if out.returncode != 0:
            raise RuntimeError(f"{Path(str(args[0])).name} exited {out.returncode}: "
                               f"{out.stdout}{out.stderr}")
        return out.stdout

    # --- life cycle ---------------------------------------------------------------------
    def start(self, timeout=30.0):
        self._run(self.bin / "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--locale=C")
        self.log_path = self.root / "server.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=self._server_preexec, cwd=self.root)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            ready = subprocess.run([str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1",
                                    "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres"])
            if ready.returncode == 0:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.proc.returncode}): {self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready after {timeout} s: {self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def url(self, database: str) -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}?connect_timeout=5"

    def database(self, name: str) -> str:
        """Creates an empty database; returns its URL."""
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", SUPERUSER, name)
        return self.url(name)

    def sql(self, database: str, query: str) -> list:
        """Runs `query` with psql; the rows as lists of text (tab-separated output)."""
        out = self._run(self.bin / "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v",
                        "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", self.port, "-U", SUPERUSER,
                        "-d", database, "-c", query)
        return [line.split("\t") for line in out.splitlines() if line]

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(Exception):
                    subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "stop",
                                    "-m", "fast", "-w", "-t", "20"], capture_output=True,
                                   timeout=30, preexec_fn=self._drop_privileges)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False
