#!/usr/bin/env python3
"""DTMF-to-next-prompt latency, measured on the wire (loopback, AF_PACKET, needs root).

    rtp_latency.py --rtp-start N --rtp-end M

Watches RTP on `lo`. A call is keyed by FreeSWITCH's RTP port (in [N, M]). The clock starts
at the first end-of-event packet (E bit) of an RFC 2833 event (payload type 101) the caller
sends to that port: the digit is complete then, and FreeSWITCH reports it. The clock stops at
the first packet FreeSWITCH sends from that port whose PCMU payload is the second prompt (a
1000 Hz tone, told apart from the 440 Hz first prompt by Goertzel power). Prints one line per
call: `<epoch seconds> <port> <latency ms>`. Both timestamps are the kernel's receive times of
the two packets on lo, so the figure covers everything between them: DTMF decode, the end of
the digit collection, the controller's decision, the start of the next playback, and the
first 20 ms frame leaving FreeSWITCH.
"""

import argparse
import math
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35  # Linux; SCM_TIMESTAMPNS has the same value


def ulaw_table():
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        sign = u & 0x80
        exponent = (u >> 4) & 0x07
        mantissa = u & 0x0F
        sample = ((mantissa << 3) + 0x84) << exponent
        sample -= 0x84
        table.append(-sample if sign else sample)
    return table


ULAW = ulaw_table()


def goertzel(samples, freq, rate=8000):
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return s1 * s1 + s2 * s2 - k * s1 * s2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtp-start", type=int, required=True)
    ap.add_argument("--rtp-end", type=int, required=True)
    args = ap.parse_args()
    lo, hi = args.rtp_start, args.rtp_end
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind(("lo", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    waiting = {}
    print("ready", flush=True)
    while True:
        data, anc, _, addr = sock.recvmsg(2048, 64)
        if addr[2] == socket.PACKET_OUTGOING:  # lo shows each packet twice
            continue
        ts = time.time()
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", cdata[:16])
                ts = sec + nsec / 1e9
        if len(data) < 14 + 20 + 8 + 12 or data[12:14] != b"\x08\x00" or data[23] != 17:
            continue
        ihl = (data[14] & 0x0F) * 4
        udp = 14 + ihl
        sport, dport = struct.unpack("!HH", data[udp:udp + 4])
        rtp = data[udp + 8:]
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        pt = rtp[1] & 0x7F
        if lo <= dport <= hi and not lo <= sport <= hi:
            # the end of the event (E bit): FreeSWITCH reports the digit when it ends
            if pt == 101 and len(rtp) >= 16 and rtp[13] & 0x80 and dport not in waiting:
                waiting[dport] = ts
        elif lo <= sport <= hi and sport in waiting and pt == 0 and len(rtp) >= 12 + 160:
            samples = [ULAW[b] for b in rtp[12:12 + 160]]
            p1000 = goertzel(samples, 1000)
            p440 = goertzel(samples, 440)
            if p1000 > 10 * p440 and p1000 > 1e9:
                start = waiting.pop(sport)
                print(f"{ts:.6f} {sport} {(ts - start) * 1000:.3f}", flush=True)
        # forget calls whose prompt never came (failed calls, port reuse)
        if len(waiting) > 2000:
            now = time.time()
            for port in [p for p, t in waiting.items() if now - t > 10]:
                del waiting[port]


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
