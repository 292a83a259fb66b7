#!/usr/bin/env python3
"""SIP messages to and from one UDP port on loopback, with kernel timestamps (AF_PACKET on
`lo`, needs root).

    sip_trace.py --port N

Prints "ready", then one line per SIP message sent to or from port N (FreeSWITCH's SIP port):

    <epoch seconds> <source port> <destination port> <method or status> <CSeq method>
        <request-URI user or -> <From user or -> <Call-ID>

(on one line). A kernel filter (classic BPF) passes only UDP packets of that port, so the
RTP of the calls never reaches Python, and the timestamps are the kernel's receive times on
lo (SO_TIMESTAMPNS): a slow reader delays the lines, not the times. Retransmissions are
printed as they are; the reader keeps the first of each. Used by bench/cc_bench.py.
"""

import argparse
import ctypes
import re
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35  # Linux; SCM_TIMESTAMPNS has the same value
SO_ATTACH_FILTER = 26

URI_USER = re.compile(r"sips?:([^@;>\s]+)@")


def udp_port_filter(port):
    """`udp port PORT` for an Ethernet frame (lo), as tcpdump -dd compiles it: IPv4, UDP,
    not a fragment, source or destination port."""
    bpf_ldh_abs, bpf_ldb_abs, bpf_jeq_k, bpf_jset_k = 0x28, 0x30, 0x15, 0x45
    bpf_ldxb_msh, bpf_ldh_ind, bpf_ret_k = 0xB1, 0x48, 0x06
    program = [
        (bpf_ldh_abs, 0, 0, 12),        # 0 ethertype
        (bpf_jeq_k, 0, 10, 0x0800),     # 1 IPv4, else drop (12)
        (bpf_ldb_abs, 0, 0, 23),        # 2 protocol
        (bpf_jeq_k, 0, 8, 17),          # 3 UDP, else drop
        (bpf_ldh_abs, 0, 0, 20),        # 4 flags and fragment offset
        (bpf_jset_k, 6, 0, 0x1FFF),     # 5 a fragment: drop
        (bpf_ldxb_msh, 0, 0, 14),       # 6 x = IP header length
        (bpf_ldh_ind, 0, 0, 14),        # 7 source port
        (bpf_jeq_k, 2, 0, port),        # 8 -> accept (11)
        (bpf_ldh_ind, 0, 0, 16),        # 9 destination port
        (bpf_jeq_k, 0, 1, port),        # 10 -> accept, else drop
        (bpf_ret_k, 0, 0, 0x40000),     # 11 accept
        (bpf_ret_k, 0, 0, 0),           # 12 drop
    ]
    code = b"".join(struct.pack("HBBI", *ins) for ins in program)
    buf = ctypes.create_string_buffer(code)
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    return buf, struct.pack("HL", len(program), ctypes.addressof(buf))


def header(lines, *names):
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in names:
            return value.strip()
    return ""


def describe(payload: bytes):
    """(kind, cseq method, request-URI user, From user, Call-ID) of a SIP message, or None."""
    text = payload.decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    if len(lines) < 2:
        return None
    first = lines[0].split()
    if len(first) < 2:
        return None
    if first[0] == "SIP/2.0":
        kind, ruri_user = first[1], "-"
    elif len(first) == 3 and first[2] == "SIP/2.0":
        kind = first[0]
        m = URI_USER.search(first[1])
        ruri_user = m.group(1) if m else "-"
    else:
        return None
    cseq = header(lines, "cseq").split()
    m = URI_USER.search(header(lines, "from", "f"))
    call_id = header(lines, "call-id", "i") or "-"
    return kind, cseq[1] if len(cseq) > 1 else "-", ruri_user, m.group(1) if m else "-", call_id


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    _keep, fprog = udp_port_filter(args.port)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    sock.bind(("lo", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    print("ready", flush=True)
    out = sys.stdout
    while True:
        data, anc, _, addr = sock.recvmsg(65536, 64)
        if addr[2] == socket.PACKET_OUTGOING:  # lo shows each packet twice
            continue
        ts = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", cdata[:16])
                ts = sec + nsec / 1e9
        if ts is None or len(data) < 14 + 20 + 8:
            continue
        udp = 14 + (data[14] & 0x0F) * 4
        sport, dport = struct.unpack("!HH", data[udp:udp + 4])
        message = describe(data[udp + 8:])
        if message:
            out.write(f"{ts:.6f} {sport} {dport} {' '.join(message)}\n")
            out.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
