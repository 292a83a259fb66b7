#!/usr/bin/env python3
"""Contact-centre benchmark: one inbound queue through rustflow's `joinQueue` and through
mod_callcenter, in one FreeSWITCH, interleaved (issue 11, done-when 5).

    make bench-cc        (or: python3 bench/cc_bench.py [--rate 20] [--agents 40]
                          [--talk-ms 1500,2200] [--seconds 25] [--rounds 3])

Both implementations serve the same queue: strategy longest-idle-agent, the same agents
(contacts sofia/lab/sip:agentN@127.0.0.1:PORT), the same hold audio (a tone_stream loop: the
lab has no music on hold), no wrap-up, the same ring timeout; everything else is each one's
default. The caller is answered, joins the queue and is hung up by FreeSWITCH after the agent
hangs up:
  rustflow        flow [answer, joinQueue, hangup]; queue, agents and tiers loaded with
                  `rustflow cc import`, agents put online with `rustflow cc agent status`
  mod_callcenter  dialplan [set hangup_after_bridge=true, answer, callcenter QUEUE]; queue,
                  agents (callback, Available) and tiers from callcenter.conf

sipp plays both sides: one caller process per run at --rate calls/s (each call's From user is
unique, so the agent's INVITE, which carries the caller id, can be matched to its caller), and
ONE sipp UAS for the agents: every agent contact points at the same port, and sipp answers any
request-URI, so one process is 40 agents (it answers at once, talks --talk-ms, sends BYE).

Measured per run: failed calls (caller side and agent side), FreeSWITCH CPU per call
(utime+stime from /proc over the run, which ends when FreeSWITCH is back to its idle CPU use),
and two latencies on the wire (bench/sip_trace.py: SIP on lo with kernel timestamps):
  join -> offer   FreeSWITCH's 200 OK to the caller (the answer; the caller joins the queue
                  right after it) to FreeSWITCH's first INVITE to an agent for that caller,
                  counted when an agent was free at that moment (agents on the wire between
                  their BYE and their next INVITE, less the callers already waiting);
  free -> INVITE  an agent's BYE (it hung up: free) to FreeSWITCH's next INVITE to that agent,
                  counted when a caller was waiting at that moment that no agent freed before
                  it would take first (longest-idle-agent).
  hung up -> INVITE  the same, from FreeSWITCH's 200 OK to that BYE: FreeSWITCH has hung the
                  agent's leg up (the first moment any module can know the agent is free).
Rounds alternate the order of the two implementations; a warm-up round runs first and is not
counted. Prints numbers and writes a Markdown report; it asserts nothing about them.
"""

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import fslab  # noqa: E402
from bench import cpu_ticks, idle_cpu, percentile, settle, sipp_counts, stolen_share  # noqa: E402
from fslab import Lab  # noqa: E402
from sip import Sipp, render, uac_subs  # noqa: E402

QUEUE = "ccbench"
# What a waiting caller hears in both implementations: a ringback-like tone, looped.
HOLD_AUDIO = "tone_stream://%(2000,4000,440,480);loops=-1"
RING_TIMEOUT_SECS = 20
IMPLS = ("rustflow", "callcenter")


def agent_names(count):
    return [f"agent{i}" for i in range(1, count + 1)]


def agent_contact(name, agent_port):
    return f"sofia/lab/sip:{name}@127.0.0.1:{agent_port}"


def rustflow_setup(agents, agent_port):
    """The import file of `rustflow cc import`."""
    return {
        "queues": [{"id": QUEUE, "name": QUEUE, "strategy": "longest-idle-agent",
                    "ringtone": HOLD_AUDIO, "wrap_up_secs": 0,
                    "ring_timeout_secs": RING_TIMEOUT_SECS,
                    # mod_callcenter's max-wait-time default: no limit
                    "max_wait_secs": 0}],
        "agents": [{"id": a, "name": a, "contact": agent_contact(a, agent_port)} for a in agents],
        "tiers": [{"queue": QUEUE, "agent": a, "level": 1, "position": 1} for a in agents],
    }


def callcenter_config(agents, agent_port):
    """callcenter.conf for mod_callcenter (its core SQLite database in the lab's db dir)."""
    agent_lines = "\n".join(
        f'        <agent name="{a}" type="callback" contact="{agent_contact(a, agent_port)}" '
        f'status="Available" wrap-up-time="0"/>' for a in agents)
    tier_lines = "\n".join(
        f'        <tier agent="{a}" queue="{QUEUE}@default" level="1" position="1"/>'
        for a in agents)
    return f"""    <configuration name="callcenter.conf" description="mod_callcenter, bench queue">
      <settings>
        <param name="agent-originate-timeout" value="{RING_TIMEOUT_SECS}"/>
      </settings>
      <queues>
        <queue name="{QUEUE}@default">
          <param name="strategy" value="longest-idle-agent"/>
          <param name="moh-sound" value="{HOLD_AUDIO}"/>
        </queue>
      </queues>
      <agents>
{agent_lines}
      </agents>
      <tiers>
{tier_lines}
      </tiers>
    </configuration>"""


DIALPLAN = f"""
      <extension name="cc-rustflow">
        <condition field="destination_number" expression="^cc_rustflow$">
          <action application="rustflow" data="{QUEUE}"/>
        </condition>
      </extension>
      <extension name="cc-callcenter">
        <condition field="destination_number" expression="^cc_callcenter$">
          <action application="set" data="hangup_after_bridge=true"/>
          <action application="answer"/>
          <action application="callcenter" data="{QUEUE}@default"/>
          <action application="hangup"/>
        </condition>
      </extension>
"""

FLOW = [{"answer": ""}, {"joinQueue": {"queue": {"id": QUEUE}}}, {"hangup": ""}]


# --------------------------------------------------------------------------------------------
# The wire: SIP messages from bench/sip_trace.py (fslab.WireTrace)


def wire_latencies(messages, *, fs_port, caller_port, agent_port, agents):
    """join->offer and free->INVITE latencies (ms) of one run, from its SIP messages.

    Events, first copy of each (retransmissions ignored): a caller's answer (FreeSWITCH's
    200 OK to the caller's INVITE; key: the caller's From user), an offer (FreeSWITCH's INVITE
    to an agent: request-URI user = agent, From user = caller), an agent's BYE (key: the
    Call-ID of the offer it ends). One sweep in time order keeps which agents are free on
    the wire (never offered in this run, or BYE sent and no INVITE since) and which callers
    wait (answered, not yet offered)."""
    events = []
    seen = set()
    offer_agent = {}  # Call-ID of an agent leg -> agent
    offer_caller = {}  # Call-ID of an agent leg -> caller
    caller_of_call = {}  # Call-ID of a caller's leg -> caller
    agent_bye_at = {}  # caller -> when its agent hung up
    teardown = []  # agent's BYE -> FreeSWITCH's BYE to that agent's caller, ms
    bye_answered = []  # agent's BYE -> FreeSWITCH's 200 OK to it, ms
    for ts, sport, dport, kind, cseq, ruri_user, from_user, call_id in sorted(messages):
        key = (kind, cseq, call_id, sport, dport)
        if key in seen:
            continue
        seen.add(key)
        if kind == "INVITE" and sport == caller_port and dport == fs_port:
            caller_of_call[call_id] = from_user
        elif kind == "200" and cseq == "INVITE" and sport == fs_port and dport == caller_port:
            events.append((ts, "answer", from_user))
        elif kind == "INVITE" and sport == fs_port and dport == agent_port:
            offer_agent[call_id] = ruri_user
            offer_caller[call_id] = from_user
            events.append((ts, "offer", from_user, ruri_user))
        elif kind == "BYE" and sport == agent_port and dport == fs_port and call_id in offer_agent:
            events.append((ts, "bye", offer_agent[call_id]))
            agent_bye_at[offer_caller[call_id]] = ts
        elif kind == "200" and cseq == "BYE" and sport == fs_port and dport == agent_port:
            t0 = agent_bye_at.get(offer_caller.get(call_id))
            if t0 is not None:
                bye_answered.append((ts - t0) * 1000)
            if call_id in offer_agent:
                events.append((ts, "hung_up", offer_agent[call_id]))
        elif kind == "BYE" and sport == fs_port and dport == caller_port:
            t0 = agent_bye_at.pop(caller_of_call.get(call_id), None)
            if t0 is not None:
                teardown.append((ts - t0) * 1000)
    free = set(agents)
    waiting = {}  # caller -> (answer time, an agent was free for it)
    offered = set()
    due = {}  # agent -> time it was freed while a caller waited for it
    due_hung_up = {}  # the same agents -> FreeSWITCH's 200 OK to their BYE
    join_offer, join_offer_waited, free_invite, hung_up_invite = [], [], [], []
    for ev in events:
        ts, kind = ev[0], ev[1]
        if kind == "answer":
            if ev[2] in offered or ev[2] in waiting:
                continue
            waiting[ev[2]] = (ts, len(free) - len(waiting) > 0)
        elif kind == "offer":
            caller, agent = ev[2], ev[3]
            free.discard(agent)
            if agent in due:
                free_invite.append((ts - due.pop(agent)) * 1000)
            if agent in due_hung_up:
                hung_up_invite.append((ts - due_hung_up.pop(agent)) * 1000)
            if caller in waiting:
                t0, had_free = waiting.pop(caller)
                offered.add(caller)
                (join_offer if had_free else join_offer_waited).append((ts - t0) * 1000)
        elif kind == "bye":
            agent = ev[2]
            # agents freed before this one are idle longer and take the waiting callers first
            if len(waiting) - len(free - {agent}) > 0:
                due[agent] = ts
            free.add(agent)
        elif kind == "hung_up":
            if ev[2] in due:
                due_hung_up[ev[2]] = ts
    return {"join_offer": join_offer, "join_offer_waited": join_offer_waited,
            "free_invite": free_invite, "hung_up_invite": hung_up_invite,
            "never_offered": len(waiting), "teardown": teardown,
            "bye_answered": bye_answered,
            "free_invite_missing": len(due)}


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=20, help="callers per second")
    ap.add_argument("--agents", type=int, default=40)
    ap.add_argument("--talk-ms", default="1500",
                    help="comma list of agent talk times in ms; one set of rounds per value")
    ap.add_argument("--seconds", type=float, default=25, help="seconds of arrivals per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--module", help="mod_rustflow.so to use instead of building one")
    ap.add_argument("--out", default=str(REPO / "target" / "bench-cc.md"))
    ap.add_argument("--trace-dir", help="keep each run's SIP messages (sip_trace.py lines) there")
    args = ap.parse_args()
    talk_levels = [int(x) for x in args.talk_ms.split(",")]

    install, status = fslab.find_lab_tools("bench-cc")
    if install is None:
        return status
    if not (install.mod_dir / "mod_callcenter.so").is_file():
        print(f"SKIP bench-cc: no mod_callcenter.so in {install.mod_dir}")
        return 0
    so = Path(args.module).resolve() if args.module else fslab.build_module(install, features=())

    agents = agent_names(args.agents)
    agent_port = fslab.free_port(socket.SOCK_DGRAM, also_udp=True)
    lab = Lab(install, so, dialplan_xml=DIALPLAN, flows={QUEUE: json.dumps(FLOW)},
              loglevel="warning", name="bench-cc", extra_modules=["mod_callcenter"],
              extra_config_xml=callcenter_config(agents, agent_port))
    work = lab.root / "sipp"
    work.mkdir()
    results = {(talk, impl): empty_result() for talk in talk_levels for impl in IMPLS}
    idle = 0.0
    load_before = os.getloadavg()
    ticks_before = cpu_ticks()
    trace = None
    log_summary = "FreeSWITCH log: not read"
    with lab:
        try:
            if lab.api("module_exists mod_callcenter").strip() != "true":
                raise RuntimeError(f"mod_callcenter did not load; log: {lab.log_path}")
            provision_rustflow(lab, agents, agent_port)
            trace = fslab.WireTrace(lab.sip_port, lab.root / "sip_trace.err")
            fs_pid = lab.pid()
            run_number = 1000  # the callers' From users: <run number><call number>
            for talk in talk_levels:
                for rnd in range(args.rounds + 1):
                    order = IMPLS if rnd % 2 else IMPLS[::-1]
                    for impl in order:
                        warm = rnd == 0
                        if not warm and not idle:
                            idle = idle_cpu(fs_pid)
                            print(f"idle     FreeSWITCH without calls: {idle:.2f} ms CPU per s",
                                  flush=True)
                        count = int(args.rate * args.seconds)
                        count = max(20, count // 5) if warm else count
                        trace.take()  # drop what came between runs
                        run_number += 1
                        r = run_calls(args, lab, work, trace, impl, talk, count, agent_port,
                                      agents, idle, caller_prefix=run_number)
                        tag = "warm-up" if warm else f"round {rnd}"
                        print(f"{tag:8} talk {talk} ms {impl:10}: {r['ok']}/{count} ok, "
                              f"{r['failed']} failed, agents {r['agent_ok']} ok "
                              f"{r['agent_failed']} failed, FS {r['fs_ms'] / count:.2f} ms/call, "
                              f"join→offer n={len(r['join_offer'])} "
                              f"p50 {percentile(r['join_offer'], 50):.1f} "
                              f"p99 {percentile(r['join_offer'], 99):.1f} ms, "
                              f"free→INVITE n={len(r['free_invite'])} "
                              f"p50 {percentile(r['free_invite'], 50):.1f} "
                              f"p99 {percentile(r['free_invite'], 99):.1f} ms, "
                              f"hung up→INVITE p50 {percentile(r['hung_up_invite'], 50):.1f} "
                              f"p99 {percentile(r['hung_up_invite'], 99):.1f} ms, "
                              f"agent BYE→200 OK p50 {percentile(r['bye_answered'], 50):.1f} ms, "
                              f"agent BYE→caller BYE p50 {percentile(r['teardown'], 50):.1f} ms, "
                              f"waited {len(r['join_offer_waited'])}, never offered "
                              f"{r['never_offered']}", flush=True)
                        if warm:
                            continue
                        add_run(results[(talk, impl)], r, count)
            log_summary = log_problems(lab.log_path)
            print(log_summary, flush=True)
            if any(r["failed"] or r["agent_failed"] for r in results.values()):
                lab.failed = True  # keep the log
        finally:
            if trace:
                trace.stop()
    load_after = os.getloadavg()
    steal = stolen_share(ticks_before, cpu_ticks())
    report = render_report(results, args, talk_levels, load_before, load_after, steal, idle)
    report += "\n" + log_summary + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    print(report)
    print(f"bench-cc: report written to {args.out}")
    return 1 if any(r["failed"] or r["agent_failed"] for r in results.values()) else 0


def log_problems(log_path, shown=5):
    """One line: how many WARNING / ERR / CRIT lines FreeSWITCH logged (log level warning),
    with the first few distinct messages (without their uuid and time)."""
    counts = {"WARNING": 0, "ERR": 0, "CRIT": 0}
    distinct = []
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    for line in text.splitlines():
        for level in counts:
            marker = f"[{level}]"
            if marker in line:
                counts[level] += 1
                message = line.split(marker, 1)[1].strip()
                if message not in distinct:
                    distinct.append(message)
    found = ", ".join(f"{n} {level}" for level, n in counts.items())
    first = "; ".join(f"`{m[:160]}`" for m in distinct[:shown])
    return f"FreeSWITCH log over the whole bench: {found}" + (f" (first: {first})" if first else "") + "."


# per-call latency samples (ms) of a run, summed over the rounds
SAMPLES = ("join_offer", "join_offer_waited", "free_invite", "hung_up_invite", "teardown",
           "bye_answered")


def empty_result():
    return {"calls": 0, "failed": 0, "agent_failed": 0, "fs_ms": 0.0, "wall_s": 0.0, "runs": [],
            "never_offered": 0, "free_invite_missing": 0, **{key: [] for key in SAMPLES}}


def add_run(acc, run, count):
    """Adds one counted run (run_calls' result, `count` calls) to an implementation's total."""
    acc["calls"] += count
    acc["runs"].append(run["fs_ms"] / count)
    for key in ("failed", "agent_failed", "fs_ms", "wall_s", "never_offered",
                "free_invite_missing", *SAMPLES):
        acc[key] += run[key]


def provision_rustflow(lab, agents, agent_port):
    setup = lab.root / "cc.json"
    setup.write_text(json.dumps(rustflow_setup(agents, agent_port), indent=1))
    reply = lab.api(f"rustflow cc import {setup}")
    if "changes applied" not in reply:
        raise RuntimeError(f"rustflow cc import: {reply.strip()}")
    for a in agents:
        reply = lab.api(f"rustflow cc agent status {a} online")
        if reply.startswith("-ERR") or "error" in reply.lower():
            raise RuntimeError(f"rustflow cc agent status {a} online: {reply.strip()}")


def run_calls(args, lab, work, trace, impl, talk_ms, count, agent_port, agents, idle_ms_per_s,
              caller_prefix):
    """One run: the agents' sipp (as many calls as callers), the callers' sipp, then wait
    until FreeSWITCH is idle again. Returns counts, CPU and the wire latencies."""
    uas = render("uas_answer.xml", work, {"HOLD_MS": talk_ms})
    caller = render("uac_answer.xml", work, uac_subs(caller=f"{caller_prefix}[call_number]",
                                                     bye_timeout_ms=60000))
    duration = count / args.rate
    fs_pid = lab.pid()
    agent_sipp = Sipp(uas, work, calls=count, port=agent_port, timeout_s=int(duration + 180))
    time.sleep(0.3)
    wall0 = time.monotonic()
    cpu0 = fslab.proc_cpu_ms(fs_pid)
    callers = Sipp(caller, work, target=f"127.0.0.1:{lab.sip_port}", service=f"cc_{impl}",
                   calls=count, rate=args.rate, limit=int(args.rate * 20),
                   timeout_s=int(duration + 120))
    callers.wait(timeout=duration + 150)
    # its last BYE was answered before the last caller's BYE
    if agent_sipp.wait(timeout=15) < 0:
        print(f"bench-cc: the agents' sipp did not see its {count} calls and was stopped; "
              f"every call it did not finish counts as failed", flush=True)
    settle(fs_pid, idle_ms_per_s)
    cpu1 = fslab.proc_cpu_ms(fs_pid)
    wall1 = time.monotonic()
    ok, failed = sipp_counts(callers.out_path.with_suffix(".screen"))
    agent_ok, agent_failed = sipp_counts(agent_sipp.out_path.with_suffix(".screen"))
    messages = trace.take()
    if args.trace_dir:
        out = Path(args.trace_dir) / f"run{caller_prefix}-{impl}-{talk_ms}ms.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f"# FreeSWITCH {lab.sip_port}, callers {callers.port}, agents {agent_port}\n"
                       + "".join(" ".join(map(str, m)) + "\n" for m in messages))
    lat = wire_latencies(messages, fs_port=lab.sip_port, caller_port=callers.port,
                         agent_port=agent_port, agents=agents)
    return {"ok": ok, "failed": max(failed, count - ok), "agent_ok": agent_ok,
            "agent_failed": max(agent_failed, count - agent_ok), "fs_ms": cpu1 - cpu0,
            "wall_s": wall1 - wall0, **lat}


NAMES = {"rustflow": "rustflow `joinQueue`", "callcenter": "mod_callcenter"}


def pct(values, p):
    """A percentile in ms for the report; – when there is no sample."""
    return f"{percentile(values, p):.1f}" if values else "–"


def render_report(results, args, talk_levels, load_before, load_after, steal, idle_ms_per_s):
    cpu = open("/proc/cpuinfo").read()
    model = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines()
                  if ln.startswith("model name")), "?")
    lines = [
        f"Machine: {model}, {os.cpu_count()} CPUs; load average before {load_before[0]:.2f} / "
        f"after {load_after[0]:.2f}; CPU time stolen by the hypervisor during the bench: "
        f"{100 * steal:.1f} %.",
        f"Callers at {args.rate:g} calls/s, {args.agents} agents (one sipp UAS), "
        f"{args.seconds:g} s of arrivals per run, {args.rounds} rounds (+1 warm-up, not "
        f"counted), the two implementations alternating first. FreeSWITCH without calls uses "
        f"{idle_ms_per_s:.2f} ms of CPU per second (both modules loaded); \"net of idle\" "
        f"subtracts that over each run's duration.",
        "",
    ]
    for talk in talk_levels:
        load = args.rate * talk / 1000 / args.agents
        lines.append(f"**Talk time {talk} ms** (offered load {args.rate:g} × {talk / 1000:g} s "
                     f"on {args.agents} agents = {100 * load:.0f} % occupancy)")
        lines.append("")
        lines.append("| implementation | calls | failed (callers / agents) | FreeSWITCH CPU ms/call "
                     "| single runs | net of idle | join→offer n | p50 ms | p99 ms | free→INVITE n "
                     "| p50 ms | p99 ms | hung up→INVITE p50 ms | p99 ms |")
        lines.append("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        context = []
        per_call = {}
        for impl in IMPLS:
            r = results[(talk, impl)]
            n = r["calls"] or 1
            fs, net = r["fs_ms"] / n, (r["fs_ms"] - idle_ms_per_s * r["wall_s"]) / n
            per_call[impl] = (fs, net)
            name = NAMES[impl]
            lines.append(
                f"| {name} | {r['calls']} | {r['failed']} / {r['agent_failed']} | {fs:.2f} | "
                f"{' '.join(f'{x:.1f}' for x in r['runs'])} | {net:.2f} | "
                f"{len(r['join_offer'])} | {pct(r['join_offer'], 50)} | {pct(r['join_offer'], 99)} | "
                f"{len(r['free_invite'])} | {pct(r['free_invite'], 50)} | "
                f"{pct(r['free_invite'], 99)} | {pct(r['hung_up_invite'], 50)} | "
                f"{pct(r['hung_up_invite'], 99)} |")
            waited = r["join_offer_waited"]
            context.append(
                f"| {name} | {len(waited)} | {pct(waited, 50)} / {pct(waited, 99)} / "
                f"{pct(waited, 100)} | {pct(r['bye_answered'], 50)} / {pct(r['bye_answered'], 99)} | "
                f"{pct(r['teardown'], 50)} / {pct(r['teardown'], 99)} | {r['never_offered']} | "
                f"{r['free_invite_missing']} |")
        lines.append("")
        lines.append("| implementation | callers who found no agent free | their join→offer p50 / p99 "
                     "/ max ms | agent's BYE → FreeSWITCH's 200 OK p50 / p99 ms | agent's BYE → "
                     "FreeSWITCH's BYE to the caller p50 / p99 ms | callers never offered | agents "
                     "freed for a waiting caller and never offered again |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        lines += context
        (fr, nr), (fc, nc) = per_call["rustflow"], per_call["callcenter"]
        if fc and nc:
            lines.append("")
            lines.append(f"rustflow / mod_callcenter: CPU per call {fr / fc:.2f}× (net of idle "
                         f"{nr / nc:.2f}×).")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
