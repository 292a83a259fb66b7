"""sipp driving and RTP pcaps for the e2e suite and the benchmark (standard library only)."""

import math
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fslab import LAB_DOMAIN, free_port

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if not found:
        raise RuntimeError("sipp not found on PATH (Debian/Ubuntu package: sip-tester)")
    return found


# --------------------------------------------------------------------------------------------
# RTP pcaps that sipp replays with <exec play_pcap_audio=...>


def _ulaw(sample: int) -> int:
    """16-bit linear -> G.711 mu-law."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _write_pcap(path: Path, packets):
    """packets: (seconds offset, RTP bytes). Ethernet/IPv4/UDP 127.0.0.1:6000 -> :6000."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for offset, rtp in packets:
        udp_len = 8 + len(rtp)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, 17, 0,
                         socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
        frame = b"\0" * 12 + b"\x08\x00" + ip + struct.pack("!HHHH", 6000, 6000, udp_len, 0) + rtp
        sec = int(offset)
        usec = int(round((offset - sec) * 1e6))
        out.append(struct.pack("<IIII", 1_700_000_000 + sec, usec, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def dtmf_pcap(path: Path, digit: str, duration_ms=160, pt=101) -> Path:
    """One RFC 2833 telephone-event (digit 0-9 * #), 20 ms packets, three end packets."""
    event = "0123456789*#".index(digit)
    ssrc, seq, ts = 0x5EED0001, 1000, 16000
    packets = []
    steps = max(1, duration_ms // 20)
    for i in range(steps):
        dur = 160 * (i + 1)
        marker = 0x80 if i == 0 else 0
        payload = struct.pack("!BBH", event, 0x0A, dur)
        packets.append((i * 0.02, struct.pack("!BBHII", 0x80, marker | pt, seq + i, ts, ssrc) + payload))
    for j in range(3):
        payload = struct.pack("!BBH", event, 0x80 | 0x0A, 160 * steps)
        packets.append((steps * 0.02 + j * 0.0001,
                        struct.pack("!BBHII", 0x80, pt, seq + steps + j, ts, ssrc) + payload))
    _write_pcap(path, packets)
    return path


def tone_pcap(path: Path, seconds: float, freq=440.0, amplitude=8000) -> Path:
    """PCMU audio of a sine tone, 20 ms packets."""
    ssrc, packets = 0x5EED0002, []
    frames = int(seconds * 50)
    for i in range(frames):
        samples = bytes(
            _ulaw(int(amplitude * math.sin(2 * math.pi * freq * (i * 160 + n) / 8000)))
            for n in range(160)
        )
        header = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0), 2000 + i, i * 160, ssrc)
        packets.append((i * 0.02, header + samples))
    _write_pcap(path, packets)
    return path


# --------------------------------------------------------------------------------------------
# Scenarios


def render(name: str, dest_dir: Path, subs: dict) -> Path:
    """A scenario of tests/e2e/scenarios with its {{PLACEHOLDERS}} filled in."""
    text = (SCENARIOS / name).read_text()
    for key, value in subs.items():
        text = text.replace("{{" + key + "}}", str(value))
    if "{{" in text:
        start = text.index("{{")
        raise ValueError(f"{name}: placeholder {text[start:text.index('}}', start) + 2]} not filled")
    dest_dir.mkdir(parents=True, exist_ok=True)
    stem = name.rsplit(".", 1)[0]
    n = len(list(dest_dir.glob(f"{stem}-*.xml")))
    path = dest_dir / f"{stem}-{n}.xml"
    path.write_text(text)
    return path


def uac_subs(*, dtmf_pcap_path=None, dtmf_delay_ms=500, audio_pcap_path=None,
             bye_reason=None, bye_timeout_ms=30000, caller="e2e", media_port="[media_port]"):
    """Placeholders of uac_answer.xml (`media_port`: the RTP port its SDP offers, e.g. an
    RtpSink's; sipp's own by default)."""
    block = []
    if audio_pcap_path:
        block.append(f'  <nop><action><exec play_pcap_audio="{audio_pcap_path}"/></action></nop>')
    if dtmf_pcap_path:
        block.append(f'  <pause milliseconds="{dtmf_delay_ms}"/>')
        block.append(f'  <nop><action><exec play_pcap_audio="{dtmf_pcap_path}"/></action></nop>')
    return {
        "DTMF_BLOCK": "\n".join(block),
        "BYE_ACTION": (
            f'    <action><ereg regexp="{bye_reason}" search_in="hdr" header="Reason:" '
            'check_it="true" assign_to="reason"/></action>'
            if bye_reason else ""
        ),
        "BYE_REFERENCE": '  <Reference variables="reason"/>' if bye_reason else "",
        "BYE_TIMEOUT_MS": bye_timeout_ms,
        "CALLER": caller,
        "MEDIA_PORT": media_port,
    }


def free_media_ports() -> int:
    """An even port P with P..P+3 free on 127.0.0.1 (UDP): sipp's `-mp P` binds audio RTP and
    RTCP on P and P+1 and video on P+2 and P+3, and fails its call when one is taken."""
    for _ in range(200):
        start = free_port(socket.SOCK_DGRAM) & ~1
        held = []
        try:
            for port in range(start, start + 4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no 4 consecutive free UDP ports found on 127.0.0.1")


class Sipp:
    """One sipp process (caller or callee) on its own free ports."""

    def __init__(self, scenario: Path, work_dir: Path, *, target=None, service=None, calls=1,
                 rate=None, limit=None, timeout_s=60, extra=(), port=None):
        self.port = port or free_port(socket.SOCK_DGRAM, also_udp=True)
        self.media_port = free_media_ports()
        self.scenario = scenario
        base = work_dir / f"{scenario.stem}-{self.port}"
        self.out_path = base.with_suffix(".out")
        self.err_path = base.with_suffix(".errors.log")
        self.msg_path = base.with_suffix(".msg")
        cmd = [sipp_binary()]
        if target:
            cmd.append(target)
        cmd += ["-sf", str(scenario), "-i", "127.0.0.1", "-p", str(self.port),
                "-mp", str(self.media_port), "-m", str(calls), "-nostdin",
                "-timeout", f"{timeout_s}s", "-timeout_error", "-recv_timeout", "40000",
                "-trace_err", "-error_file", str(self.err_path), "-max_recv_loops", "10000",
                "-trace_screen", "-screen_file", str(base.with_suffix(".screen")), "-trace_msg",
                "-message_file", str(self.msg_path)]
        if service:
            cmd += ["-s", service]
        if rate:
            cmd += ["-r", str(rate), "-rp", "1000"]
        if limit:
            cmd += ["-l", str(limit)]
        cmd += list(extra)
        self.cmd = cmd
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=work_dir)

    def wait_listening(self, timeout=10.0):
        """Returns once this sipp has bound its SIP port (a callee must be listening before a
        call is placed: FreeSWITCH answers a call to a closed port with 503)."""
        wait_udp_bound(self.port, timeout, lambda: self.proc.poll() is None,
                       f"sipp {self.scenario.name}")
        return self

    def wait(self, timeout=120) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.out.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.out.closed:
            self.out.close()

    def errors(self) -> str:
        text = ""
        if self.err_path.exists():
            text = self.err_path.read_text(errors="replace")
        return text[-3000:]

    def summary(self) -> str:
        screen = self.out_path.with_suffix(".screen")
        text = screen.read_text(errors="replace") if screen.exists() else ""
        return text[-2500:]


def udp_ports_bound() -> set:
    """Local UDP ports with a socket bound now, IPv4 and IPv6 (from /proc/net/udp*)."""
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local = line.split()[1]  # hex address:port
            ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def wait_udp_bound(port, timeout=10.0, alive=lambda: True, what="a process"):
    """Waits until UDP `port` is bound (by the process we started), or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while port not in udp_ports_bound():
        if not alive():
            raise RuntimeError(f"{what} exited before binding UDP port {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not bind UDP port {port} within {timeout} s")
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# sipp message traces (-trace_msg), read back as SIP messages with wall times


@dataclass
class SipMessage:
    at: float  # wall time (time.time() scale), as sipp stamped it
    sent: bool
    first_line: str
    headers: dict  # lower-case name -> first value
    call_id: str

    @property
    def method(self):
        """The request's method, or None for a response."""
        return None if self.first_line.startswith("SIP/2.0") else self.first_line.split(" ", 1)[0]

    @property
    def status(self):
        """The response's status code, or None for a request."""
        if not self.first_line.startswith("SIP/2.0"):
            return None
        return int(self.first_line.split()[1])

    @property
    def cseq_method(self):
        words = self.headers.get("cseq", "").split()
        return words[-1] if words else ""


_TRACE_SEPARATOR = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$")


def read_message_trace(path: Path) -> list:
    """The SIP messages of a sipp -message_file, in order. sipp stamps each with local time
    and writes `… message received [N] bytes :` or `… message sent (N bytes):` before it."""
    if not path.exists():
        return []
    messages, stamp, lines = [], None, []

    def flush():
        if stamp is None:
            return
        direction = lines[0] if lines else ""
        body = lines[1:]
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            return
        headers = {}
        for line in body[1:]:
            if not line.strip():
                break  # the body (SDP) follows
            name, sep, value = line.partition(":")
            if sep:
                headers.setdefault(name.strip().lower(), value.strip())
        messages.append(SipMessage(
            at=datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp(),
            sent=" sent " in direction, first_line=body[0].strip(), headers=headers,
            call_id=headers.get("call-id", headers.get("i", ""))))

    for line in path.read_text(errors="replace").splitlines():
        m = _TRACE_SEPARATOR.match(line)
        if m:
            flush()
            stamp, lines = m.group(1), []
        else:
            lines.append(line)
    flush()
    return messages


# --------------------------------------------------------------------------------------------
# Agents: sipp phones registered as directory users of the lab (fslab.LAB_DOMAIN)

AGENT_MODES = {
    # mode: the final response when the agent does not answer (None: it answers)
    "answer": None,
    "busy": (486, "Busy Here"),
    "reject": (603, "Decline"),
    "noanswer": (480, "Temporarily Unavailable"),
}


@dataclass
class AgentCall:
    """One call offered to an agent, as its phone saw it (wall times, time.time() scale)."""
    call_id: str
    offered_at: float  # the INVITE arrived
    request_uri: str
    from_: str
    to: str
    headers: dict  # the INVITE's headers, lower-case names (X- headers included)
    outcome: str = "ringing"  # answered | cancelled | busy | rejected | no_answer | ringing
    answered_at: float = None
    ended_at: float = None  # BYE, CANCEL or the refusal
    ended_by: str = None  # "agent" (it sent BYE) or "caller" (BYE or CANCEL from FreeSWITCH)
    messages: list = field(default_factory=list, repr=False)


def agent_calls(messages) -> list:
    """The calls of an agent's message trace, in the order their INVITEs arrived."""
    calls, by_id = [], {}
    refusals = {486: "busy", 603: "rejected", 480: "no_answer"}
    for msg in messages:
        call = by_id.get(msg.call_id)
        if call is None:
            if msg.method != "INVITE" or msg.sent:
                continue
            call = AgentCall(call_id=msg.call_id, offered_at=msg.at,
                             request_uri=msg.first_line.split()[1], from_=msg.headers.get("from", ""),
                             to=msg.headers.get("to", ""), headers=msg.headers)
            by_id[msg.call_id] = call
            calls.append(call)
        call.messages.append(msg)
        if msg.sent and msg.status == 200 and msg.cseq_method == "INVITE" and call.answered_at is None:
            call.outcome, call.answered_at = "answered", msg.at
        elif msg.sent and msg.status in refusals and call.ended_at is None:
            call.outcome, call.ended_at, call.ended_by = refusals[msg.status], msg.at, "agent"
        elif msg.method == "CANCEL" and not msg.sent and call.ended_at is None:
            call.outcome, call.ended_at, call.ended_by = "cancelled", msg.at, "caller"
        elif msg.method == "BYE" and call.ended_at is None:
            call.ended_at, call.ended_by = msg.at, "agent" if msg.sent else "caller"
    return calls


def _agent_answer_block(ext, mode, talk_ms, rtp_pcap):
    refusal = AGENT_MODES[mode]
    if refusal:
        code, reason = refusal
        return f"""  <send>
    <![CDATA[
      SIP/2.0 {code} {reason}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>"""
    rtp = (f'  <nop><action><exec play_pcap_audio="{rtp_pcap}"/></action></nop>\n'
           if rtp_pcap else "")
    # no talk time: stay until the caller's BYE (an hour at most)
    bye_wait = talk_ms if talk_ms is not None else 3_600_000
    return f"""  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
{rtp}  <recv request="BYE" timeout="{max(1, bye_wait)}" ontimeout="agent_bye"/>
  <send next="done">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="agent_bye"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>"""


RING_180 = """  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>"""


class Agent:
    """A contact-centre agent's phone: a sipp registered as directory user `ext` of the lab,
    answering the calls FreeSWITCH offers to `user/EXT@DOMAIN` on its own port.

    mode: "answer" (200 after `answer_after_ms`, talks `talk_ms` then sends BYE; `talk_ms=None`
    waits for the caller's BYE), "busy" (486), "reject" (603), "noanswer" (rings until
    CANCELled; 480 after `answer_after_ms` if one is given). A CANCEL before the answer is
    taken in every mode. `calls` offers are taken, then sipp exits (`wait`). `ring`: 180 first.
    `rtp_tone_hz`: while talking, the agent sends that tone (PCMU) for `talk_ms`.

        with Agent("1001", work, lab_target, talk_ms=2000) as a:   # registered and listening
            ...place a call...
            a.wait(); a.calls()  # -> [AgentCall(outcome="answered", ended_by="agent", ...)]

    Registration: a one-call sipp sends REGISTER from the agent's port (so the stored contact
    is the address the answering sipp binds right after); `stop` removes it (Expires: 0).
    """

    def __init__(self, ext, work_dir: Path, registrar: str, *, domain=LAB_DOMAIN, mode="answer",
                 answer_after_ms=0, talk_ms=1000, ring=True, calls=1, rtp_tone_hz=None,
                 timeout_s=120, port=None):
        if mode not in AGENT_MODES:
            raise ValueError(f"agent {ext}: mode {mode!r}, expected one of {', '.join(AGENT_MODES)}")
        if mode == "noanswer" and answer_after_ms == 0:
            answer_after_ms = 3_600_000
        self.ext, self.domain, self.mode = str(ext), domain, mode
        self.work_dir, self.registrar = Path(work_dir), registrar
        self.port = port or free_port(socket.SOCK_DGRAM, also_udp=True)
        self.expected_calls, self.timeout_s = calls, timeout_s
        rtp_pcap = None
        if rtp_tone_hz and mode == "answer" and talk_ms:
            rtp_pcap = tone_pcap(self.work_dir / f"agent-{self.ext}-{self.port}-tone.pcap",
                                 talk_ms / 1000.0, freq=rtp_tone_hz)
        self.scenario = render("agent_call.xml", self.work_dir, {
            "RING_BLOCK": RING_180.replace("{ext}", self.ext) if ring else "",
            "ANSWER_AFTER_MS": max(1, int(answer_after_ms)),
            "ANSWER_BLOCK": _agent_answer_block(self.ext, mode, talk_ms, rtp_pcap),
        })
        self.phone = None

    @property
    def aor(self):
        return f"{self.ext}@{self.domain}"

    def _register(self, expires, timeout_s=10):
        scenario = render("agent_register.xml", self.work_dir,
                          {"EXT": self.ext, "DOMAIN": self.domain, "EXPIRES": expires})
        reg = Sipp(scenario, self.work_dir, target=self.registrar, port=self.port,
                   timeout_s=timeout_s)
        rc = reg.wait(timeout_s + 5)
        if rc != 0:
            raise RuntimeError(f"agent {self.aor}: REGISTER (Expires: {expires}) failed, sipp exited "
                               f"{rc}\n{reg.errors()}\n{reg.summary()}")

    def start(self):
        """Registers, then listens for calls (returns once the port is bound)."""
        self._register(3600)
        self.phone = Sipp(self.scenario, self.work_dir, port=self.port, calls=self.expected_calls,
                          timeout_s=self.timeout_s)
        self.phone.wait_listening()
        return self

    def calls(self) -> list:
        """The calls offered so far, in order (AgentCall)."""
        return agent_calls(read_message_trace(self.phone.msg_path)) if self.phone else []

    def wait(self, timeout=None) -> int:
        """Waits for sipp to have taken its `calls` (exit status 0 when all went as scripted)."""
        return self.phone.wait(timeout if timeout is not None else self.timeout_s + 10)

    def problems(self) -> str:
        """sipp's errors and last screen, for a failure message."""
        return f"agent {self.aor}:\n{self.phone.errors()}\n{self.phone.summary()}" if self.phone else ""

    def stop(self, unregister=True):
        """Stops the phone and, unless told otherwise, removes its registration."""
        if self.phone:
            self.phone.kill()
        if unregister:
            try:
                self._register(0, timeout_s=5)
            except RuntimeError:
                pass  # FreeSWITCH may be gone already; the registration dies with it

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def offers_in_order(agents) -> list:
    """Every call offered to these agents, as (extension, AgentCall), in the order the INVITEs
    arrived: which agent a queue tried first, second, …"""
    offers = [(a.ext, call) for a in agents for call in a.calls()]
    return sorted(offers, key=lambda offer: offer[1].offered_at)


# --------------------------------------------------------------------------------------------
# What FreeSWITCH sends a caller: a UDP socket in place of the caller's RTP port


def _ulaw_decode_table():
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
        magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
        table.append(-magnitude if sign else magnitude)
    return table


_ULAW = _ulaw_decode_table()


class RtpSink(threading.Thread):
    """Binds a free UDP port on 127.0.0.1 and keeps every RTP packet sent to it, with its wall
    time. Offer its `port` in a caller's SDP (uac_subs(media_port=...)) to see what FreeSWITCH
    sends that caller: ringback or music while it waits, the agent's audio once bridged."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = []  # (wall time, payload type, payload)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.start()

    def run(self):
        while not self.stopped.is_set():
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            except OSError:
                break
            if len(data) > 12 and data[0] >> 6 == 2:
                with self.lock:
                    self.packets.append((time.time(), data[1] & 0x7F, data[12:]))

    def received(self, since=0.0, until=float("inf"), pt=0):
        """The payloads of payload type `pt` (0: PCMU) that arrived in [since, until)."""
        with self.lock:
            return [p for at, t, p in self.packets if t == pt and since <= at < until]

    def tone_share(self, freq, since=0.0, until=float("inf")) -> float:
        """The share (0..1) of the PCMU audio's energy at `freq` Hz in [since, until): about 1
        for that pure tone, near 0 for another tone or silence (Goertzel, per 20 ms packet)."""
        coeff = 2 * math.cos(2 * math.pi * freq / 8000)
        at_freq = total = 0.0
        for payload in self.received(since, until):
            samples = [_ULAW[b] for b in payload]
            s1 = s2 = 0.0
            for x in samples:
                s1, s2 = x + coeff * s1 - s2, s1
            power = s1 * s1 + s2 * s2 - coeff * s1 * s2
            at_freq += 2 * power / len(samples)
            total += sum(x * x for x in samples)
        return at_freq / total if total else 0.0

    def close(self):
        self.stopped.set()
        self.join(timeout=2)
        self.sock.close()
