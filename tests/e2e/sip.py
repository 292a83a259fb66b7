"""sipp driving and RTP pcaps for the e2e suite and the benchmark (standard library only)."""

import math
import shutil
import socket
import struct
import subprocess
from pathlib import Path

from fslab import free_port

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
             bye_reason=None, bye_timeout_ms=30000, caller="e2e"):
    """Placeholders of uac_answer.xml."""
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
    }


class Sipp:
    """One sipp process (caller or callee) on its own free ports."""

    def __init__(self, scenario: Path, work_dir: Path, *, target=None, service=None, calls=1,
                 rate=None, limit=None, timeout_s=60, extra=(), port=None):
        self.port = port or free_port(socket.SOCK_DGRAM, also_udp=True)
        self.media_port = free_port(socket.SOCK_DGRAM)
        self.scenario = scenario
        base = work_dir / f"{scenario.stem}-{self.port}"
        self.out_path = base.with_suffix(".out")
        self.err_path = base.with_suffix(".errors.log")
        cmd = [sipp_binary()]
        if target:
            cmd.append(target)
        cmd += ["-sf", str(scenario), "-i", "127.0.0.1", "-p", str(self.port),
                "-mp", str(self.media_port), "-m", str(calls), "-nostdin",
                "-timeout", f"{timeout_s}s", "-timeout_error", "-recv_timeout", "40000",
                "-trace_err", "-error_file", str(self.err_path), "-max_recv_loops", "10000",
                "-trace_screen", "-screen_file", str(base.with_suffix(".screen")), "-trace_msg",
                "-message_file", str(base.with_suffix(".msg"))]
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
