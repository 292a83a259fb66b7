"""Several FreeSWITCH nodes, one contact centre and one set of flows (issue 12, done-when 4):
two private FreeSWITCH instances (own ports, own temp dirs, own `switchname`) on one private
PostgreSQL (tests/e2e/pglab.py), as their contact-centre `store` (cc_two_nodes) or their
`flows-source` (flow_push_two_nodes). Mixed into run_e2e.Suite like cc_e2e.QueueScenarios;
each scenario starts its own server and nodes, so it runs alone (`-k NAME`) and stops them all
at the end, also on failure (their logs are then kept and their paths printed).

What a scenario sees:
- the wire: every SIP message to and from the agents' sipp (bench/sip_trace.py on `lo`, kernel
  timestamps, when we are root; else the agents' sipp message trace), so which node rang which
  agent for which caller, and when, comes from the packets, not from the module;
- each node's event socket: `rustflow::cc` events, CHANNEL_ANSWER and CHANNEL_HANGUP_COMPLETE.
"""

import contextlib
import json
import os
import socket
import statistics
import subprocess
import time
from pathlib import Path

import fslab
from fslab import EventCollector, Lab
from pglab import PgLab
from sip import Sipp, read_message_trace, render, uac_subs

NODES_SCENARIOS = ["cc_two_nodes", "flow_push_two_nodes"]

NODE_NAMES = ("e2e-node1", "e2e-node2")
NODES_QUEUE = "e2e_nodes"
NODES_AGENTS = ("nd1", "nd2", "nd3")
NODES_CALLERS = 8
# The agents' sipp answers at once and hangs up after this long.
NODES_TALK_MS = 2000
# The agents come online this far apart, so they become free this far apart for the whole run
# and the offers have a strict order on the wire (three agents, all free at the same moment,
# would be claimed in one pass, in any order within it).
NODES_STAGGER_S = 0.6
HOLD = {"type": "tone", "name": "%(1000,0,440);loops=-1"}


def nodes_flows():
    return {"cc_nodes": json.dumps([
        {"answer": ""},
        {"joinQueue": {"queue": {"id": NODES_QUEUE}, "ringtone": HOLD}},
        {"set": {"e2e_after": "${cc_result}"}},
        {"hangup": "NORMAL_CLEARING"},
    ])}


def sipp_trace_messages(msg_path: Path, agent_port: int) -> list:
    """The same tuples from the agents' sipp message trace (sipp's own times), for a run
    without root. The node's port of a received request is its Via's; of a sent message, the
    port its call came from."""
    rows, peer = [], {}
    for m in read_message_trace(msg_path):
        if not m.sent:
            via = m.headers.get("via", "").split()
            port = int(via[1].split(";")[0].rsplit(":", 1)[1]) if len(via) > 1 else 0
            peer.setdefault(m.call_id, port)
        node_port = peer.get(m.call_id, 0)
        kind = m.method or str(m.status)
        cseq = m.cseq_method or "-"
        ruri_user = "-"
        if m.method:
            target = m.first_line.split()[1]
            ruri_user = target.split(":", 1)[1].split("@", 1)[0] if "@" in target else "-"
        from_ = m.headers.get("from", m.headers.get("f", ""))
        from_user = from_.split("sip:", 1)[1].split("@", 1)[0] if "sip:" in from_ else "-"
        sport, dport = (agent_port, node_port) if m.sent else (node_port, agent_port)
        rows.append((m.at, sport, dport, kind, cseq, ruri_user, from_user, m.call_id))
    return sorted(rows)


def agent_dialogs(messages, agent_port, node_of_port):
    """The agent legs seen on the wire, in the order their INVITEs were sent: dicts with the
    node that sent the INVITE, agent (request-URI user), caller (From user), `invite` (first
    copy), `answered`, `bye` (the agent's BYE) and `end` (the last message of the dialog)."""
    dialogs, by_call = [], {}
    for ts, sport, dport, kind, cseq, ruri_user, from_user, call_id in messages:
        d = by_call.get(call_id)
        if d is None:
            if kind != "INVITE" or dport != agent_port:
                continue
            d = {"node": node_of_port.get(sport, f"port {sport}"), "agent": ruri_user,
                 "caller": from_user, "invite": ts, "answered": None, "bye": None, "end": ts,
                 "call_id": call_id}
            by_call[call_id] = d
            dialogs.append(d)
        d["end"] = max(d["end"], ts)
        if kind == "200" and cseq == "INVITE" and sport == agent_port and d["answered"] is None:
            d["answered"] = ts
        elif kind == "BYE" and sport == agent_port and d["bye"] is None:
            d["bye"] = ts
    return dialogs


class Node:
    """One FreeSWITCH of the two: its Lab and one event-socket collector for the contact
    centre's events and the hangups."""

    def __init__(self, lab: Lab, name: str):
        self.lab, self.name = lab, name
        self.events = EventCollector(
            lab.esl_port, "CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE CUSTOM rustflow::cc")

    def cc(self, line):
        from run_e2e import check
        out = self.lab.api(f"rustflow cc {line}")
        check(not out.startswith("-ERR"), f"{self.name}: rustflow cc {line}: {out}")
        return out

    def cc_events(self, action=None):
        return [e for e in list(self.events.events)
                if e.get("Event-Subclass") == "rustflow::cc"
                and (action is None or e.get("CC-Action") == action)]

    def wait_cc(self, predicate, timeout=15.0):
        return self.events.wait_for(
            lambda e: e.get("Event-Subclass") == "rustflow::cc" and predicate(e), timeout)

    def call_event(self, name, number, timeout=15.0):
        """The last `name` event (CHANNEL_ANSWER, CHANNEL_HANGUP_COMPLETE) of the caller
        `number`'s inbound leg, or None after `timeout`."""
        found = self.events.wait_for(
            lambda e: e.get("Event-Name") == name and e.get("Caller-Caller-ID-Number") == number
            and e.get("Call-Direction") == "inbound", timeout)
        return found[-1] if found else None

    def flow_version(self, flow):
        """The version of `flow` this node runs now, or None when it has none."""
        out = self.lab.api(f"rustflow show {flow} json")
        return json.loads(out).get("version") if out.strip().startswith("{") else None

    def waiting_numbers(self, queue):
        snap = json.loads(self.cc("snapshot json"))
        return [w["caller_number"] for q in snap["queues"] if q["id"] == queue for w in q["waiting"]]


def _event_time(e) -> float:
    return int(e.get("Event-Date-Timestamp", "0")) / 1e6


class NodeScenarios:
    """Mixed into run_e2e.Suite (self.lab for the installed module, self.work, self.sipps)."""

    @contextlib.contextmanager
    def two_nodes(self, flows, params=lambda url: {"store": url}):
        """A private PostgreSQL and two FreeSWITCH on it (`params(url)`: their mod_rustflow
        settings); yields (pg, url, [node1, node2])."""
        module_so = Path(os.readlink(self.lab.dirs["mod"] / "mod_rustflow.so"))
        from run_e2e import DIALPLAN
        with contextlib.ExitStack() as stack:
            pg = stack.enter_context(PgLab())
            url = pg.database("cc")
            nodes = []
            for name in NODE_NAMES:
                lab = stack.enter_context(Lab(
                    self.lab.install, module_so, dialplan_xml=DIALPLAN, flows=flows,
                    name=name, switchname=name, rustflow_params=params(url)))
                node = Node(lab, name)
                stack.callback(node.events.close)
                nodes.append(node)
            yield pg, url, nodes

    def s_cc_two_nodes(self):
        from run_e2e import check
        work = self.work / "two_nodes"
        work.mkdir(exist_ok=True)
        with self.two_nodes(nodes_flows()) as (pg, url, nodes):
            for node in nodes:
                log = node.lab.log_path.read_text(errors="replace")
                opened = f"contact-centre store {url} (node {node.name})"
                check(opened in log, f"{node.name}: the load log has no line {opened!r}")
            # One sipp answers for every agent (each contact points at its port, as in
            # bench/cc_bench.py): it answers at once, talks, hangs up.
            agent_port = fslab.free_port(socket.SOCK_DGRAM, also_udp=True)
            agents_sipp = Sipp(render("uas_answer.xml", work, {"HOLD_MS": NODES_TALK_MS}), work,
                               calls=NODES_CALLERS, port=agent_port, timeout_s=120)
            self.sipps.append(agents_sipp)
            agents_sipp.wait_listening()
            trace = fslab.WireTrace(agent_port, work / "sip_trace.err") if os.geteuid() == 0 else None
            try:
                self._two_nodes_run(nodes, agent_port, agents_sipp, trace, work)
            finally:
                if trace:
                    trace.stop()

    def _two_nodes_run(self, nodes, agent_port, agents_sipp, trace, work):
        from run_e2e import check
        node1, node2 = nodes
        # Provisioned once, through node 1; every agent offline until the callers wait.
        setup = {
            "queues": [{"id": NODES_QUEUE, "name": NODES_QUEUE, "strategy": "longest-idle-agent",
                        "ring_timeout_secs": 10, "max_wait_secs": 0, "wrap_up_secs": 0,
                        "no_answer_delay_secs": 30}],
            "agents": [{"id": a, "name": a, "contact": f"sofia/lab/sip:{a}@127.0.0.1:{agent_port}"}
                       for a in NODES_AGENTS],
            "tiers": [{"queue": NODES_QUEUE, "agent": a, "level": 1, "position": n + 1}
                      for n, a in enumerate(NODES_AGENTS)],
        }
        path = work / "nodes.json"
        path.write_text(json.dumps(setup))
        node1.cc(f"import {path}")
        for a in NODES_AGENTS:
            node1.cc(f"agent status {a} offline")
        check({q["id"] for q in json.loads(node2.cc("queue list json"))} >= {NODES_QUEUE},
              "node 2 does not see the queue provisioned through node 1")

        # Callers alternately on node 1 and node 2, each placed once the previous one joined.
        numbers = [f"nodes-c{k}" for k in range(1, NODES_CALLERS + 1)]
        home = {}  # caller number -> the node it called
        callers = []
        for k, number in enumerate(numbers):
            node = nodes[k % 2]
            home[number] = node
            c = Sipp(render("uac_answer.xml", work, uac_subs(caller=number, bye_timeout_ms=90000)),
                     work, target=f"127.0.0.1:{node.lab.sip_port}", service="rf_cc_nodes",
                     timeout_s=120)
            self.sipps.append(c)
            callers.append(c)
            joined = node.wait_cc(lambda e, n=number: e.get("CC-Action") == "join"
                                  and e.get("CC-Member-CID-Number") == n)
            check(joined, f"{number} on {node.name}: no join event within 15 s")
        # Both nodes see one queue, in the join order.
        for node in nodes:
            seen = node.waiting_numbers(NODES_QUEUE)
            check(seen == numbers, f"{node.name}'s snapshot lists the waiting callers as {seen}")
        members = {}  # caller uuid -> number
        for node in nodes:
            for e in node.cc_events("join"):
                members[e.get("CC-Member-UUID")] = e.get("CC-Member-CID-Number")

        # Agents online one by one, through node 2, then node 1, then node 2.
        for n, agent in enumerate(NODES_AGENTS):
            nodes[(n + 1) % 2].cc(f"agent status {agent} online")
            first = numbers[n]
            offered = home[first].wait_cc(lambda e, m=first: e.get("CC-Action") == "offer"
                                          and members.get(e.get("CC-Member-UUID")) == m)
            check(offered, f"{first}: no offer within 15 s of {agent} coming online")
            if n + 1 < len(NODES_AGENTS):
                time.sleep(NODES_STAGGER_S)  # spacing, not a check: see NODES_STAGGER_S

        for number, c in zip(numbers, callers):
            rc = c.wait(90)
            check(rc == 0, f"caller {number} ({home[number].name}): sipp exited {rc}\n{c.errors()}")
        rc = agents_sipp.wait(20)
        check(rc == 0, f"the agents' sipp exited {rc}\n{agents_sipp.errors()}")

        # Each caller's leave is in (events come on their own connection) and says success.
        for number in numbers:
            node = home[number]
            left = node.wait_cc(lambda e, m=number: e.get("CC-Action") == "leave"
                                and members.get(e.get("CC-Member-UUID")) == m, 10)
            check([e.get("CC-Result") for e in left] == ["success"],
                  f"{number} on {node.name}: leave events {[e.get('CC-Result') for e in left]}")
            hangup = node.events.wait_for(
                lambda e, m=number: e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"
                and e.get("Caller-Caller-ID-Number") == m
                and e.get("Caller-Destination-Number") == "rf_cc_nodes", 10)
            check(hangup and hangup[-1].get("variable_e2e_after") == "success",
                  f"{number}: cc_result {hangup[-1].get('variable_e2e_after') if hangup else None!r}")

        # --- the wire ---------------------------------------------------------------------
        node_of_port = {n.lab.sip_port: n.name for n in nodes}
        messages = (sorted(trace.take()) if trace else
                    sipp_trace_messages(agents_sipp.msg_path, agent_port))
        (work / "wire.txt").write_text("".join(" ".join(map(str, m)) + "\n" for m in messages))
        dialogs = agent_dialogs(messages, agent_port, node_of_port)
        if trace:
            # the fallback without root reads the same story from the agents' sipp
            from_sipp = agent_dialogs(sipp_trace_messages(agents_sipp.msg_path, agent_port),
                                      agent_port, node_of_port)
            check([(d["caller"], d["agent"], d["node"]) for d in from_sipp]
                  == [(d["caller"], d["agent"], d["node"]) for d in dialogs],
                  f"the agents' sipp trace tells another story: {from_sipp}")
        got = [(d["caller"], d["node"]) for d in dialogs]
        want = [(number, home[number].name) for number in numbers]
        check(got == want, f"agent INVITEs on the wire (caller, node that sent it): {got}, "
                           f"expected the join order, each from the caller's own node: {want}")
        check(all(d["answered"] and d["bye"] for d in dialogs),
              f"agent legs not answered and ended by the agent: {dialogs}")
        # An agent is never rung while it has a dialog, from either node.
        handovers, free_to_invite = 0, []
        for agent in NODES_AGENTS:
            legs = [d for d in dialogs if d["agent"] == agent]
            for before, after in zip(legs, legs[1:]):
                check(after["invite"] >= before["end"],
                      f"{agent}: INVITE from {after['node']} for {after['caller']} at "
                      f"{after['invite']:.3f} while its dialog from {before['node']} with "
                      f"{before['caller']} lasted until {before['end']:.3f}")
                if after["node"] != before["node"]:
                    handovers += 1
                    free_to_invite.append(after["invite"] - before["bye"])
        # With three agents and alternating callers, each agent passes from one node to the
        # other after every call (5 handovers in 8 calls); the check is that some happened.
        check(handovers >= 3, f"only {handovers} agent handovers between the nodes: "
                              f"{[(d['agent'], d['node']) for d in dialogs]}")
        # The other node learns at once (change feed), not on its 2 s safety tick.
        slow = [round(s, 3) for s in free_to_invite if s > 1.0]
        check(not slow, f"agent BYE on one node -> INVITE from the other took {slow} s")

        # --- the events ---------------------------------------------------------------------
        for node in nodes:
            names = {e.get("CC-Node") for e in node.cc_events()}
            check(names == {node.name}, f"{node.name}'s rustflow::cc events name nodes {names}")
        for number in numbers:
            for node in nodes:
                actions = [e.get("CC-Action") for e in node.cc_events()
                           if members.get(e.get("CC-Member-UUID")) == number]
                expect = ["join", "offer", "bridge", "leave"] if node is home[number] else []
                check(actions == expect, f"{number}: {node.name}'s events {actions}, expected {expect}")
        offers = sorted((e for n in nodes for e in n.cc_events("offer")), key=_event_time)
        from_events = [(members.get(e.get("CC-Member-UUID")), e.get("CC-Agent-ID"), e.get("CC-Node"))
                       for e in offers]
        from_wire = [(d["caller"], d["agent"], d["node"]) for d in dialogs]
        check(from_events == from_wire, f"offer events (caller, agent, node) {from_events}, "
                                        f"the wire {from_wire}")
        bridges = sorted((e for n in nodes for e in n.cc_events("bridge")), key=_event_time)
        bridged = [members.get(e.get("CC-Member-UUID")) for e in bridges]
        check(bridged == numbers, f"bridge events across both nodes, by time: {bridged}")
        # Both nodes read one store: the same snapshot, nobody waiting, every agent free.
        views = []
        for node in nodes:
            snap = json.loads(node.cc("snapshot json"))
            q = next(q for q in snap["queues"] if q["id"] == NODES_QUEUE)
            views.append((q["waiting"], q["last_hour"]["answered"],
                          sorted((a["id"], a["state"], a["calls_today"]) for a in snap["agents"])))
        check(views[0] == views[1], f"the nodes' snapshots differ: {views}")
        waiting, answered, agent_states = views[0]
        check(waiting == [] and answered == NODES_CALLERS, f"after the run: waiting {waiting}, "
                                                           f"answered {answered}")
        check(all(state == "waiting" for _, state, _ in agent_states), f"agents {agent_states}")

        gaps = [b["invite"] - a["invite"] for a, b in zip(dialogs, dialogs[1:])]
        print(f"    two nodes: offers {[(d['caller'][6:], d['agent'], d['node'][-1]) for d in dialogs]}, "
              f"INVITE gaps {min(gaps):.2f}-{max(gaps):.2f} s, {handovers} handovers, "
              f"agent BYE -> other node's INVITE {1000 * min(free_to_invite):.0f} / "
              f"{1000 * statistics.median(free_to_invite):.0f} / {1000 * max(free_to_invite):.0f} ms "
              f"(min/median/max), wire from {'sip_trace' if trace else 'sipp'}", flush=True)

    # --- flows from PostgreSQL ---------------------------------------------------------------
    def s_flow_push_two_nodes(self):
        """Both nodes read their flows from one table (`flows-source` = the URL): a push of a
        new version reaches both within a bounded time; calls in flight keep their version;
        a bad push is refused and changes nothing."""
        from run_e2e import check
        work = self.work / "flow_push"
        work.mkdir(exist_ok=True)
        with self.two_nodes({}, params=lambda url: {"flows-source": url}) as (pg, url, nodes):
            cli = build_cli()  # here: a run without PostgreSQL skips before building it
            def push(version, sleep_ms, text=None):
                path = work / version / f"{PUSH_FLOW}.json"
                path.parent.mkdir(exist_ok=True)
                path.write_text(text or push_flow(version, sleep_ms))
                return subprocess.run(
                    [str(cli), "flow", "push", str(path), "--source", url, "--by", "e2e"],
                    capture_output=True, text=True, timeout=60)

            def wait_version(old, timeout=10.0):
                """(version, seconds) per node once each runs a version of the flow other
                than `old`; None for a node that did not within `timeout`."""
                start, seen = time.monotonic(), {}
                while len(seen) < len(nodes) and time.monotonic() - start < timeout:
                    for node in nodes:
                        if node.name not in seen:
                            version = node.flow_version(PUSH_FLOW)
                            if version and version != old:
                                seen[node.name] = (version, time.monotonic() - start)
                    time.sleep(0.02)
                return [seen.get(node.name) for node in nodes]

            def call(node, number, hold_ms):
                c = Sipp(render("uac_answer.xml", work, uac_subs(caller=number, bye_timeout_ms=30000)),
                         work, target=f"127.0.0.1:{node.lab.sip_port}", service=f"rf_{PUSH_FLOW}",
                         timeout_s=60)
                self.sipps.append(c)
                return c

            for node in nodes:
                check(node.flow_version(PUSH_FLOW) is None, f"{node.name} has {PUSH_FLOW} before any push")
            out = push("v1", 4000)
            check(out.returncode == 0, f"push v1: exit {out.returncode}\n{out.stdout}{out.stderr}")
            first = wait_version(None)
            check(all(first), f"after push v1, the nodes run {first}")
            v1 = first[0][0]
            check(first[1][0] == v1, f"push v1: the nodes run {first}")

            # one call per node in v1 (it holds 4 s), up before the next push
            held = [call(node, f"held-{n}", 4000) for n, node in enumerate(nodes, 1)]
            for n, node in enumerate(nodes, 1):
                check(node.call_event("CHANNEL_ANSWER", f"held-{n}"), f"held-{n} not answered on {node.name}")
            pushed_at = time.monotonic()
            out = push("v2", 300)
            push_took = time.monotonic() - pushed_at
            check(out.returncode == 0, f"push v2: exit {out.returncode}\n{out.stdout}{out.stderr}")
            second = wait_version(v1)
            check(all(second), f"after push v2, the nodes run {second} (v1 was {v1})")
            v2 = second[0][0]
            check(second[1][0] == v2, f"push v2: the nodes run {second}")
            fresh = [call(node, f"fresh-{n}", 300) for n, node in enumerate(nodes, 1)]
            for c in held + fresh:
                check(c.wait(30) == 0, f"a caller's sipp failed\n{c.errors()}")
            for n, node in enumerate(nodes, 1):
                for number, version, text in ((f"held-{n}", v1, "v1"), (f"fresh-{n}", v2, "v2")):
                    e = node.call_event("CHANNEL_HANGUP_COMPLETE", number)
                    got = (e.get("variable_e2e_version"), e.get("variable_rustflow_flow_version")) if e else None
                    check(got == (text, version), f"{number} on {node.name} ran {got}, expected {(text, version)}")

            # a flow that does not compile: refused, nothing written, the nodes keep v2
            revision = flow_revision(cli, url)
            out = push("bad", 0, text='[{"answer": ""}, {"noSuchStep": 1}]')
            check(out.returncode != 0 and f"{PUSH_FLOW}.json" in out.stdout + out.stderr,
                  f"a bad push: exit {out.returncode}\n{out.stdout}{out.stderr}")
            check(flow_revision(cli, url) == revision, "the refused push changed the table's revision")
            for node in nodes:
                check(node.flow_version(PUSH_FLOW) == v2, f"{node.name} left v2 after a refused push")
        print(f"    flow push: v1 on both nodes {1000 * first[0][1]:.0f} / {1000 * first[1][1]:.0f} ms "
              f"after the push; v2 {1000 * second[0][1]:.0f} / {1000 * second[1][1]:.0f} ms after "
              f"`rustflow flow push` returned (it took {1000 * push_took:.0f} ms)", flush=True)


PUSH_FLOW = "e2e_push"


def push_flow(version, sleep_ms):
    """The pushed flow: says which version it is and holds the call `sleep_ms`."""
    return json.dumps([
        {"answer": ""},
        {"set": {"e2e_version": version}},
        {"sleep": sleep_ms},
        {"hangup": "NORMAL_CLEARING"},
    ], indent=1)


def build_cli():
    """The offline tool (`rustflow`), release, in the e2e target dir (as fslab.build_module)."""
    target_dir = fslab.REPO / "target" / "e2e"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    cmd = ["cargo", "build", "--release", "-p", "rustflow-cli"]
    print("build:", " ".join(cmd), f"(CARGO_TARGET_DIR={target_dir})", flush=True)
    subprocess.run(cmd, cwd=fslab.REPO, env=env, check=True)
    return target_dir / "release" / "rustflow"


def flow_revision(cli, url):
    """`rustflow flow list` as text: what a refused push must leave unchanged."""
    out = subprocess.run([str(cli), "flow", "list", "--source", url], capture_output=True,
                         text=True, timeout=60)
    return out.returncode, out.stdout
