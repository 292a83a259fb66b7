"""A throw-away FreeSWITCH for tests: find it, configure it in a temp dir, run it, stop it.

Shared by the e2e suite (tests/e2e/run_e2e.py) and the call benchmark (bench/bench.py).
Python 3 standard library only.

Nothing here touches the installed instance's directories or ports: every directory FreeSWITCH
uses (-base -conf -log -db -mod -run -temp and the rest) lives under one temp dir, the SIP
profile, event socket and RTP range use free ports on 127.0.0.1, and the process dies with us
(PR_SET_PDEATHSIG) even if this script is killed.
"""

import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ESL_PASSWORD = "ClueCon"

# Modules the suite loads, in order (the brief's list); mod_rustflow comes from the build.
MODULES = [
    "mod_console", "mod_logfile", "mod_event_socket", "mod_commands", "mod_dptools",
    "mod_dialplan_xml", "mod_sofia", "mod_loopback", "mod_tone_stream", "mod_sndfile",
    "mod_native_file", "mod_conference", "mod_valet_parking", "mod_lua", "mod_db", "mod_hash",
    "mod_rustflow",
]


# The directory domain of the lab: its users are the agents the e2e suite registers with sipp
# (sip.Agent) and dials as `user/EXT@LAB_DOMAIN`. A name, not the profile's IP, so a dial that
# used the IP instead of the domain would fail (mod_dptools finds no such user). FreeSWITCH's
# `$${domain}` is set to it, and so is mod_rustflow's `default-domain`: an unauthenticated
# caller's channel has no `domain_name`, so a flow's `{"type": "user"}` endpoint without a
# `domain` dials this one.
LAB_DOMAIN = "e2e.lab"
AGENT_EXTENSIONS = [str(n) for n in range(1001, 1041)]


class Skip(Exception):
    """FreeSWITCH (or a tool the suite needs) is not there: the caller prints one SKIP line."""


# --------------------------------------------------------------------------------------------
# Finding FreeSWITCH and building the module


class Install:
    def __init__(self, binary: Path, mod_dir: Path, pkgconfig_dir):
        self.binary = binary
        self.mod_dir = mod_dir
        self.pkgconfig_dir = pkgconfig_dir

    def __repr__(self):
        return f"FreeSWITCH {self.binary} (modules {self.mod_dir})"


def find_freeswitch() -> Install:
    """FREESWITCH_PREFIX first, then `freeswitch` on PATH. Raises Skip when absent."""
    prefix = os.environ.get("FREESWITCH_PREFIX", "").strip()
    if prefix:
        binary = Path(prefix) / "bin" / "freeswitch"
        if not binary.is_file():
            # asked for explicitly: a mistake to report, not a reason to skip
            raise RuntimeError(f"FREESWITCH_PREFIX={prefix} has no bin/freeswitch")
    else:
        found = shutil.which("freeswitch")
        if not found:
            raise Skip("no FreeSWITCH (set FREESWITCH_PREFIX or put `freeswitch` on PATH)")
        binary = Path(found).resolve()
        prefix = str(binary.parent.parent)
    prefix = Path(prefix)
    candidates = []
    if os.environ.get("FREESWITCH_MOD_DIR"):
        candidates.append(Path(os.environ["FREESWITCH_MOD_DIR"]))
    candidates += [prefix / "lib" / "freeswitch" / "mod", prefix / "mod"]
    mod_dir = next((c for c in candidates if (c / "mod_sofia.so").is_file()), None)
    if mod_dir is None:
        raise RuntimeError(
            f"found {binary} but no modules dir with mod_sofia.so among "
            f"{', '.join(map(str, candidates))}; set FREESWITCH_MOD_DIR"
        )
    pc = prefix / "lib" / "pkgconfig"
    return Install(binary, mod_dir, pc if (pc / "freeswitch.pc").is_file() else None)


def find_lab_tools(suite: str):
    """FreeSWITCH and sipp for `suite` ("e2e", "bench"): (install, None) when both are there,
    else (None, exit status) after printing one `SKIP {suite}: ...` line (0) or an error (2)."""
    from sip import sipp_binary  # sip imports this module

    try:
        install = find_freeswitch()
        sipp_binary()
    except Skip as e:
        print(f"SKIP {suite}: {e}")
        return None, 0
    except RuntimeError as e:
        print(f"{suite}: error: {e}", file=sys.stderr)
        return None, 2
    return install, None


def build_module(install: Install, features=("test-hooks",), target_dir=None) -> Path:
    """Builds mod_rustflow.so against the headers of the FreeSWITCH under test.

    Its own target dir, so switching features never rebuilds the shared target/.
    """
    target_dir = Path(target_dir or REPO / "target" / "e2e")
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    if install.pkgconfig_dir and not env.get("FREESWITCH_INCLUDE_DIR"):
        env["PKG_CONFIG_PATH"] = ":".join(
            p for p in [str(install.pkgconfig_dir), env.get("PKG_CONFIG_PATH", "")] if p
        )
    cmd = ["cargo", "build", "--release", "-p", "mod_rustflow"]
    if features:
        cmd += ["--features", ",".join(features)]
    print("build:", " ".join(cmd), f"(CARGO_TARGET_DIR={target_dir})", flush=True)
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    # A copy per feature set: the next build overwrites libmod_rustflow.so, and a running
    # FreeSWITCH must keep the file it loaded.
    variant = "-".join(features) or "release"
    so = target_dir / f"mod_rustflow-{variant}.so"
    tmp = so.with_suffix(".tmp")
    shutil.copyfile(target_dir / "release" / "libmod_rustflow.so", tmp)
    os.replace(tmp, so)
    headers = module_headers(target_dir)
    print(f"build: {so} — layout checked against: {headers}", flush=True)
    if install.pkgconfig_dir and "pkg-config" not in headers and "FREESWITCH_INCLUDE_DIR" not in headers:
        raise RuntimeError(f"the module was not built against the real headers ({headers})")
    return so


def module_headers(target_dir: Path) -> str:
    """Which headers freeswitch-sys bound and checked (its build script's
    `cargo::rustc-env=FREESWITCH_SYS_HEADERS=`)."""
    newest = None
    for out in (target_dir / "release" / "build").glob("freeswitch-sys-*/output"):
        if newest is None or out.stat().st_mtime > newest.stat().st_mtime:
            newest = out
    if newest is None:
        return "unknown"
    for line in newest.read_text(errors="replace").splitlines():
        if line.startswith("cargo::rustc-env=FREESWITCH_SYS_HEADERS="):
            return line.split("=", 2)[2]
    return "unknown"


# --------------------------------------------------------------------------------------------
# Ports


def free_port(kind=socket.SOCK_STREAM, also_udp=False) -> int:
    """A port free on 127.0.0.1 (for TCP and, when asked, UDP too)."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        try:
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))
            if also_udp:
                other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
                with socket.socket(socket.AF_INET, other) as s:
                    s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port found on 127.0.0.1")


def free_port_range(width=2000) -> int:
    """Start of an even RTP range of `width` ports, all free on 127.0.0.1 (UDP) right now.

    Below the default FreeSWITCH range (16384+) and the kernel's ephemeral ports, so it never
    meets the installed instance; FreeSWITCH fails a call whose RTP port is taken
    ("Bind Error"), so every port of the range is tried here.
    """
    for _ in range(50):
        start = random.randrange(4000, 16000 - width, 2)
        taken = False
        for port in range(start, start + width):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return start
    raise RuntimeError(f"no free range of {width} UDP ports found below 16000")


# --------------------------------------------------------------------------------------------
# Configuration


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def write_config(conf_dir: Path, *, sip_port, esl_port, rtp_start, rtp_end, dirs, dialplan_xml,
                 loglevel="debug", rustflow_params=None, extra_modules=(), extra_config_xml="",
                 switchname=None):
    """freeswitch.xml (one file) for the lab instance. `switchname` names the instance (the
    node name of mod_rustflow's contact centre; else FreeSWITCH uses the hostname, the same for
    two instances on one machine). `extra_modules` are loaded after
    MODULES, and `extra_config_xml` (their <configuration> elements) goes into the
    configuration section: for a run that needs a module the e2e suite does not load
    (the contact-centre benchmark's mod_callcenter)."""
    rustflow_params = dict(rustflow_params or {})
    modules = "\n".join(f'      <load module="{m}"/>' for m in [*MODULES, *extra_modules])
    rf_params = "\n".join(
        f'      <param name="{_xml_escape(k)}" value="{_xml_escape(str(v))}"/>'
        for k, v in rustflow_params.items()
    )
    users = "\n".join(f'          <user id="{ext}"/>' for ext in AGENT_EXTENSIONS)
    switchname_param = (f'\n        <param name="switchname" value="{_xml_escape(switchname)}"/>'
                        if switchname else "")
    text = f"""<?xml version="1.0"?>
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="set" data="domain={LAB_DOMAIN}"/>
  <section name="configuration" description="lab configuration">
    <configuration name="switch.conf" description="core">
      <settings>
        <param name="colorize-console" value="false"/>
        <param name="max-sessions" value="4000"/>
        <param name="sessions-per-second" value="2000"/>
        <param name="loglevel" value="{loglevel}"/>
        <param name="rtp-start-port" value="{rtp_start}"/>
        <param name="rtp-end-port" value="{rtp_end}"/>
        <!-- FreeSWITCH picks RTP ports at random; without this it can pick one another
             process has just bound and fail the call ("Bind Error"). -->
        <param name="rtp-port-usage-robustness" value="true"/>
        <param name="dump-cores" value="no"/>
        <param name="min-idle-cpu" value="0"/>{switchname_param}
      </settings>
    </configuration>
    <configuration name="modules.conf" description="modules">
      <modules>
{modules}
      </modules>
    </configuration>
    <configuration name="console.conf" description="console">
      <mappings><map name="all" value="console,debug,info,notice,warning,err,crit,alert"/></mappings>
      <settings><param name="colorize" value="false"/><param name="loglevel" value="{loglevel}"/></settings>
    </configuration>
    <configuration name="logfile.conf" description="log file">
      <settings><param name="rotate-on-hup" value="true"/></settings>
      <profiles>
        <profile name="default">
          <settings>
            <param name="logfile" value="{dirs['log']}/freeswitch.log"/>
            <param name="rollover" value="0"/>
            <param name="uuid" value="true"/>
          </settings>
          <mappings><map name="all" value="{'debug,' if loglevel == 'debug' else ''}info,notice,warning,err,crit,alert"/></mappings>
        </profile>
      </profiles>
    </configuration>
    <configuration name="event_socket.conf" description="event socket, loopback only">
      <settings>
        <param name="nat-map" value="false"/>
        <param name="listen-ip" value="127.0.0.1"/>
        <param name="listen-port" value="{esl_port}"/>
        <param name="password" value="{ESL_PASSWORD}"/>
        <param name="apply-inbound-acl" value="loopback.auto"/>
      </settings>
    </configuration>
    <configuration name="sofia.conf" description="one SIP profile on 127.0.0.1">
      <global_settings><param name="log-level" value="0"/></global_settings>
      <profiles>
        <profile name="lab">
          <settings>
            <param name="sip-ip" value="127.0.0.1"/>
            <param name="rtp-ip" value="127.0.0.1"/>
            <param name="ext-sip-ip" value="127.0.0.1"/>
            <param name="ext-rtp-ip" value="127.0.0.1"/>
            <param name="sip-port" value="{sip_port}"/>
            <param name="context" value="lab"/>
            <param name="dialplan" value="XML"/>
            <param name="auth-calls" value="false"/>
            <param name="inbound-codec-prefs" value="PCMU"/>
            <param name="outbound-codec-prefs" value="PCMU"/>
            <param name="dtmf-type" value="rfc2833"/>
            <param name="rfc2833-pt" value="101"/>
            <param name="manage-presence" value="false"/>
            <param name="enable-timer" value="false"/>
            <param name="rtp-timer-name" value="soft"/>
            <param name="inbound-late-negotiation" value="false"/>
            <param name="tls" value="false"/>
            <!-- Agents (sipp, sip.Agent) register without a digest challenge: sofia_reg.c
                 stores a REGISTER's contact at once when this is set, so an agent is one
                 REGISTER/200 and sipp needs no credentials. The profile is on 127.0.0.1 only.
                 Dialling `user/EXT@DOMAIN` still needs the user in the directory below. -->
            <param name="accept-blind-reg" value="true"/>
          </settings>
        </profile>
      </profiles>
    </configuration>
    <configuration name="conference.conf" description="conference">
      <caller-controls><group name="default"/></caller-controls>
      <profiles>
        <profile name="default">
          <param name="rate" value="8000"/>
          <param name="interval" value="20"/>
          <param name="energy-level" value="100"/>
          <param name="comfort-noise" value="true"/>
        </profile>
      </profiles>
    </configuration>
    <configuration name="valet_parking.conf" description="valet">
      <settings/>
    </configuration>
    <configuration name="db.conf" description="mod_db on the core database">
      <settings/>
    </configuration>
    <configuration name="lua.conf" description="lua">
      <settings><param name="script-directory" value="{dirs['scripts']}/?.lua"/></settings>
    </configuration>
    <configuration name="mod_rustflow.conf" description="JSON call flows">
      <settings>
{rf_params}
      </settings>
    </configuration>
{extra_config_xml}
  </section>
  <section name="directory" description="the agents' domain">
    <domain name="{LAB_DOMAIN}">
      <params>
        <!-- what `user/EXT@{LAB_DOMAIN}` dials (mod_dptools): the contact EXT registered on
             any profile; error/user_not_registered (USER_NOT_REGISTERED) when there is none -->
        <param name="dial-string" value="{{^^:sip_invite_domain=${{dialed_domain}}:presence_id=${{dialed_user}}@${{dialed_domain}}}}${{sofia_contact(*/${{dialed_user}}@${{dialed_domain}})}}"/>
      </params>
      <groups>
        <group name="agents">
          <users>
{users}
          </users>
        </group>
      </groups>
    </domain>
  </section>
  <section name="dialplan" description="lab dialplan">
    <context name="lab">
{dialplan_xml}
    </context>
  </section>
</document>
"""
    (conf_dir / "freeswitch.xml").write_text(text)


# --------------------------------------------------------------------------------------------
# The event socket (inbound client)


class Esl:
    """A tiny inbound event-socket client: `api` commands and, optionally, events as JSON."""

    def __init__(self, port, password=ESL_PASSWORD, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.lock = threading.Lock()
        headers, _ = self._read_message()
        if headers.get("Content-Type") != "auth/request":
            raise RuntimeError(f"event socket: unexpected greeting {headers}")
        reply = self._command(f"auth {password}")
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise RuntimeError(f"event socket: auth refused: {reply}")

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read_line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("event socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _read_exact(self, n) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("event socket closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _read_message(self):
        headers = {}
        while True:
            line = self._read_line().decode("utf-8", "replace").rstrip("\r")
            if line == "":
                if headers:
                    break
                continue
            key, _, value = line.partition(":")
            headers[key.strip()] = value.strip()
        body = b""
        if "Content-Length" in headers:
            body = self._read_exact(int(headers["Content-Length"]))
        return headers, body.decode("utf-8", "replace")

    def _command(self, cmd):
        self.sock.sendall(cmd.encode() + b"\n\n")
        while True:
            headers, body = self._read_message()
            if headers.get("Content-Type") == "command/reply":
                return headers
            if headers.get("Content-Type") == "api/response":
                return {"body": body, **headers}

    def api(self, cmd: str) -> str:
        with self.lock:
            self.sock.sendall(f"api {cmd}\n\n".encode())
            while True:
                headers, body = self._read_message()
                if headers.get("Content-Type") == "api/response":
                    return body


class EventCollector(threading.Thread):
    """A second event-socket connection that keeps every event of the given types."""

    def __init__(self, port, events="CHANNEL_HANGUP_COMPLETE"):
        super().__init__(daemon=True)
        self.esl = Esl(port)
        reply = self.esl._command(f"event json {events}")
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise RuntimeError(f"event socket: cannot subscribe: {reply}")
        self.events = []
        self.cond = threading.Condition()
        self.esl.sock.settimeout(None)
        self.start()

    def run(self):
        try:
            while True:
                headers, body = self.esl._read_message()
                if headers.get("Content-Type") == "text/event-json":
                    event = json.loads(body)
                    with self.cond:
                        self.events.append(event)
                        self.cond.notify_all()
        except (ConnectionError, OSError, ValueError):
            pass

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events if predicate(e)]
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)

    def close(self):
        self.esl.close()


# --------------------------------------------------------------------------------------------
# The lab instance


def _die_with_parent():
    # SAFETY of the lab: if the runner is killed, the kernel kills FreeSWITCH too.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setsid()


class Lab:
    """One FreeSWITCH in a temp dir. Use as a context manager: it always stops."""

    def __init__(self, install: Install, module_so: Path, *, dialplan_xml, flows=None,
                 scripts=None, loglevel="debug", keep_dir=None, rustflow_params=None, name="e2e",
                 extra_modules=(), extra_config_xml="", switchname=None):
        self.install = install
        self.root = Path(tempfile.mkdtemp(prefix=f"rustflow-{name}-"))
        self.keep_dir = keep_dir
        self.dirs = {k: self.root / k for k in (
            "conf", "log", "db", "mod", "run", "temp", "scripts", "recordings", "sounds",
            "storage", "cache", "certs", "htdocs", "grammar", "flows")}
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        # The modules dir: the installed modules plus the freshly built mod_rustflow.
        for so in install.mod_dir.glob("*.so"):
            if so.name != "mod_rustflow.so":
                (self.dirs["mod"] / so.name).symlink_to(so)
        (self.dirs["mod"] / "mod_rustflow.so").symlink_to(module_so)
        for name_, text in (flows or {}).items():
            (self.dirs["flows"] / f"{name_}.json").write_text(text)
        for name_, text in (scripts or {}).items():
            (self.dirs["scripts"] / name_).write_text(text)
        self.sip_port = free_port(socket.SOCK_DGRAM, also_udp=True)
        self.esl_port = free_port()
        self.rtp_start = free_port_range()
        params = {
            "flows-dir": str(self.dirs["flows"]),
            "recordings-dir": str(self.dirs["recordings"]),
            "media-dir": str(self.dirs["sounds"]),
            "default-domain": LAB_DOMAIN,
        }
        params.update(rustflow_params or {})
        write_config(
            self.dirs["conf"], sip_port=self.sip_port, esl_port=self.esl_port,
            rtp_start=self.rtp_start, rtp_end=self.rtp_start + 1998,
            dirs={k: str(v) for k, v in self.dirs.items()}, dialplan_xml=dialplan_xml,
            loglevel=loglevel, rustflow_params=params, extra_modules=extra_modules,
            extra_config_xml=extra_config_xml, switchname=switchname,
        )
        self.proc = None
        self.esl = None
        self.failed = False

    @property
    def log_path(self) -> Path:
        return self.dirs["log"] / "freeswitch.log"

    def start(self, timeout=60.0):
        d = self.dirs
        cmd = [
            str(self.install.binary), "-nonat", "-nc", "-nf",
            "-base", str(self.root), "-conf", str(d["conf"]), "-log", str(d["log"]),
            "-db", str(d["db"]), "-mod", str(d["mod"]), "-run", str(d["run"]),
            "-temp", str(d["temp"]), "-scripts", str(d["scripts"]),
            "-recordings", str(d["recordings"]), "-sounds", str(d["sounds"]),
            "-storage", str(d["storage"]), "-cache", str(d["cache"]), "-certs", str(d["certs"]),
            "-htdocs", str(d["htdocs"]), "-grammar", str(d["grammar"]),
        ]
        self.stdout = open(self.root / "stdout.txt", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.stdout, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"FreeSWITCH exited with {self.proc.returncode} while starting; "
                                   f"log: {self.log_path}")
            try:
                if self.esl is None:
                    self.esl = Esl(self.esl_port)
                last = self.esl.api("status")
                profiles = self.esl.api("sofia status")
                running = any(ln.split()[:1] == ["lab"] and "RUNNING" in ln
                              for ln in profiles.splitlines())
                if "is ready" in last and running:
                    if self.esl.api("module_exists mod_rustflow").strip() != "true":
                        raise RuntimeError(f"mod_rustflow did not load; log: {self.log_path}")
                    return self
            except (OSError, ConnectionError) as e:
                last = str(e)
                if self.esl:
                    self.esl.close()
                self.esl = None
            time.sleep(0.3)
        raise RuntimeError(f"FreeSWITCH not ready after {timeout}s ({last!r}); log: {self.log_path}")

    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def api(self, cmd: str) -> str:
        return self.esl.api(cmd)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.esl.api("hupall NORMAL_CLEARING")
            with contextlib.suppress(Exception):
                self.esl.sock.sendall(b"api fsctl shutdown\n\n")
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.esl:
            self.esl.close()
        self.stdout.close()
        self.proc = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.failed = True
            self.__exit__(*sys.exc_info())
            raise

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is not None or self.failed:
            dest = self.keep_dir or self.root
            if self.keep_dir:
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(self.root, dest, symlinks=True)
                shutil.rmtree(self.root, ignore_errors=True)
            print(f"lab: FreeSWITCH log kept at {Path(dest) / 'log' / 'freeswitch.log'}", flush=True)
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        return False


# --------------------------------------------------------------------------------------------
# Process statistics


class WireTrace:
    """SIP to and from one UDP port, read on `lo` with kernel timestamps by bench/sip_trace.py
    (root: an AF_PACKET socket) in the background. `take()` returns the messages seen since
    the last call as tuples (ts, sport, dport, kind, cseq method, request-URI user, From user,
    Call-ID), in the order they came."""

    def __init__(self, port, err_path):
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "sip_trace.py"), "--port", str(port)],
            stdout=subprocess.PIPE, stderr=open(err_path, "wb"), text=True,
            preexec_fn=_die_with_parent)
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError(f"the SIP probe did not start; see {err_path}")
        self.messages = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 8:
                msg = (float(parts[0]), int(parts[1]), int(parts[2]), *parts[3:])
                with self.lock:
                    self.messages.append(msg)

    def take(self):
        time.sleep(0.5)  # lines still in the pipe
        with self.lock:
            taken, self.messages = self.messages, []
        return taken

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def proc_cpu_ms(pid: int) -> float:
    """utime + stime of a process (all threads), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
