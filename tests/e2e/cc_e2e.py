"""The contact-centre scenarios of the e2e suite: joinQueue in a real FreeSWITCH, with sipp
agents registered as directory users of the lab (sip.Agent) and callers whose RTP port is an
RtpSink, so what FreeSWITCH plays them (hold audio, a timer's prompt, the agent) is checked on
the wire. Mixed into run_e2e.Suite; the flows are merged into the suite's.

Each scenario provisions its own queue (`rustflow cc import`, over the event socket), so any of
them runs alone (`-k NAME`).
"""

import json
import time

from fslab import EventCollector
from sip import RtpSink, uac_subs

HOLD_HZ = 440
PROMPT_HZ = 1000
HOLD = {"type": "tone", "name": f"%(1000,0,{HOLD_HZ});loops=-1"}

CC_SCENARIOS = [
    "cc_three_callers_in_order",
    "cc_abandon_touches_no_agent",
    "cc_missed_agent_then_next",
    "cc_caller_leaves_while_agent_rings",
    "cc_timer_position_ewt",
    "cc_last_bridged",
]


def cc_flows():
    """The flows of the contact-centre scenarios, by id (JSON text)."""
    def queue_flow(queue, **join):
        return [
            {"answer": ""},
            {"set": {"cc_export_vars": "e2e_tag", "e2e_tag": "from-${caller_id_number}"}},
            {"joinQueue": {"queue": {"id": queue}, "ringtone": HOLD, **join}},
            {"set": {"e2e_after": "${cc_result}"}},
            {"hangup": "NORMAL_CLEARING"},
        ]

    f = {
        "cc_order": queue_flow("e2e_order"),
        "cc_abandon": queue_flow("e2e_abandon"),
        "cc_missed": queue_flow("e2e_missed"),
        "cc_leaves": queue_flow("e2e_leaves"),
        "cc_lastq": queue_flow("e2e_last"),
        "cc_timer": queue_flow("e2e_timer", timers=[{"interval": 2, "tries": 2, "actions": [
            {"ccPosition": {"set": "e2e_pos"}},
            {"ewt": {"setVar": "e2e_ewt"}},
            {"playback": {"files": [{"type": "tone", "name": f"%(300,0,{PROMPT_HZ})"}]}},
        ]}]),
        "cc_last": [
            {"answer": ""},
            {"lastBridged": {"number": "cc-last-served", "hours": 1,
                             "set": {"e2e_last_agent": "agent_id", "e2e_last_ext": "extension",
                                     "e2e_last_queue": "queue_id"}}},
            {"hangup": "NORMAL_CLEARING"},
        ],
    }
    return {k: json.dumps(v) for k, v in f.items()}


def setup(queue, agents, **queue_fields):
    """An import file: one queue and its agents (id → extension), tiers in the given order."""
    return {
        "queues": [{"id": queue, "name": queue, "ring_timeout_secs": 5, "max_wait_secs": 60,
                    "no_answer_delay_secs": 30, **queue_fields}],
        "agents": [{"id": a, "name": f"Agent {a}", "extension": ext} for a, ext in agents],
        "tiers": [{"queue": queue, "agent": a, "level": 1, "position": n + 1}
                  for n, (a, _) in enumerate(agents)],
    }


class QueueScenarios:
    """Mixed into run_e2e.Suite (self.lab, self.work, self.caller, self.agent, self.var…)."""

    # --- helpers ---------------------------------------------------------------------------
    def cc(self, line):
        out = self.lab.api(f"rustflow cc {line}")
        self.fail_unless(not out.startswith("-ERR"), f"rustflow cc {line}: {out}")
        return out

    def cc_import(self, name, data, online=()):
        path = self.work / f"{name}.json"
        path.write_text(json.dumps(data))
        self.cc(f"import {path}")
        for agent in online:
            self.cc(f"agent status {agent} online")

    def cc_events(self):
        if not hasattr(self, "_cc_events"):
            self._cc_events = EventCollector(self.lab.esl_port, "CUSTOM rustflow::cc")
        return self._cc_events

    def cc_of(self, action, member=None):
        return [e for e in self.cc_events().events
                if e.get("CC-Action") == action and (member is None or e.get("CC-Member-UUID") == member)]

    def queue_caller(self, flow, number, sink=None, bye_timeout_ms=30000):
        subs = uac_subs(caller=number, bye_timeout_ms=bye_timeout_ms,
                        media_port=sink.port if sink else "[media_port]")
        return self.caller("uac_answer.xml", f"rf_{flow}", subs)

    def hangup_of(self, number, timeout=20):
        # Only the hangup: the collector also keeps CHANNEL_BRIDGE, which comes before the flow
        # has run the steps after the queue.
        found = self.events.wait_for(
            lambda e: e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"
            and e.get("Caller-Caller-ID-Number") == number
            and e.get("Caller-Destination-Number", "").startswith("rf_"), timeout)
        self.fail_unless(found, f"no hangup event for caller {number}")
        return found[-1]

    def fail_unless(self, cond, message):
        from run_e2e import check
        check(cond, message)

    # --- scenarios -------------------------------------------------------------------------
    def s_cc_three_callers_in_order(self):
        """Three callers queue for one agent: each hears the hold audio (RTP arrives) and they
        are bridged in the order they joined; the events follow on the event socket."""
        self.cc_events()
        self.leaves_before = len(self.cc_of("leave"))
        self.cc_import("order", setup("e2e_order", [("ord1", "1001")]), online=["ord1"])
        agent = self.agent("1001", talk_ms=1500, calls=3)
        sinks = [RtpSink() for _ in range(3)]
        try:
            callers = []
            for n, sink in enumerate(sinks, 1):
                callers.append(self.queue_caller("cc_order", f"cc-caller-{n}", sink))
                time.sleep(0.4)
            for n, c in enumerate(callers, 1):
                self.expect_ok(c, f"caller {n}")
            rc = agent.wait(30)
            self.fail_unless(rc == 0, f"agent: sipp exited {rc}\n{agent.problems()}")
            calls = agent.calls()
            order = [next((f"cc-caller-{n}" for n in (1, 2, 3) if f"cc-caller-{n}@" in c.from_), c.from_)
                     for c in calls]
            self.fail_unless(order == ["cc-caller-1", "cc-caller-2", "cc-caller-3"],
                             f"the agent was offered the callers in the order {order}")
            self.fail_unless(all(c.outcome == "answered" for c in calls),
                             f"agent call outcomes: {[c.outcome for c in calls]}")
            for n, (sink, call) in enumerate(zip(sinks, calls), 1):
                e = self.hangup_of(f"cc-caller-{n}")
                self.fail_unless(self.var(e, "e2e_after") == "success",
                                 f"caller {n}: cc_result {self.var(e, 'e2e_after')!r}")
                if n == 1:
                    continue  # the agent was free: caller 1 is offered the moment it joins
                held = sink.received(until=call.offered_at)
                self.fail_unless(len(held) >= 50, f"caller {n}: {len(held)} RTP packets before its offer "
                                                  "(it waited at least 1 s)")
                share = sink.tone_share(HOLD_HZ, until=call.offered_at)
                self.fail_unless(share > 0.5, f"caller {n}: the audio before the offer is not the hold tone "
                                              f"({share:.2f} of its energy at {HOLD_HZ} Hz)")
            # The events come on their own connection: wait until each caller's leave is in.
            self.cc_events().wait_for(lambda e: len(self.cc_of("leave")) >= 3 + self.leaves_before, 10)
            members = [e.get("CC-Member-UUID") for e in self.cc_of("join")][-3:]
            bridged = [e.get("CC-Member-UUID") for e in self.cc_of("bridge")][-3:]
            self.fail_unless(members == bridged, f"joined {members}, bridged {bridged}")
            left = [(e.get("CC-Member-UUID"), e.get("CC-Result")) for e in self.cc_of("leave")][-3:]
            self.fail_unless(left == [(m, "success") for m in members], f"leave events {left}")
            def agent_legs():
                return [e for e in self.events.events if e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"
                        and e.get("variable_cc_side") == "agent"
                        and e.get("variable_cc_member_session_uuid") in members]
            deadline = time.monotonic() + 10
            while len(agent_legs()) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            legs = agent_legs()
            carried = sorted(self.var(e, "e2e_tag") or "" for e in legs)
            self.fail_unless(carried == [f"from-cc-caller-{n}" for n in (1, 2, 3)],
                             f"the agent legs carried e2e_tag (cc_export_vars) {carried}")
            offers = [e for e in self.cc_of("offer") if e.get("CC-Member-UUID") in members]
            self.fail_unless([e.get("CC-Agent-ID") for e in offers] == ["ord1"] * 3,
                             f"offer events {[(e.get('CC-Agent-ID'), e.get('CC-Member-UUID')) for e in offers]}")
        finally:
            for sink in sinks:
                sink.close()

    def s_cc_abandon_touches_no_agent(self):
        """A caller who hangs up while waiting is `abandoned`, and no agent is rung."""
        self.cc_events()
        self.cc_import("abandon", setup("e2e_abandon", [("ab1", "1002")]))
        self.cc("agent status ab1 offline")
        agent = self.agent("1002", calls=1)
        c = self.caller("uac_hold.xml", "rf_cc_abandon", {"HOLD_MS": 2500, "CALLER": "cc-abandon"})
        self.expect_ok(c, "abandoning caller")
        e = self.hangup_of("cc-abandon")
        member = e.get("Unique-ID")
        found = self.cc_events().wait_for(
            lambda ev: ev.get("CC-Action") == "leave" and ev.get("CC-Member-UUID") == member, 10)
        self.fail_unless(found and found[-1].get("CC-Result") == "abandoned",
                         f"leave events of the caller: {[ev.get('CC-Result') for ev in found]}")
        self.fail_unless(not self.cc_of("offer", member), "an agent was offered the abandoning caller")
        self.fail_unless(agent.calls() == [], f"agent 1002 was called: {agent.calls()}")
        snapshot = json.loads(self.cc("snapshot json"))
        attempts = [a for q in snapshot["queues"] if q["id"] == "e2e_abandon" for a in q["waiting"]]
        self.fail_unless(attempts == [], f"the queue still lists {attempts}")

    def s_cc_missed_agent_then_next(self):
        """An agent who does not answer is skipped and marked missed; the next one gets the call."""
        self.cc_events()
        self.cc_import("missed", setup("e2e_missed", [("ms1", "1003"), ("ms2", "1004")],
                                       strategy="top-down"), online=["ms1", "ms2"])
        silent = self.agent("1003", mode="noanswer", calls=1)
        answering = self.agent("1004", talk_ms=1000, calls=1)
        c = self.queue_caller("cc_missed", "cc-missed")
        self.expect_ok(c, "caller")
        e = self.hangup_of("cc-missed")
        self.fail_unless(self.var(e, "e2e_after") == "success", f"cc_result {self.var(e, 'e2e_after')!r}")
        member = e.get("Unique-ID")
        # Events come on their own connection, in order: once the leave is in, so is the rest.
        self.cc_events().wait_for(
            lambda ev: ev.get("CC-Action") == "leave" and ev.get("CC-Member-UUID") == member, 10)
        missed = self.cc_of("missed", member)
        self.fail_unless([(m.get("CC-Agent-ID"), m.get("CC-Reason")) for m in missed] == [("ms1", "no_answer")],
                         f"missed events {[(m.get('CC-Agent-ID'), m.get('CC-Reason')) for m in missed]}")
        bridged = self.cc_of("bridge", member)
        self.fail_unless([b.get("CC-Agent-ID") for b in bridged] == ["ms2"], "not bridged to ms2")
        first = silent.calls()
        self.fail_unless(len(first) == 1 and first[0].outcome == "cancelled",
                         f"the silent agent's calls: {[c.outcome for c in first]}")
        second = answering.calls()
        self.fail_unless(len(second) == 1 and second[0].outcome == "answered",
                         f"the answering agent's calls: {[c.outcome for c in second]}")
        self.fail_unless(second[0].offered_at >= first[0].ended_at - 0.05,
                         "the second agent rang before the first one stopped ringing")
        state = {a["id"]: a for a in json.loads(self.cc("snapshot json"))["agents"]}
        self.fail_unless(state["ms1"]["state"] == "missed", f"ms1 is {state['ms1']}")

    def s_cc_caller_leaves_while_agent_rings(self):
        """A caller who hangs up while its agent rings: the agent's phone stops ringing at once
        (CANCEL), the attempt is `abandoned`, and the agent is free again, not missed."""
        self.cc_events()
        self.cc_import("leaves", setup("e2e_leaves", [("lv1", "1006")], ring_timeout_secs=20),
                       online=["lv1"])
        agent = self.agent("1006", mode="noanswer", calls=1)
        c = self.caller("uac_hold.xml", "rf_cc_leaves", {"HOLD_MS": 2500, "CALLER": "cc-leaves"})
        self.expect_ok(c, "caller")
        hung_up = time.time()
        e = self.hangup_of("cc-leaves")
        member = e.get("Unique-ID")
        found = self.cc_events().wait_for(
            lambda ev: ev.get("CC-Action") == "leave" and ev.get("CC-Member-UUID") == member, 10)
        self.fail_unless(found and found[-1].get("CC-Result") == "abandoned",
                         f"leave events of the caller: {[ev.get('CC-Result') for ev in found]}")
        rc = agent.wait(10)
        self.fail_unless(rc == 0, f"agent: sipp exited {rc}\n{agent.problems()}")
        (call,) = agent.calls()
        self.fail_unless(call.outcome == "cancelled", f"the agent's call ended {call.outcome}")
        self.fail_unless(call.ended_at - hung_up < 1.0,
                         f"the agent rang on {call.ended_at - hung_up:.2f} s after the caller left")
        self.fail_unless(not self.cc_of("missed", member), "the agent was marked missed")
        state = {a["id"]: a for a in json.loads(self.cc("snapshot json"))["agents"]}
        self.fail_unless(state["lv1"]["state"] == "waiting", f"lv1 is {state['lv1']}")

    def s_cc_timer_position_ewt(self):
        """With no agent online the caller waits; the timer plays its prompt 2 s after the join
        and again 2 s after that ended, reading ccPosition and ewt; max wait ends it as timeout."""
        self.cc_import("timer", setup("e2e_timer", [("tm1", "1005")], max_wait_secs=7))
        self.cc("agent status tm1 offline")
        sink = RtpSink()
        try:
            c = self.queue_caller("cc_timer", "cc-timer", sink)
            self.expect_ok(c, "caller")
            e = self.hangup_of("cc-timer")
            self.fail_unless(self.var(e, "e2e_after") == "timeout", f"cc_result {self.var(e, 'e2e_after')!r}")
            self.fail_unless(self.var(e, "e2e_pos") == "1", f"ccPosition {self.var(e, 'e2e_pos')!r}")
            ewt = self.var(e, "e2e_ewt")
            self.fail_unless(ewt is not None and (ewt == "unknown" or float(ewt) >= 0), f"ewt {ewt!r}")
            packets = sorted(sink.packets)
            self.fail_unless(packets, "no RTP reached the caller")
            start = packets[0][0]
            prompts = self.tone_starts(sink, PROMPT_HZ, start)
            self.fail_unless(len(prompts) == 2, f"prompt starts {prompts}")
            first, second = (p - start for p in prompts)
            self.fail_unless(1.8 <= first <= 2.4, f"the first prompt started {first:.2f} s after the join")
            self.fail_unless(4.1 <= second <= 4.8, f"the second prompt started {second:.2f} s after the join")
        finally:
            sink.close()

    @staticmethod
    def tone_starts(sink, freq, start, step=0.1):
        """Wall times where `freq` starts dominating the caller's audio (100 ms windows)."""
        starts, inside = [], False
        t, end = start, max(at for at, _, _ in sink.packets)
        while t < end:
            here = sink.tone_share(freq, t, t + step) > 0.5
            if here and not inside:
                starts.append(t)
            inside, t = here, t + step
        return starts

    def s_cc_last_bridged(self):
        """After a caller was served, lastBridged finds its agent, queue and what it dialled."""
        self.cc_import("last", setup("e2e_last", [("ls1", "1007")]), online=["ls1"])
        agent = self.agent("1007", talk_ms=500, calls=1)
        self.expect_ok(self.queue_caller("cc_lastq", "cc-last-served"), "served caller")
        rc = agent.wait(15)
        self.fail_unless(rc == 0, f"agent: sipp exited {rc}\n{agent.problems()}")
        c = self.caller("uac_answer.xml", "rf_cc_last", uac_subs(caller="cc-last"))
        self.expect_ok(c, "caller")
        e = self.hangup_of("cc-last")
        self.no_flow_error(e)
        got = (self.var(e, "e2e_last_agent"), self.var(e, "e2e_last_ext"), self.var(e, "e2e_last_queue"))
        # `extension` is our side of the call: what the caller dialled (Part C).
        self.fail_unless(got == ("ls1", "rf_cc_lastq", "e2e_last"), f"lastBridged found {got}")
