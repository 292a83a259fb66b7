"""The outbound scenarios of the e2e suite: callbacks and campaigns in a real FreeSWITCH. Agents
and "customers" are sipp phones registered as directory users of the lab (sip.Agent: a customer
answers, is busy or never answers); a member's number is its customer's `user/EXT@e2e.lab`.
Mixed into run_e2e.Suite; the flows are merged into the suite's.

Each scenario provisions its own queue (`rustflow cc import`, `rustflow cc member add`, over the
event socket), so any of them runs alone (`-k NAME`).
"""

import json
import time

from fslab import LAB_DOMAIN
from sip import uac_subs

OUTBOUND_SCENARIOS = [
    "cc_callback_dialled_and_bridged",
    "cc_outbound_busy_retried_after_wait",
    "cc_outbound_no_answer_abandoned_by_after_flow",
    "cc_preview_agent_accepts_before_dial",
]


def outbound_flows():
    """The flows of the outbound scenarios, by id (JSON text)."""
    f = {
        # An inbound call asks for a callback, then hangs up.
        "cc_callback_req": [
            {"answer": ""},
            {"callbackQueue": {"queue": {"id": "e2e_cb"}, "name": "E2E caller",
                               "variables": {"asked_by": "${caller_id_number}"},
                               "communication": {"destination": f"user/1025@{LAB_DOMAIN}"}}},
            {"hangup": "NORMAL_CLEARING"},
        ],
        # The after-attempt flow of e2e_na: an unanswered number is given up at once.
        "cc_after_na": [
            {"if": {"expression": "${cc_result} == 'no_answer'",
                    "then": [{"abandoned": {"status": "unreachable", "maxAttempts": 1,
                                            "description": "${call_cause}"}}]}},
            {"success": {}},
        ],
    }
    return {k: json.dumps(v) for k, v in f.items()}


def outbound_setup(queue, kind, agent, ext, **fields):
    """An import file: one outbound queue of `kind` with one agent."""
    return {
        "queues": [{"id": queue, "name": queue, "type": kind, "ring_timeout_secs": 10,
                    "dial_timeout_secs": 10, "no_answer_delay_secs": 30, **fields}],
        "agents": [{"id": agent, "name": f"Agent {agent}", "extension": ext}],
        "tiers": [{"queue": queue, "agent": agent, "level": 1, "position": 1}],
    }


class OutboundScenarios:
    """Mixed into run_e2e.Suite next to QueueScenarios (cc, cc_import, cc_events…)."""

    def outbound_import(self, name, setup, online):
        """Imports a scenario's setup over the last one: the members of earlier scenarios go
        first (a queue that still has members is not deleted by an import)."""
        for member in json.loads(self.cc("member list --all json")):
            self.cc(f"member del {member['id']}")
        self.cc_import(name, setup, online=online)

    def members_of(self, queue):
        return json.loads(self.cc(f"member list {queue} --all json"))

    def finished_member(self, queue, timeout=40):
        """Waits until the queue's (only) member is finished; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            members = self.members_of(queue)
            if members and members[0].get("stop_cause"):
                return members[0]
            time.sleep(0.25)
        self.fail_unless(False, f"queue {queue}: no member finished within {timeout} s: "
                                f"{self.members_of(queue)}")

    def outbound_events(self, action, queue):
        return [e for e in self.cc_events().events
                if e.get("CC-Action") == action and e.get("CC-Queue-ID") == queue]

    # --- scenarios -------------------------------------------------------------------------
    def s_cc_callback_dialled_and_bridged(self):
        """An inbound call asks for a callback (callbackQueue) and hangs up; the dialer offers
        the member to the free agent first (callback queue: agent first), and once the agent
        answers calls the customer's number and bridges them; the member is finished."""
        self.cc_events()
        self.outbound_import("cb", outbound_setup("e2e_cb", "callback", "cb1", "1021"),
                             online=["cb1"])
        agent = self.agent("1021", talk_ms=None, calls=1)
        customer = self.agent("1025", answer_after_ms=500, talk_ms=1500, calls=1)
        c = self.caller("uac_answer.xml", "rf_cc_callback_req", uac_subs(caller="cc-cb-caller"))
        self.expect_ok(c, "the caller asking for a callback")
        member = self.finished_member("e2e_cb")
        self.fail_unless(member["stop_cause"] == "success" and member["attempts"] == 1,
                         f"member {member}")
        self.fail_unless(member.get("variables", {}).get("asked_by") == "cc-cb-caller",
                         f"member variables {member.get('variables')}")
        self.fail_unless(customer.wait(20) == 0, f"customer:\n{customer.problems()}")
        self.fail_unless(agent.wait(20) == 0, f"agent:\n{agent.problems()}")
        (a,) = agent.calls()
        (m,) = customer.calls()
        self.fail_unless(a.outcome == "answered" and m.outcome == "answered",
                         f"agent {a.outcome}, customer {m.outcome}")
        self.fail_unless(a.answered_at <= m.offered_at,
                         f"the customer was called {a.answered_at - m.offered_at:.2f} s before the agent answered")
        self.fail_unless(m.ended_by == "agent" and a.ended_by == "caller",
                         f"the customer hung up ({m.ended_by}) and FreeSWITCH ended the agent's leg ({a.ended_by})")
        found = self.cc_events().wait_for(lambda e: e.get("CC-Action") == "attempt-result"
                                          and e.get("CC-Member-ID") == str(member["id"]), 10)
        self.fail_unless(found and found[-1].get("CC-Result") == "success",
                         f"attempt-result events {[e.get('CC-Result') for e in found]}")
        state = {x["id"]: x for x in json.loads(self.cc("snapshot json"))["agents"]}
        self.fail_unless(state["cb1"]["state"] in ("waiting", "wrap_time"), f"cb1 is {state['cb1']}")

    def s_cc_outbound_busy_retried_after_wait(self):
        """A progressive campaign: the customer is busy; the member is dialled again once the
        queue's wait between retries is over, answers and is bridged to the agent."""
        self.cc_events()
        wait_s = 4
        self.outbound_import("busy", outbound_setup("e2e_busy", "progressive", "bz1", "1022",
                                              wait_between_retries_secs=wait_s, max_attempts=3),
                       online=["bz1"])
        agent = self.agent("1022", talk_ms=None, calls=1)
        busy = self.agent("1026", mode="busy", calls=1)
        self.cc(f"member add e2e_busy user/1026@{LAB_DOMAIN} name=Busy-then-free")
        self.fail_unless(busy.wait(20) == 0, f"busy customer:\n{busy.problems()}")
        (first,) = busy.calls()
        self.fail_unless(first.outcome == "busy", f"first call {first.outcome}")
        busy.stop(unregister=False)
        free = self.agent("1026", answer_after_ms=300, talk_ms=1500, calls=1)
        member = self.finished_member("e2e_busy")
        self.fail_unless(member["stop_cause"] == "success" and member["attempts"] == 2,
                         f"member {member}")
        self.fail_unless(free.wait(20) == 0, f"customer:\n{free.problems()}")
        (second,) = free.calls()
        gap = second.offered_at - first.ended_at
        self.fail_unless(wait_s - 0.3 <= gap <= wait_s + 3.5,
                         f"dialled again {gap:.2f} s after the busy, the queue waits {wait_s} s")
        results = [e.get("CC-Result") for e in self.outbound_events("dial-result", "e2e_busy")]
        self.fail_unless(results == ["busy", "answered"], f"dial results {results}")
        self.fail_unless(agent.wait(20) == 0, f"agent:\n{agent.problems()}")

    def s_cc_outbound_no_answer_abandoned_by_after_flow(self):
        """A customer who never answers: the attempt ends `no_answer` at the dial timeout, and
        the queue's after-attempt flow decides `abandoned` with maxAttempts 1: the member is
        finished with the flow's status, and the agent was never rung."""
        self.cc_events()
        self.outbound_import("na", outbound_setup("e2e_na", "progressive", "na1", "1023", dial_timeout_secs=5,
                                            max_attempts=5, after_attempt_flow="cc_after_na"),
                       online=["na1"])
        agent = self.agent("1023", calls=1)
        silent = self.agent("1027", mode="noanswer", calls=1)
        self.cc(f"member add e2e_na user/1027@{LAB_DOMAIN} name=Never-answers")
        member = self.finished_member("e2e_na")
        self.fail_unless(member["stop_cause"] == "unreachable" and member["attempts"] == 1,
                         f"member {member}")
        self.fail_unless(silent.wait(10) == 0, f"customer:\n{silent.problems()}")
        (call,) = silent.calls()
        rang = call.ended_at - call.offered_at
        self.fail_unless(call.outcome == "cancelled" and 3.8 <= rang <= 7,
                         f"the customer's phone: {call.outcome} after {rang:.2f} s (dial timeout 5 s)")
        self.fail_unless(agent.calls() == [], f"the agent was rung: {agent.calls()}")
        found = self.outbound_events("attempt-result", "e2e_na")
        self.fail_unless([e.get("CC-Result") for e in found] == ["unreachable"],
                         f"attempt-result events {[e.get('CC-Result') for e in found]}")

    def s_cc_preview_agent_accepts_before_dial(self):
        """A preview campaign: the agent's phone rings first, showing the member; only once the
        agent accepts (answers) is the customer dialled, and they are bridged."""
        self.cc_events()
        self.outbound_import("pv", outbound_setup("e2e_pv", "preview", "pv1", "1024"), online=["pv1"])
        agent = self.agent("1024", answer_after_ms=1500, talk_ms=None, calls=1)
        customer = self.agent("1028", answer_after_ms=300, talk_ms=1200, calls=1)
        self.cc(f"member add e2e_pv user/1028@{LAB_DOMAIN} name=Preview-Member")
        member = self.finished_member("e2e_pv")
        self.fail_unless(member["stop_cause"] == "success", f"member {member}")
        self.fail_unless(agent.wait(20) == 0, f"agent:\n{agent.problems()}")
        self.fail_unless(customer.wait(20) == 0, f"customer:\n{customer.problems()}")
        (a,) = agent.calls()
        (m,) = customer.calls()
        self.fail_unless("Preview-Member" in a.from_ and "1028" in a.from_,
                         f"the agent's phone showed {a.from_!r}, not the member")
        self.fail_unless(a.answered_at <= m.offered_at,
                         f"the customer was dialled {a.answered_at - m.offered_at:.2f} s before the agent accepted")
        self.fail_unless(m.offered_at - a.answered_at < 2.0,
                         f"the customer was dialled {m.offered_at - a.answered_at:.2f} s after the agent accepted")
