#!/usr/bin/env python3
"""Call benchmark: the same calls through rustflow, the XML dialplan, mod_lua and an
event-socket outbound controller, on a real FreeSWITCH.

    make bench                      (or: python3 bench/bench.py [--rate 20] [--seconds 30] [--rounds 3])

Two calls (sipp is the caller; a wrong branch is a failed call because sipp checks the
hangup cause in the Reason header of FreeSWITCH's BYE):
  simple  answer; a 1 s tone (440 Hz) while collecting one digit (sipp sends RFC 2833 "5" or
          "3", 500 ms after the answer); a 200 ms tone (1000 Hz); hangup CALL_REJECTED for 5,
          NORMAL_CLEARING otherwise.
  heavy   the same media with 200 non-media steps between the digit and the second prompt
          (variables set and read, conditions, a switch, 5 small JavaScript snippets). The XML
          dialplan cannot express it: its row runs the same media without the steps, which is
          what the media alone costs (every implementation pays it, plus its logic).

The in-process implementations are interleaved in every round (order rotates) to damp machine
noise, the event-socket runs follow them (see schedule()); a warm-up round runs first and is
not counted, and a run ends when FreeSWITCH is back to its idle CPU use. Per implementation:
failed calls, FreeSWITCH CPU ms per call (utime+stime of the FreeSWITCH process from /proc,
over the run; each run's figure too, to show the spread), the
controller's own CPU (socket variant), RSS growth of FreeSWITCH, and DTMF-to-next-prompt
latency p50/p99 measured on the wire (bench/rtp_latency.py). Writes a Markdown report.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import cpu_profile  # noqa: E402
import fslab  # noqa: E402
from fslab import Lab  # noqa: E402
from sip import Sipp, dtmf_pcap, render, uac_subs  # noqa: E402

TONE1 = "%(1000,0,440)"
TONE2 = "%(200,0,1000)"
COLLECT_TIMEOUT_MS = 2000
CAUSES = {"5": ("CALL_REJECTED", 21), "3": ("NORMAL_CLEARING", 16)}

# --------------------------------------------------------------------------------------------
# The two calls, as a tiny IR translated to each implementation


def heavy_steps():
    """200 non-media steps. Same logic in every implementation."""
    ops = []
    for i in range(20):
        ops += [
            ("set", f"v{i}", f"{i}"),
            ("set", f"w{i}", f"${{v{i}}}x"),
            ("if", f"v{i}", ">", "10", [("set", f"big{i}", "yes")], [("set", f"big{i}", "no")]),
            ("switch", f"w{i}", {"3x": [("set", "hit", f"${{v{i}}}")]}, [("set", f"miss{i}", "1")]),
            ("set", "acc", f"${{acc}}${{v{i}}},"),
            ("if", f"big{i}", "==", "yes", [("set", f"c{i}", f"${{w{i}}}${{v{i}}}")],
             [("set", f"c{i}", "none")]),
        ]
    for k in range(5):
        a, b = 2 * k + 1, 2 * k + 2
        ops.append(("js", f"js{k}", f"return ${{v{a}}} * 2 + Number(${{v{b}}})",
                    f"int(v['v{a}']) * 2 + int(v['v{b}'])",
                    f"tonumber(session:getVariable('v{a}')) * 2 + tonumber(session:getVariable('v{b}'))"))
    for k in range(15):
        ops.append(("set", f"pad{k}", f"{k}-${{v{k}}}"))
    return ops


def program(heavy):
    ops = [("answer",), ("collect", TONE1, COLLECT_TIMEOUT_MS, "digit")]
    if heavy:
        ops += heavy_steps()
    ops += [("play", TONE2), ("hangup_by_digit", "digit", "5", "CALL_REJECTED", "NORMAL_CLEARING")]
    return ops


def to_rustflow(ops):
    out = []
    for op in ops:
        k = op[0]
        if k == "answer":
            out.append({"answer": ""})
        elif k == "collect":
            _, tone, timeout, var = op
            out.append({"playback": {"files": [{"type": "tone", "name": tone}],
                                     "getDigits": {"setVar": var, "min": 1, "max": 1, "tries": 1,
                                                   "timeout": timeout, "regexp": "^\\d$"}}})
        elif k == "play":
            out.append({"playback": {"files": [{"type": "tone", "name": op[1]}]}})
        elif k == "set":
            out.append({"set": {op[1]: op[2]}})
        elif k == "if":
            _, var, cmp, lit, then_ops, else_ops = op
            expr = f"${{{var}}} > {lit}" if cmp == ">" else f"${{{var}}} == '{lit}'"
            out.append({"if": {"expression": expr, "then": to_rustflow(then_ops),
                               "else": to_rustflow(else_ops)}})
        elif k == "switch":
            _, var, cases, default = op
            c = {key: to_rustflow(v) for key, v in cases.items()}
            c["default"] = to_rustflow(default)
            out.append({"switch": {"variable": f"${{{var}}}", "case": c}})
        elif k == "js":
            out.append({"js": {"data": op[2], "setVar": op[1]}})
        elif k == "hangup_by_digit":
            _, var, digit, yes, no = op
            out.append({"if": {"expression": f"${{{var}}} == '{digit}'",
                               "then": [{"hangup": yes}], "else": [{"hangup": no}]}})
    return out


def lua_template(t):
    import re
    parts = re.split(r"\$\{([A-Za-z0-9_]+)\}", t)
    pieces = []
    for i, p in enumerate(parts):
        if i % 2:
            pieces.append(f"(session:getVariable('{p}') or '')")
        elif p:
            pieces.append(repr(p))
    return " .. ".join(pieces) if pieces else "''"


def to_lua(ops, indent=""):
    lines = []
    for op in ops:
        k = op[0]
        if k == "answer":
            lines.append("session:answer()")
        elif k == "collect":
            _, tone, timeout, var = op
            lines.append(f"session:playAndGetDigits(1, 1, 1, {timeout}, '#', 'tone_stream://{tone}', "
                         f"'silence_stream://250', '\\\\d', '{var}')")
        elif k == "play":
            lines.append(f"session:streamFile('tone_stream://{op[1]}')")
        elif k == "set":
            lines.append(f"session:setVariable('{op[1]}', {lua_template(op[2])})")
        elif k == "if":
            _, var, cmp, lit, then_ops, else_ops = op
            if cmp == ">":
                cond = f"(tonumber(session:getVariable('{var}')) or 0) > {lit}"
            else:
                cond = f"session:getVariable('{var}') == '{lit}'"
            lines.append(f"if {cond} then")
            lines += ["  " + ln for ln in to_lua(then_ops)]
            lines.append("else")
            lines += ["  " + ln for ln in to_lua(else_ops)]
            lines.append("end")
        elif k == "switch":
            _, var, cases, default = op
            lines.append(f"local sw = session:getVariable('{var}')")
            first = True
            for key, body in cases.items():
                lines.append(f"{'if' if first else 'elseif'} sw == '{key}' then")
                lines += ["  " + ln for ln in to_lua(body)]
                first = False
            lines.append("else")
            lines += ["  " + ln for ln in to_lua(default)]
            lines.append("end")
        elif k == "js":
            lines.append(f"session:setVariable('{op[1]}', tostring({op[4]}))")
        elif k == "hangup_by_digit":
            _, var, digit, yes, no = op
            lines.append(f"if session:getVariable('{var}') == '{digit}' then session:hangup('{yes}') "
                         f"else session:hangup('{no}') end")
    return lines


XML_SIMPLE = f"""
      <extension name="bs_xml">
        <condition field="destination_number" expression="^b[sh]_xml$">
          <action application="answer"/>
          <action application="play_and_get_digits" data="1 1 1 {COLLECT_TIMEOUT_MS} # tone_stream://{TONE1} silence_stream://250 digit \\d"/>
          <action application="playback" data="tone_stream://{TONE2}"/>
          <action application="hangup" data="${{cond(${{digit}} == 5 ? CALL_REJECTED : NORMAL_CLEARING)}}"/>
        </condition>
      </extension>
"""


# Diagnostic variant (not in the default --impls): the XML call with a pre_answer first, which
# is what FreeSWITCH does before an application registered without SAF_SUPPORT_NOMEDIA.
XML_PREANSWER = (
    XML_SIMPLE.replace("bs_xml", "bs_xmlpre").replace("^b[sh]_xml$", "^bs_xmlpre$")
    .replace('<action application="answer"/>',
             '<action application="pre_answer"/>\n          <action application="answer"/>'))


def dialplan(esl_port):
    return XML_SIMPLE + XML_PREANSWER + f"""
      <extension name="bench-rustflow">
        <condition field="destination_number" expression="^b([sh])_rustflow$">
          <action application="rustflow" data="bench_$1"/>
        </condition>
      </extension>
      <extension name="bench-lua">
        <condition field="destination_number" expression="^b([sh])_lua$">
          <action application="lua" data="bench_$1.lua"/>
        </condition>
      </extension>
      <extension name="bench-esl">
        <condition field="destination_number" expression="^b[sh]_esl$">
          <action application="socket" data="127.0.0.1:{esl_port} async full"/>
        </condition>
      </extension>
"""


# --------------------------------------------------------------------------------------------


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def sipp_counts(screen: Path):
    ok = failed = 0
    if screen.exists():
        for line in screen.read_text(errors="replace").splitlines():
            cells = [c.strip() for c in line.split("|")]
            if cells and cells[0] == "Successful call":
                ok = int(cells[-1] or 0)
            elif cells and cells[0] == "Failed call":
                failed = int(cells[-1] or 0)
    return ok, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--heavy-rate", type=float, default=5,
                    help="calls/s for the logic-heavy call (the Python event-socket controller "
                         "saturates this 2-core box near 5/s)")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", default="simple,heavy")
    ap.add_argument("--impls", default="xml,rustflow,lua,esl",
                    help="comma list of xml, rustflow, lua, esl (and xmlpre: XML with pre_answer, "
                         "simple call only); on the heavy call xml is the media alone")
    ap.add_argument("--module", help="mod_rustflow.so to use instead of building one")
    ap.add_argument("--profile", action="store_true",
                    help="after the counted rounds, one more run of each in-process "
                         "implementation under `perf record`: the share of FreeSWITCH's CPU "
                         "spent in its own code outside media (see bench/cpu_profile.py)")
    ap.add_argument("--profile-seconds", type=float, default=15)
    ap.add_argument("--out", default=str(REPO / "target" / "bench-calls.md"))
    args = ap.parse_args()
    if args.profile and not cpu_profile.available():
        print("bench: --profile needs perf (Debian: linux-perf)", file=sys.stderr)
        return 2

    install, status = fslab.find_lab_tools("bench")
    if install is None:
        return status
    so = Path(args.module).resolve() if args.module else fslab.build_module(install, features=())

    esl_port = fslab.free_port()
    progs = {"simple": program(False), "heavy": program(True)}
    flows = {f"bench_{c[0]}": json.dumps(to_rustflow(p)) for c, p in progs.items()}
    scripts = {f"bench_{c[0]}.lua": "\n".join(to_lua(p)) + "\n" for c, p in progs.items()}
    lab = Lab(install, so, dialplan_xml=dialplan(esl_port), flows=flows, scripts=scripts,
              loglevel="warning", name="bench")
    work = lab.root / "sipp"
    work.mkdir()
    (lab.root / "program.json").write_text(json.dumps(progs))
    impl_calls = [(c, i) for c in args.calls.split(",") for i in args.impls.split(",")
                  if not (c == "heavy" and i == "xmlpre")]
    results = {key: {"calls": 0, "failed": 0, "fs_ms": 0.0, "ctl_ms": 0.0, "rss_kb": 0, "lat": [],
                     "wall_s": 0.0, "runs": []} for key in impl_calls}
    idle = {"ms_per_s": 0.0}
    profiles = {}
    load_before = os.getloadavg()
    ticks_before = cpu_ticks()
    controller = sniffer = None
    with lab:
        try:
            controller = subprocess.Popen(
                [sys.executable, str(REPO / "bench" / "esl_controller.py"), "--port", str(esl_port),
                 "--program", str(lab.root / "program.json")],
                stdout=open(lab.root / "controller.out", "wb"), stderr=subprocess.STDOUT,
                preexec_fn=fslab._die_with_parent)
            sniffer = subprocess.Popen(
                [sys.executable, str(REPO / "bench" / "rtp_latency.py"), "--rtp-start",
                 str(lab.rtp_start), "--rtp-end", str(lab.rtp_start + 1998)],
                stdout=subprocess.PIPE, stderr=open(lab.root / "sniffer.err", "wb"),
                preexec_fn=fslab._die_with_parent, text=True)
            assert sniffer.stdout.readline().strip() == "ready", "latency sniffer did not start"
            measured = []

            def collect_latencies():
                for line in sniffer.stdout:
                    parts = line.split()
                    if len(parts) == 3:
                        measured.append(float(parts[2]))

            threading.Thread(target=collect_latencies, daemon=True).start()
            time.sleep(1.0)
            pcaps = {d: dtmf_pcap(work / f"dtmf{d}.pcap", d) for d in CAUSES}
            fs_pid = lab.pid()
            for rnd, call, impl in schedule(impl_calls, args.rounds, args.profile):
                if rnd == PROFILE:
                    profiles[(call, impl)] = profile_run(args, lab, work, pcaps, call, impl,
                                                         idle["ms_per_s"])
                    measured.clear()  # not counted
                    continue
                warm = rnd == 0
                if not warm and not idle["ms_per_s"]:
                    idle["ms_per_s"] = idle_cpu(fs_pid)
                    print(f"idle     FreeSWITCH without calls: {idle['ms_per_s']:.2f} ms CPU per s",
                          flush=True)
                digit = "5" if rnd % 2 else "3"
                count = int(call_rate(args, call) * args.seconds)
                count = max(10, count // 5) if warm else count
                rss0 = fslab.proc_rss_kb(fs_pid)
                wall0 = time.monotonic()
                cpu0 = fslab.proc_cpu_ms(fs_pid)
                ctl0 = fslab.proc_cpu_ms(controller.pid)
                s = run_calls(args, lab, work, pcaps, call, impl, digit, count)
                settle(fs_pid, idle["ms_per_s"])
                cpu1 = fslab.proc_cpu_ms(fs_pid)
                wall1 = time.monotonic()
                ctl1 = fslab.proc_cpu_ms(controller.pid)
                rss1 = fslab.proc_rss_kb(fs_pid)
                lats = measured[:]
                del measured[: len(lats)]
                ok, failed = sipp_counts(s.out_path.with_suffix(".screen"))
                failed = max(failed, count - ok)
                tag = "warm-up" if warm else f"round {rnd}"
                print(f"{tag:8} {call:6} {impl:8} digit {digit}: {ok}/{count} ok (rc {s.rc}), "
                      f"FS {(cpu1 - cpu0) / count:.2f} ms/call, ctl {(ctl1 - ctl0) / count:.2f} ms/call, "
                      f"RSS {rss1 - rss0:+d} kB, latency n={len(lats)} p50 {percentile(lats, 50):.1f} "
                      f"p99 {percentile(lats, 99):.1f} ms", flush=True)
                if not warm:
                    r = results[(call, impl)]
                    r["calls"] += count
                    r["failed"] += failed
                    r["fs_ms"] += cpu1 - cpu0
                    r["ctl_ms"] += ctl1 - ctl0 if impl == "esl" else 0
                    r["rss_kb"] += rss1 - rss0
                    r["lat"] += lats
                    r["wall_s"] += wall1 - wall0
                    r["runs"].append((cpu1 - cpu0) / count)
            rss_end = fslab.proc_rss_kb(fs_pid)
            if any(r["failed"] for r in [*results.values(), *profiles.values()]):
                lab.failed = True  # keep the log
        finally:
            for p in (controller, sniffer):
                if p and p.poll() is None:
                    p.kill()
                    p.wait()
    load_after = os.getloadavg()
    steal = stolen_share(ticks_before, cpu_ticks())
    report = render_report(results, args, load_before, load_after, steal, rss_end, idle["ms_per_s"],
                           profiles)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    print(report)
    print(f"bench: report written to {args.out}")
    return 1 if any(r["failed"] for r in [*results.values(), *profiles.values()]) else 0


PROFILE = -1  # the round of the runs under perf (--profile)


def schedule(impl_calls, rounds, profile):
    """(round, call, impl) in run order; round 0 is the uncounted warm-up. The in-process
    implementations first, interleaved, the order rotating each round, then their runs under
    perf (round PROFILE) if asked; the event-socket controller's runs last: they leave tens of
    MB of FreeSWITCH memory behind, and whichever run came next paid for it (up to 12 % more
    CPU per call). A rotation keeps neighbours together, so interleaving them would always
    charge the same row."""
    local = [k for k in impl_calls if k[1] != "esl"]
    socket = [k for k in impl_calls if k[1] == "esl"]
    runs = []
    for block in (local, socket):
        for rnd in range(rounds + 1):
            shift = max(rnd - 1, 0) % max(len(block), 1)
            runs += [(rnd, call, impl) for call, impl in block[shift:] + block[:shift]]
        if block is local and profile:
            runs += [(PROFILE, call, impl) for call, impl in local if impl in cpu_profile.IMPL_DSOS]
    return runs


def settle(fs_pid, idle_ms_per_s):
    """Waits (at most a minute) until FreeSWITCH is back to about its idle CPU use, measured
    over 1 s windows, so that a run's tail (the last hangups, an event backlog) is charged to
    that run and not to the next one."""
    limit = max(2 * idle_ms_per_s, 30.0) if idle_ms_per_s else 40.0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        cpu0, t0 = fslab.proc_cpu_ms(fs_pid), time.monotonic()
        time.sleep(1.0)
        if (fslab.proc_cpu_ms(fs_pid) - cpu0) / (time.monotonic() - t0) <= limit:
            return


def idle_cpu(fs_pid, seconds=10.0):
    """FreeSWITCH's own CPU use without calls (timers, SIP stack), in ms per second."""
    time.sleep(2.0)  # the last hangups of the previous run
    cpu0, t0 = fslab.proc_cpu_ms(fs_pid), time.monotonic()
    time.sleep(seconds)
    return (fslab.proc_cpu_ms(fs_pid) - cpu0) / (time.monotonic() - t0)


def call_rate(args, call):
    """Calls per second of `call` (--rate, or --heavy-rate for the logic-heavy call)."""
    return args.rate if call == "simple" else args.heavy_rate


def run_calls(args, lab, work, pcaps, call, impl, digit, count):
    """One sipp run of `count` calls; returns the Sipp (waited for)."""
    cause = CAUSES[digit][1]
    scenario = render("uac_answer.xml", work, uac_subs(
        dtmf_pcap_path=pcaps[digit], dtmf_delay_ms=500,
        bye_reason=f"cause={cause};", caller="bench"))
    rate = call_rate(args, call)
    s = Sipp(scenario, work, target=f"127.0.0.1:{lab.sip_port}", service=f"b{call[0]}_{impl}",
             calls=count, rate=rate, limit=int(rate * 10), timeout_s=int(count / rate + 60))
    s.rc = s.wait(timeout=count / rate + 120)
    return s


def profile_run(args, lab, work, pcaps, call, impl, idle_ms_per_s):
    """One uncounted run under perf: {calls, failed, samples, share (logic share)}."""
    count = int(call_rate(args, call) * args.profile_seconds)
    data = work / f"perf-{call}-{impl}.data"
    settle(lab.pid(), idle_ms_per_s)
    perf = cpu_profile.record(args.profile_seconds, data)
    s = run_calls(args, lab, work, pcaps, call, impl, "5", count)
    perf.wait()
    ok, failed = sipp_counts(s.out_path.with_suffix(".screen"))
    if perf.returncode:
        raise RuntimeError(f"perf record failed ({perf.returncode}): {perf.stderr.read().strip()}")
    samples, share = cpu_profile.logic_share(data, impl, lab.pid())
    print(f"profile  {call:6} {impl:8}: {ok}/{count} ok, {samples} samples, "
          f"{100 * share:.1f} % in the implementation outside media", flush=True)
    return {"calls": count, "failed": max(failed, count - ok), "samples": samples, "share": share}


def cpu_ticks():
    """The machine's CPU time counters (/proc/stat: user nice system idle iowait irq softirq
    steal ...)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def stolen_share(before, after):
    """Share of the machine's CPU time taken by the hypervisor between two cpu_ticks()."""
    delta = [b - a for a, b in zip(before, after)]
    return delta[7] / (sum(delta) or 1)


def render_report(results, args, load_before, load_after, steal, rss_end, idle_ms_per_s,
                  profiles):
    lines = []
    cpu = open("/proc/cpuinfo").read()
    model = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if ln.startswith("model name")), "?")
    lines.append(f"Machine: {model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
                 f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f}; "
                 f"CPU time stolen by the hypervisor during the bench: {100 * steal:.1f} %.")
    lines.append(f"Simple call at {args.rate:g} calls/s, logic-heavy call at {args.heavy_rate:g} "
                 f"calls/s, {args.seconds:g} s per run, {args.rounds} rounds "
                 f"(+1 warm-up, not counted); rustflow, XML and mod_lua interleaved, order rotating, "
                 f"the event-socket runs after them; each run ends when FreeSWITCH is back to "
                 f"its idle CPU use. "
                 f"FreeSWITCH RSS at the end: {rss_end / 1024:.1f} MB. FreeSWITCH without calls "
                 f"uses {idle_ms_per_s:.2f} ms of CPU per second (timers, SIP stack); "
                 f"\"net of idle\" subtracts that over each run's duration.")
    lines.append("")
    for call in ("simple", "heavy"):
        keys = [k for k in results if k[0] == call]
        if not keys:
            continue
        base = results.get((call, "xml")) if call == "simple" else results.get((call, "lua"))
        base_name = "XML" if call == "simple" else "mod_lua"
        lines.append(f"**{call} call** (ratios against {base_name})")
        lines.append("")
        lines.append("| implementation | calls | failed | FreeSWITCH CPU ms/call | single runs | net of idle | controller CPU ms/call | total CPU ms/call | ratio (total) | ratio (net of idle) | RSS growth kB | DTMF→prompt p50 ms | p99 ms | samples |")
        lines.append("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

        def per_call(r):
            n = r["calls"] or 1
            fs, ctl = r["fs_ms"] / n, r["ctl_ms"] / n
            net = (r["fs_ms"] - idle_ms_per_s * r["wall_s"]) / n
            return fs, net, ctl

        bt = bn = None
        if base and base["calls"]:
            fs, net, ctl = per_call(base)
            bt, bn = fs + ctl, net + ctl
        for k in keys:
            r = results[k]
            fs, net, ctl = per_call(r)
            ratio = f"{(fs + ctl) / bt:.2f}×" if bt else "–"
            ratio_net = f"{(net + ctl) / bn:.2f}×" if bn else "–"
            name = "xml (the media alone, no steps)" if k == ("heavy", "xml") else k[1]
            runs = " ".join(f"{x:.1f}" for x in r["runs"])
            lines.append(f"| {name} | {r['calls']} | {r['failed']} | {fs:.2f} | {runs} | "
                         f"{net:.2f} | {ctl:.2f} | {fs + ctl:.2f} | {ratio} | {ratio_net} | {r['rss_kb']:+d} | "
                         f"{percentile(r['lat'], 50):.1f} | {percentile(r['lat'], 99):.1f} | {len(r['lat'])} |")
        lines.append("")
        floor = results.get((call, "xml")) if call == "heavy" else None
        if floor and floor["calls"] and bt:
            fs, net, _ = per_call(floor)
            lines.append(f"The heavy call's media alone (the XML dialplan, none of the 200 steps) "
                         f"costs {fs:.2f} ms/call = {fs / bt:.2f}× mod_lua's whole heavy call "
                         f"(net of idle {net / bn:.2f}×); every implementation pays it, plus its "
                         f"logic.")
            lines.append("")
    if profiles:
        lines.append(f"**Where FreeSWITCH's CPU goes** (one more run of {args.profile_seconds:g} s "
                     "per row under `perf record`, not counted above; bench/cpu_profile.py)")
        lines.append("")
        lines.append("| call | implementation | calls | failed | samples | share in the implementation "
                     "outside media | ≈ ms/call (share × FreeSWITCH CPU ms/call of the counted runs) |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for (call, impl), p in profiles.items():
            r = results[(call, impl)]
            fs = r["fs_ms"] / (r["calls"] or 1)
            lines.append(f"| {call} | {impl} | {p['calls']} | {p['failed']} | {p['samples']} | "
                         f"{100 * p['share']:.1f} % | {p['share'] * fs:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
