#!/usr/bin/env python3
"""mod_rustflow end-to-end suite: real FreeSWITCH, real SIP (sipp), real media.

    make e2e                       (or: python3 tests/e2e/run_e2e.py [-k NAME] [--keep])

Finds FreeSWITCH through FREESWITCH_PREFIX or `freeswitch` on PATH; without one it prints one
SKIP line and exits 0. Builds mod_rustflow (release, --features test-hooks) against that
FreeSWITCH's headers, starts a private FreeSWITCH in a temp dir on free loopback ports, runs
every scenario, stops FreeSWITCH, and exits 1 if any scenario failed. The FreeSWITCH log and
sipp traces are kept (path printed) when something fails.

Results are checked from SIP (sipp fails a call on any unexpected message, wrong final code or
header), from channel variables in CHANNEL_HANGUP_COMPLETE events read over the event socket,
and from files on disk.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fslab  # noqa: E402
from fslab import EventCollector, Lab  # noqa: E402
from sip import (Agent, RtpSink, Sipp, dtmf_pcap, offers_in_order, render, tone_pcap,  # noqa: E402
                 uac_subs)
from cc_e2e import CC_SCENARIOS, QueueScenarios, cc_flows  # noqa: E402
from cc_nodes_e2e import NODES_SCENARIOS, NodeScenarios  # noqa: E402
from cc_outbound_e2e import OUTBOUND_SCENARIOS, OutboundScenarios, outbound_flows  # noqa: E402

HERE = Path(__file__).resolve().parent

DIALPLAN = """
      <extension name="rustflow-flows">
        <condition field="destination_number" expression="^rf_([A-Za-z0-9_.-]+)$">
          <action application="rustflow" data="$1"/>
        </condition>
      </extension>
"""


def tone(ms, freq=440):
    return {"type": "tone", "name": f"%({ms},0,{freq})"}


# Hostile values for `bridge`, each through the real originate (scenario
# hostile_originate_no_extra_leg). `leg` goes into the endpoint's `parameters` (a `[…]` block of
# the dial string, escaped by src/dial.rs), `global` into the bridge's `parameters` (sent beside
# the dial string, never parsed), `uri` replaces the callee's URI when set. `refused` is the part
# of the error the builder must give instead of dialling; `None` means the call must reach the
# callee with both values verbatim. `{EVIL}` is a second callee: a leg to it is an extra leg.
# A flow cannot write `${` (templates expand it), so `$` comes from a variable: `{DOLLAR}`.
HOSTILE_CASES = [
    {"leg": "a,b,sofia/lab/evil@{EVIL}", "global": "a,b,sofia/lab/evil@{EVIL}", "refused": None},
    {"leg": "x|sofia/lab/evil@{EVIL}", "global": "x|sofia/lab/evil@{EVIL}", "refused": None},
    {"leg": "{origination_uuid=e2e}{x=y}", "global": "{x=y}<a=b>", "refused": None},
    {"leg": "^^;a=1;b=2", "global": "^^|a=1|b=2", "refused": None},
    {"leg": "two  inner spaces, = and a=b=c", "global": "  x  ", "refused": None},
    {"leg": "\"double\" quotes", "global": "\"double\" 'single' quotes", "refused": None},
    {"leg": "unicode ünï 日本 ☎", "global": "unicode ünï 日本 ☎", "refused": None},
    {"leg": "$ {system echo e2e} $x {DOLLAR}", "global": "$ {system echo e2e} $x {DOLLAR}", "refused": None},
    {"leg": "", "global": "x]sofia/lab/evil@{EVIL}:_:sofia/lab/evil@{EVIL}\nline 'q' \\ [", "refused": None},
    {"leg": "x]sofia/lab/evil@{EVIL}", "global": "g", "refused": "cannot carry safely"},
    {"leg": "[x", "global": "g", "refused": "cannot carry safely"},
    {"leg": "it's", "global": "g", "refused": "cannot carry safely"},
    {"leg": "back\\slash", "global": "g", "refused": "cannot carry safely"},
    {"leg": "a:_:sofia/lab/evil@{EVIL}", "global": "g", "refused": "would split the dial string"},
    {"leg": "line\nbreak", "global": "g", "refused": "cannot carry safely"},
    {"leg": "trailing ", "global": "g", "refused": "ends with a space"},
    # originate trims the value (seen on FreeSWITCH 1.10.12)
    {"leg": "  leading", "global": "g", "refused": "begins with a space"},
    # originate will not set a value holding `${` ("Invalid data … contains a variable")
    {"leg": "{DOLLAR}{system echo e2e}", "global": "g", "refused": "refuses to set on the new leg"},
    {"leg": "v", "global": "{DOLLAR}{caller_id_number}", "refused": "bridge parameters: parameter e2e_hg"},
    {"leg": "v", "global": "g", "uri": "sip:callee@{CALLEE},sofia/lab/evil@{EVIL}", "refused": "sip uri"},
    {"leg": "v", "global": "g", "uri": "sip:callee@{CALLEE}|sofia/lab/evil@{EVIL}", "refused": "sip uri"},
    {"leg": "v", "global": "g", "uri": "sip:callee@{CALLEE}:_:sofia/lab/evil@{EVIL}", "refused": "sip uri"},
    {"leg": "v", "global": "g", "uri": "[x=y]sip:callee@{CALLEE}", "refused": "sip uri"},
    {"leg": "v", "global": "g", "uri": "{x=y}sip:callee@{CALLEE}", "refused": "sip uri"},
    {"leg": "v", "global": "g", "uri": "sip:callee@{CALLEE} evil", "refused": "sip uri"},
]


def hostile_value(text, callee_ports, dollar):
    """A case's text with its placeholders filled in (`dollar`: "$" or the flow's `${e2e_dollar}`)."""
    return (text.replace("{EVIL}", f"127.0.0.1:{callee_ports['hostile_evil']}")
            .replace("{CALLEE}", f"127.0.0.1:{callee_ports['hostile']}")
            .replace("{DOLLAR}", dollar))


def hostile_flow(case, callee_ports):
    endpoint = {"type": "sip", "profile": "lab",
                "uri": hostile_value(case.get("uri", "sip:callee@{CALLEE}"), callee_ports, "")}
    if case["leg"]:
        endpoint["parameters"] = {"e2e_hv": hostile_value(case["leg"], callee_ports, "${e2e_dollar}")}
    return [
        {"set": {"e2e_dollar": "$"}},
        {"bridge": {"parameters": {"e2e_hg": hostile_value(case["global"], callee_ports, "${e2e_dollar}")},
                    "endpoints": [endpoint]}},
        {"set": {"e2e_after_bridge": "${rustflow_bridge_result}"}},
        {"hangup": "USER_BUSY"},
    ]


# What the caller of flow agent_answer hears: this ringback while agent 1001 rings, then the
# agent's own tone once bridged (told apart by frequency, sip.RtpSink.tone_share).
AGENT_RINGBACK_HZ = 425
AGENT_TONE_HZ = 700


def flows(callee_ports):
    """The flows of the suite, by id. Bridge targets point at the callee sipps' ports."""
    def sip(port):
        return {"type": "sip", "uri": f"sip:callee@127.0.0.1:{port}", "profile": "lab"}

    after_bridge = [
        {"set": {"e2e_after_bridge": "${rustflow_bridge_result}"}},
        {"switch": {"variable": "${rustflow_bridge_result}", "case": {
            "busy": [{"hangup": "USER_BUSY"}],
            "no_answer": [{"hangup": "NO_ANSWER"}],
            "default": [{"hangup": "NORMAL_CLEARING"}],
        }}},
    ]
    f = {
        "tone": [
            {"answer": ""},
            {"set": {"e2e_mark": "tone played"}},
            {"playback": {"files": [tone(1000)]}},
            {"hangup": "NORMAL_CLEARING"},
        ],
        "ivr": [
            {"answer": ""},
            {"playback": {"files": [tone(4000)],
                          "getDigits": {"setVar": "choice", "min": 1, "max": 1, "tries": 1,
                                        "timeout": 4000}}},
            {"switch": {"variable": "${choice}", "case": {
                "5": [{"playback": {"files": [tone(200, 1000)]}}, {"hangup": "CALL_REJECTED"}],
                "default": [{"hangup": "NORMAL_TEMPORARY_FAILURE"}],
            }}},
        ],
        "busy": [{"hangup": "USER_BUSY"}],
        "rejected": [{"hangup": "CALL_REJECTED"}],
        "unallocated": [{"hangup": "UNALLOCATED_NUMBER"}],
        "redirect": [{"sipRedirect": ["sip:elsewhere@127.0.0.1:5999"]}],
        "bridge_answer": [{"bridge": {"endpoints": [sip(callee_ports["answer"])]}}] + after_bridge,
        "bridge_busy": [{"bridge": {"endpoints": [sip(callee_ports["busy"])]}}] + after_bridge,
        "bridge_noanswer": [{"bridge": {"parameters": {"call_timeout": "3"},
                                        "endpoints": [sip(callee_ports["noanswer"])]}}] + after_bridge,
        "bridge_failover": [{"bridge": {"strategy": "failover",
                                        "endpoints": [sip(callee_ports["fo_busy"]),
                                                      sip(callee_ports["fo_answer"])]}}] + after_bridge,
        "record": [
            {"answer": ""},
            {"recordFile": {"name": "e2e_rec", "type": "wav", "maxSec": 2,
                            "silenceThresh": 200, "silenceHits": 10}},
            {"set": {"e2e_recorded": "${rustflow_record_file}"}},
            {"hangup": "NORMAL_CLEARING"},
        ],
        "conf": [{"answer": ""}, {"conference": {"name": "e2econf", "profile": "default"}}],
        "park_in": [{"answer": ""}, {"park": {"name": "lot1", "lot": "100-110", "auto": "in"}}],
        "park_out": [{"answer": ""}, {"park": {"name": "lot1", "lot": "100-110", "auto": "out"}}],
        "hold": [{"answer": ""}, {"set": {"e2e_hold": "v1"}}, {"sleep": 8000}],
        # Rings a callee that never answers and pickup group e2egrp; a second caller picks it up.
        "pickup_ring": [{"bridge": {"pickup": "e2egrp", "parameters": {"call_timeout": "15"},
                                    "endpoints": [sip(callee_ports["pk_noanswer"])]}}] + after_bridge,
        "pickup_do": [{"pickup": {"name": "e2egrp"}}, {"set": {"e2e_not_picked": "yes"}},
                      {"hangup": "NO_ROUTE_DESTINATION"}],
        "panic": [{"answer": ""}, {"_testPanic": ""}, {"hangup": "NORMAL_CLEARING"}],
        # Agents registered as directory users (sip.Agent), dialled as user/EXT with the
        # default domain. The caller is answered first and hears a 425 Hz ringback while the
        # agent rings; the X- header tells the agent whose call it is.
        "agent_answer": [
            {"answer": ""},
            {"ringback": {"call": {"type": "tone", "name": f"%(1000,0,{AGENT_RINGBACK_HZ});loops=-1"}}},
            {"bridge": {"endpoints": [{"type": "user", "extension": "1001", "parameters": {
                "sip_h_X-E2E-Caller": "${caller_id_number}"}}]}},
        ] + after_bridge,
        "agent_busy": [{"bridge": {"endpoints": [{"type": "user", "extension": "1002"}]}}]
        + after_bridge,
        "agent_ring_timeout": [{"bridge": {"parameters": {"call_timeout": "2"},
                                           "endpoints": [{"type": "user", "extension": "1003"}]}}]
        + after_bridge,
        "agent_each_call": [{"bridge": {"endpoints": [{"type": "user", "extension": "1004", "parameters": {
            "sip_h_X-E2E-Caller": "${caller_id_number}"}}]}}] + after_bridge,
        # 1040 is a directory user that never registers
        "agent_unregistered": [{"bridge": {"endpoints": [{"type": "user", "extension": "1040"}]}}]
        + after_bridge,
    }
    for index, case in enumerate(HOSTILE_CASES):
        f[f"hostile_{index}"] = hostile_flow(case, callee_ports)
    return {k: json.dumps(v, indent=1, ensure_ascii=False) for k, v in f.items()}


class Failure(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


class Suite(QueueScenarios, OutboundScenarios, NodeScenarios):
    def __init__(self, lab: Lab, events: EventCollector, work: Path, ports):
        self.lab = lab
        self.events = events
        self.work = work
        self.ports = ports  # fixed callee ports referenced by the flows
        self.sipps = []
        self.agents = []  # stopped (and unregistered) after each scenario

    # --- helpers ---------------------------------------------------------------------------
    def target(self):
        return f"127.0.0.1:{self.lab.sip_port}"

    def caller(self, scenario, service, subs, **kw):
        s = Sipp(render(scenario, self.work, subs), self.work, target=self.target(),
                 service=service, **kw)
        self.sipps.append(s)
        return s

    def callee(self, scenario, port_key, subs=None, **kw):
        # the flows name the callee's port, reserved when they were written
        s = Sipp(render(scenario, self.work, subs or {}), self.work, port=self.ports[port_key], **kw)
        self.sipps.append(s)
        return s.wait_listening()

    def agent(self, ext, **kw):
        """A sipp agent registered as directory user `ext` and listening (sip.Agent); returns
        once FreeSWITCH lists its contact, so a call placed next can reach it."""
        a = Agent(ext, self.work, self.target(), **kw)
        self.agents.append(a)
        a.start()
        contact = f"sip:{a.ext}@127.0.0.1:{a.port}"
        deadline = time.monotonic() + 5
        while contact not in (regs := self.lab.api("sofia status profile lab reg")):
            check(time.monotonic() < deadline, f"{contact} not registered after 5 s:\n{regs}")
            time.sleep(0.05)
        return a

    def expect_ok(self, s: Sipp, what, timeout=90):
        rc = s.wait(timeout)
        check(rc == 0, f"{what}: sipp exited {rc}\n{s.errors()}\n{s.summary()}")

    def hangups(self, service, n=1, timeout=20):
        # only the hangups: the collector also keeps CHANNEL_BRIDGE, which a bridged call
        # fires before its flow has run the steps after the bridge
        def wanted(e):
            return (e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"
                    and e.get("Caller-Destination-Number") == service
                    and e.get("Call-Direction") == "inbound")

        found = self.events.wait_for(wanted, timeout)
        deadline = time.monotonic() + timeout
        while len(found) < n and time.monotonic() < deadline:
            time.sleep(0.2)
            found = [e for e in self.events.events if wanted(e)]
        check(len(found) >= n, f"{service}: {len(found)} of {n} CHANNEL_HANGUP_COMPLETE events")
        return found

    def var(self, event, name):
        return event.get(f"variable_{name}")

    def no_flow_error(self, event):
        check(self.var(event, "rustflow_error") is None,
              f"rustflow_error = {self.var(event, 'rustflow_error')!r}")

    # --- scenarios -------------------------------------------------------------------------
    def s_answer_tone_hangup(self):
        s = self.caller("uac_answer.xml", "rf_tone", uac_subs(bye_reason="cause=16"))
        self.expect_ok(s, "tone call")
        (e,) = self.hangups("rf_tone")[-1:]
        self.no_flow_error(e)
        check(self.var(e, "rustflow_flow_id") == "tone", f"flow id {self.var(e, 'rustflow_flow_id')}")
        check(len(self.var(e, "rustflow_flow_version") or "") == 16, "flow version missing")
        check(self.var(e, "e2e_mark") == "tone played", f"e2e_mark = {self.var(e, 'e2e_mark')!r}")
        check(self.var(e, "rustflow_steps") == "4", f"rustflow_steps = {self.var(e, 'rustflow_steps')}")
        billed = int(self.var(e, "billmsec") or 0)
        check(900 <= billed <= 3000, f"answered for {billed} ms, expected about 1000 (1 s tone)")
        check(e.get("Hangup-Cause") == "NORMAL_CLEARING", f"cause {e.get('Hangup-Cause')}")

    def s_ivr_dtmf(self):
        pcap = dtmf_pcap(self.work / "dtmf5.pcap", "5")
        s = self.caller("uac_answer.xml", "rf_ivr",
                        uac_subs(dtmf_pcap_path=pcap, dtmf_delay_ms=800, bye_reason="cause=21"))
        self.expect_ok(s, "IVR call (digit 5 -> CALL_REJECTED)")
        (e,) = self.hangups("rf_ivr")[-1:]
        self.no_flow_error(e)
        check(self.var(e, "choice") == "5", f"choice = {self.var(e, 'choice')!r}")
        check(e.get("Hangup-Cause") == "CALL_REJECTED", f"cause {e.get('Hangup-Cause')}")

    def _reject(self, flow, code, cause, header="To:", regex="."):
        s = self.caller("uac_reject.xml", f"rf_{flow}",
                        {"CODE": code, "HEADER": header, "HEADER_REGEX": regex, "CALLER": "e2e"})
        self.expect_ok(s, f"{flow}: expected SIP {code}")
        (e,) = self.hangups(f"rf_{flow}")[-1:]
        if cause:
            check(e.get("Hangup-Cause") == cause, f"cause {e.get('Hangup-Cause')}, expected {cause}")
        return e

    def s_cause_user_busy_486(self):
        self._reject("busy", 486, "USER_BUSY")

    def s_cause_call_rejected_603(self):
        self._reject("rejected", 603, "CALL_REJECTED")

    def s_cause_unallocated_404(self):
        self._reject("unallocated", 404, "UNALLOCATED_NUMBER")

    def s_sip_redirect_302(self):
        e = self._reject("redirect", 302, None, header="Contact:",
                         regex="sip:elsewhere@127\\.0\\.0\\.1:5999")
        self.no_flow_error(e)

    def _bridge(self, flow, callees, caller_kind, expect_result, expect_cause):
        started = [self.callee(scn, key, subs) for key, scn, subs in callees]
        if caller_kind == "answered":
            s = self.caller("uac_answer.xml", f"rf_{flow}", uac_subs(bye_reason="cause=16"))
        else:
            s = self.caller("uac_reject.xml", f"rf_{flow}",
                            {"CODE": caller_kind, "HEADER": "To:", "HEADER_REGEX": ".",
                             "CALLER": "e2e"})
        self.expect_ok(s, f"{flow}: caller")
        for c in started:
            self.expect_ok(c, f"{flow}: callee {c.scenario.name}", timeout=30)
        (e,) = self.hangups(f"rf_{flow}")[-1:]
        self.no_flow_error(e)
        got = self.var(e, "e2e_after_bridge")
        check(got == expect_result, f"rustflow_bridge_result = {got!r}, expected {expect_result!r}")
        check(e.get("Hangup-Cause") == expect_cause, f"cause {e.get('Hangup-Cause')}")
        return e

    def s_bridge_answered(self):
        self._bridge("bridge_answer", [("answer", "uas_answer.xml", {"HOLD_MS": 1000})],
                     "answered", "answered", "NORMAL_CLEARING")

    def s_bridge_busy(self):
        self._bridge("bridge_busy", [("busy", "uas_busy.xml", {})], 486, "busy", "USER_BUSY")

    def s_bridge_no_answer(self):
        e = self._bridge("bridge_noanswer",
                         [("noanswer", "uas_noanswer.xml", {"CANCEL_TIMEOUT_MS": 10000})],
                         480, "no_answer", "NO_ANSWER")
        check(self.var(e, "originate_disposition") in ("NO_ANSWER", "ALLOTTED_TIMEOUT"),
              f"originate_disposition = {self.var(e, 'originate_disposition')}")

    def s_bridge_failover(self):
        self._bridge("bridge_failover",
                     [("fo_busy", "uas_busy.xml", {}),
                      ("fo_answer", "uas_answer.xml", {"HOLD_MS": 1000})],
                     "answered", "answered", "NORMAL_CLEARING")

    def s_record_file(self):
        # 5 s of audio, so that maxSec (2) is what ends the recording
        audio = tone_pcap(self.work / "audio5s.pcap", 5.0)
        s = self.caller("uac_answer.xml", "rf_record",
                        uac_subs(audio_pcap_path=audio, bye_reason="cause=16"))
        self.expect_ok(s, "record call")
        (e,) = self.hangups("rf_record")[-1:]
        self.no_flow_error(e)
        path = Path(self.lab.dirs["recordings"]) / "e2e_rec.wav"
        check(self.var(e, "rustflow_record_file") == str(path),
              f"rustflow_record_file = {self.var(e, 'rustflow_record_file')!r}, expected {path}")
        check(path.is_file(), f"{path} not written")
        with wave.open(str(path)) as w:
            seconds = w.getnframes() / w.getframerate()
        # FreeSWITCH counts the limit in whole epoch seconds (`now - start > limit`), so
        # maxSec 2 stops after more than 2 and at most 3 seconds.
        check(2.0 <= seconds <= 3.1, f"{path}: {seconds:.2f} s, expected 2-3 s (maxSec 2)")

    def s_conference_two_callers(self):
        a = self.caller("uac_hold.xml", "rf_conf", {"HOLD_MS": 5000, "CALLER": "alice"})
        b = self.caller("uac_hold.xml", "rf_conf", {"HOLD_MS": 4000, "CALLER": "bob"})
        deadline, listing = time.monotonic() + 4, ""
        while time.monotonic() < deadline:
            listing = self.lab.api("conference list")
            if listing.count(";") and sum(1 for ln in listing.splitlines() if "alice" in ln or "bob" in ln) >= 2:
                break
            time.sleep(0.3)
        self.expect_ok(a, "conference caller alice")
        self.expect_ok(b, "conference caller bob")
        members = [ln for ln in listing.splitlines() if "alice" in ln or "bob" in ln]
        check(len(members) == 2, f"conference list shows {len(members)} of our 2 callers:\n{listing}")
        check("e2econf" in listing, f"no conference named e2econf*:\n{listing}")
        for e in self.hangups("rf_conf", 2)[-2:]:
            self.no_flow_error(e)

    def s_park_and_retrieve(self):
        parked = self.caller("uac_answer.xml", "rf_park_in", uac_subs(caller="parked"))
        time.sleep(1.5)
        info = self.lab.api("valet_info")
        check("lot1" in info and "100" in info, f"valet_info shows no call in lot1/100:\n{info}")
        retriever = self.caller("uac_hold.xml", "rf_park_out", {"HOLD_MS": 2000, "CALLER": "retriever"})
        bridged = self.events.wait_for(
            lambda e: e.get("Event-Name") == "CHANNEL_BRIDGE"
            and e.get("Caller-Destination-Number") in ("rf_park_in", "rf_park_out"), timeout=5)
        self.expect_ok(retriever, "park retriever")
        self.expect_ok(parked, "parked caller")
        check(bridged, "no CHANNEL_BRIDGE event: the parked call was not retrieved")
        for flow in ("rf_park_in", "rf_park_out"):
            (e,) = self.hangups(flow)[-1:]
            self.no_flow_error(e)

    def s_bridge_pickup_group(self):
        callee = self.callee("uas_noanswer.xml", "pk_noanswer", {"CANCEL_TIMEOUT_MS": 20000})
        ringing = self.caller("uac_answer.xml", "rf_pickup_ring", uac_subs(bye_reason="cause=16"))
        time.sleep(1.5)  # the bridge rings the callee and the group
        picker = self.caller("uac_hold.xml", "rf_pickup_do", {"HOLD_MS": 2000, "CALLER": "picker"})
        bridged = self.events.wait_for(
            lambda e: e.get("Event-Name") == "CHANNEL_BRIDGE"
            and "rf_pickup_ring" in (e.get("Caller-Destination-Number"),
                                     e.get("Other-Leg-Destination-Number")), timeout=5)
        self.expect_ok(picker, "picker (answered by the bridge, hangs up after 2 s)")
        self.expect_ok(ringing, "ringing caller (bridged to the picker, then BYE cause 16)")
        self.expect_ok(callee, "callee that never answers (CANCELled once picked up)", timeout=30)
        check(bridged, "no CHANNEL_BRIDGE event for the ringing call")
        (ring,) = self.hangups("rf_pickup_ring")[-1:]
        self.no_flow_error(ring)
        got = self.var(ring, "e2e_after_bridge")
        check(got == "answered", f"rustflow_bridge_result = {got!r}, expected 'answered'")
        (pick,) = self.hangups("rf_pickup_do")[-1:]
        self.no_flow_error(pick)
        check(self.var(pick, "e2e_not_picked") is None, "the picker's flow went on after pickup")
        check(self.var(pick, "rustflow_steps") == "1",
              f"picker rustflow_steps = {self.var(pick, 'rustflow_steps')}")

    def s_reload_under_50_calls(self):
        before = self.lab.api("rustflow show hold json")
        version_before = json.loads(before).get("version") if before.strip().startswith("{") else None
        check(version_before, f"rustflow show hold json: {before!r}")
        calls = self.caller("uac_hold.xml", "rf_hold", {"HOLD_MS": 6000, "CALLER": "load"},
                            calls=50, rate=50, limit=60, timeout_s=60)
        up = self._calls_up(50)
        check(up >= 50, f"only {up} calls up before the reload")
        flow = self.lab.dirs["flows"] / "hold.json"
        flow.write_text(flow.read_text().replace('"v1"', '"v2"'))
        reply = self.lab.api("rustflow reload")
        check("-ERR" not in reply, f"rustflow reload: {reply}")
        after = json.loads(self.lab.api("rustflow show hold json")).get("version")
        check(after and after != version_before, f"version {version_before} -> {after} after reload")
        self.expect_ok(calls, "50 calls across the reload", timeout=60)
        events = self.hangups("rf_hold", 50, timeout=20)
        versions = {self.var(e, "rustflow_flow_version") for e in events}
        marks = {self.var(e, "e2e_hold") for e in events}
        check(versions == {version_before}, f"calls in flight ran versions {versions}")
        check(marks == {"v1"}, f"calls in flight saw e2e_hold {marks}")
        check(self.lab.alive(), "FreeSWITCH died")

    def s_panic_leaves_freeswitch_alive(self):
        s = self.caller("uac_answer.xml", "rf_panic", uac_subs(bye_reason="cause=41"))
        self.expect_ok(s, "panicking flow: caller gets BYE with NORMAL_TEMPORARY_FAILURE")
        (e,) = self.hangups("rf_panic")[-1:]
        check(e.get("Hangup-Cause") == "NORMAL_TEMPORARY_FAILURE", f"cause {e.get('Hangup-Cause')}")
        check(self.lab.alive(), "FreeSWITCH died after the panic")
        check("is ready" in self.lab.api("status"), "FreeSWITCH not ready after the panic")
        s2 = self.caller("uac_answer.xml", "rf_tone", uac_subs(bye_reason="cause=16"))
        self.expect_ok(s2, "a normal call after the panic")

    def s_hostile_originate_no_extra_leg(self):
        watch = EventCollector(self.lab.esl_port, "CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE")
        problems = []
        try:
            for index, case in enumerate(HOSTILE_CASES):
                problems += self._hostile_case(index, case, watch)
        finally:
            watch.close()
        check(not problems, "\n".join(problems))

    def _hostile_case(self, index, case, watch):
        flow = f"hostile_{index}"
        seen = len(watch.events)
        reached = case["refused"] is None
        callee = self.callee("uas_busy.xml", "hostile")
        evil = self.callee("uas_busy.xml", "hostile_evil")
        caller = self.caller("uac_reject.xml", f"rf_{flow}",
                             {"CODE": 486, "HEADER": "To:", "HEADER_REGEX": ".", "CALLER": "e2e"})
        self.expect_ok(caller, f"{flow}: caller (486 after the bridge)")
        if reached:
            self.expect_ok(callee, f"{flow}: callee", timeout=20)
        (a_leg,) = self.hangups(f"rf_{flow}")[-1:]
        time.sleep(1.0)  # the B-leg's hangup event follows the A-leg's
        new = watch.events[seen:]
        b_created = [e for e in new if e.get("Event-Name") == "CHANNEL_CREATE"
                     and e.get("Call-Direction") == "outbound"]
        b_done = [e for e in new if e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"
                  and e.get("Call-Direction") == "outbound"]
        evil_got_invite = evil.proc.poll() is not None
        for s in (callee, evil):
            s.kill()
        label = f"{flow} {case!r}"
        out = []
        if evil_got_invite:
            out.append(f"{label}: the second callee got an INVITE (extra leg)")
        error = self.var(a_leg, "rustflow_error")
        if not reached:
            if b_created:
                out.append(f"{label}: refused value, yet {len(b_created)} B-leg(s) created")
            if not error or case["refused"] not in error:
                out.append(f"{label}: rustflow_error = {error!r}, expected one naming {case['refused']!r}")
            return out
        if error:
            out.append(f"{label}: rustflow_error = {error!r}")
        if len(b_created) != 1:
            out.append(f"{label}: {len(b_created)} B-legs created, expected exactly 1: "
                       + ", ".join(str(e.get("Caller-Destination-Number")) for e in b_created))
        got_result = self.var(a_leg, "e2e_after_bridge")
        if got_result != "busy":
            out.append(f"{label}: rustflow_bridge_result = {got_result!r}, expected 'busy'")
        if len(b_done) != 1:
            out.append(f"{label}: {len(b_done)} B-leg hangups")
            return out
        b = b_done[0]
        for name, key in (("e2e_hv", "leg"), ("e2e_hg", "global")):
            if name == "e2e_hv" and not case["leg"]:
                continue
            want = hostile_value(case[key], self.ports, "$")
            got = self.var(b, name)
            if got != want:
                out.append(f"{label}: B-leg {name} = {got!r}, expected {want!r}")
        return out

    def s_agents_registered_answer(self):
        answering = self.agent("1001", answer_after_ms=1500, talk_ms=2000, rtp_tone_hz=AGENT_TONE_HZ)
        busy = self.agent("1002", mode="busy", answer_after_ms=300)
        regs = self.lab.api("sofia status profile lab reg")
        for a in (answering, busy):
            check(a.aor in regs and f"127.0.0.1:{a.port}" in regs,
                  f"sofia status profile lab reg does not list {a.aor} at port {a.port}:\n{regs}")

        # 1001 rings 1.5 s, answers, talks 2 s (sending its tone) and hangs up
        sink = RtpSink()
        try:
            caller = self.caller("uac_answer.xml", "rf_agent_answer",
                                 uac_subs(bye_reason="cause=16", caller="agentcaller1",
                                          media_port=sink.port))
            self.expect_ok(caller, "caller of agent 1001 (bridged, BYE after the agent's)")
            check(answering.wait(20) == 0, f"agent 1001's sipp failed\n{answering.problems()}")
        finally:
            sink.close()
        calls = answering.calls()
        check(len(calls) == 1, f"agent 1001 was offered {len(calls)} calls, expected 1: {calls}")
        (call,) = calls
        check(call.request_uri.startswith(f"sip:1001@127.0.0.1:{answering.port}"),
              f"agent 1001's INVITE went to {call.request_uri}")
        check(call.headers.get("x-e2e-caller") == "agentcaller1",
              f"agent 1001's INVITE X-E2E-Caller = {call.headers.get('x-e2e-caller')!r}")
        check(call.outcome == "answered" and call.ended_by == "agent",
              f"agent 1001's call: {call.outcome}, ended by {call.ended_by}")
        rang = call.answered_at - call.offered_at
        talked = call.ended_at - call.answered_at
        check(1.3 <= rang <= 3.0, f"agent 1001 answered after {rang:.2f} s, expected 1.5")
        check(1.8 <= talked <= 4.0, f"agent 1001 talked {talked:.2f} s, expected 2")
        (e,) = self.hangups("rf_agent_answer")[-1:]
        self.no_flow_error(e)
        check(self.var(e, "e2e_after_bridge") == "answered",
              f"rustflow_bridge_result = {self.var(e, 'e2e_after_bridge')!r}, expected 'answered'")
        check(e.get("Hangup-Cause") == "NORMAL_CLEARING", f"cause {e.get('Hangup-Cause')}")
        # what the caller heard: the ringback while the agent rang, then the agent
        ringing = sink.tone_share(AGENT_RINGBACK_HZ, call.offered_at + 0.3, call.answered_at)
        talking = sink.tone_share(AGENT_TONE_HZ, call.answered_at + 0.3, call.ended_at)
        heard = (f"{len(sink.received(call.offered_at, call.answered_at))} packets while ringing, "
                 f"{len(sink.received(call.answered_at, call.ended_at))} while bridged")
        check(ringing > 0.5, f"caller: {AGENT_RINGBACK_HZ} Hz share {ringing:.2f} while agent 1001 rang ({heard})")
        check(talking > 0.5, f"caller: {AGENT_TONE_HZ} Hz share {talking:.2f} while bridged to agent 1001 ({heard})")

        # 1002 rings and answers 486: the flow sees busy
        refused = self.caller("uac_reject.xml", "rf_agent_busy",
                              {"CODE": 486, "HEADER": "To:", "HEADER_REGEX": ".", "CALLER": "agentcaller2"})
        self.expect_ok(refused, "caller of busy agent 1002 (486)")
        check(busy.wait(20) == 0, f"agent 1002's sipp failed\n{busy.problems()}")
        outcomes = [(c.outcome, c.from_) for c in busy.calls()]
        check(len(outcomes) == 1 and outcomes[0][0] == "busy" and "agentcaller2" in outcomes[0][1],
              f"agent 1002's calls: {outcomes}, expected one busy call from agentcaller2")
        (e,) = self.hangups("rf_agent_busy")[-1:]
        self.no_flow_error(e)
        check(self.var(e, "e2e_after_bridge") == "busy",
              f"rustflow_bridge_result = {self.var(e, 'e2e_after_bridge')!r}, expected 'busy'")
        check(e.get("Hangup-Cause") == "USER_BUSY", f"cause {e.get('Hangup-Cause')}")
        order = [(ext, c.outcome) for ext, c in offers_in_order([busy, answering])]
        check(order == [("1001", "answered"), ("1002", "busy")], f"offers in order: {order}")

    def s_agents_cancel_sequence_unregistered(self):
        # a phone that rings until the bridge gives up (call_timeout 2 s): CANCEL, no_answer
        ringing = self.agent("1003", mode="noanswer")
        caller = self.caller("uac_reject.xml", "rf_agent_ring_timeout",
                             {"CODE": 480, "HEADER": "To:", "HEADER_REGEX": ".", "CALLER": "e2e"})
        self.expect_ok(caller, "caller of agent 1003 that never answers (480)")
        check(ringing.wait(20) == 0, f"agent 1003's sipp failed\n{ringing.problems()}")
        calls = ringing.calls()
        check([(c.outcome, c.ended_by) for c in calls] == [("cancelled", "caller")],
              f"agent 1003's calls: {calls}, expected one cancelled by the caller")
        rang = calls[0].ended_at - calls[0].offered_at
        # originate counts the limit in whole epoch seconds: 2 s rings for more than 1 and at
        # most 2 (and 40 s, the caller's patience, if the limit does not reach a user/ leg)
        check(1.0 <= rang <= 3.0, f"agent 1003 rang {rang:.2f} s, expected 1-2 (call_timeout 2)")
        (e,) = self.hangups("rf_agent_ring_timeout")[-1:]
        self.no_flow_error(e)
        check(self.var(e, "e2e_after_bridge") == "no_answer",
              f"rustflow_bridge_result = {self.var(e, 'e2e_after_bridge')!r}, expected 'no_answer'")

        # one phone, two calls one after the other, each ended by its caller's BYE
        agent = self.agent("1004", calls=2, talk_ms=None, answer_after_ms=200)
        for name in ("firstcaller", "secondcaller"):
            c = self.caller("uac_hold.xml", "rf_agent_each_call", {"HOLD_MS": 1000, "CALLER": name})
            self.expect_ok(c, f"{name} to agent 1004 (hangs up after 1 s)")
        check(agent.wait(20) == 0, f"agent 1004's sipp failed\n{agent.problems()}")
        got = [(c.headers.get("x-e2e-caller"), c.outcome, c.ended_by) for c in agent.calls()]
        check(got == [("firstcaller", "answered", "caller"), ("secondcaller", "answered", "caller")],
              f"agent 1004's calls (caller, outcome, ended by): {got}")

        # a directory user with no registration: the bridge fails, nothing is offered
        caller = self.caller("uac_reject.xml", "rf_agent_unregistered",
                             {"CODE": 480, "HEADER": "To:", "HEADER_REGEX": ".", "CALLER": "e2e"})
        self.expect_ok(caller, "caller of unregistered user 1040")
        (e,) = self.hangups("rf_agent_unregistered")[-1:]
        self.no_flow_error(e)
        check(self.var(e, "e2e_after_bridge") == "failed",
              f"rustflow_bridge_result = {self.var(e, 'e2e_after_bridge')!r}, expected 'failed'")
        check(self.var(e, "originate_disposition") == "USER_NOT_REGISTERED",
              f"originate_disposition = {self.var(e, 'originate_disposition')!r}")

    def s_cc_provisioning_in_fs_cli(self):
        # The module opened its default store in FreeSWITCH's db dir at load; `rustflow cc`
        # provisions it in the offline tool's language, hostile names kept as text.
        store = self.lab.dirs["db"] / "rustflow-cc.sqlite"
        check(store.exists(), f"no contact-centre store at {store}")
        check("contact-centre store" in self.lab.log_path.read_text(errors="replace"),
              "the load did not log the contact-centre store")
        reply = self.lab.api("rustflow cc queue add e2e_sales max_wait_secs=90")
        check(reply.strip() == "added queue e2e_sales", f"queue add: {reply!r}")
        reply = self.lab.api("rustflow cc agent add e2e_a1 extension=1001 name=<img src=x onerror=alert(1)>")
        check(reply.strip() == "added agent e2e_a1", f"agent add: {reply!r}")
        agents = json.loads(self.lab.api("rustflow cc agent list json"))
        names = [a.get("name") for a in agents]
        check("<img src=x onerror=alert(1)>" in names, f"agent names: {names!r}")
        reply = self.lab.api("rustflow cc queue set e2e_sales max_wait_secs=abc")
        check(reply.startswith("-ERR") and "max_wait_secs" in reply, f"bad value: {reply!r}")
        queues = json.loads(self.lab.api("rustflow cc queue list json"))
        check([q.get("max_wait_secs") for q in queues if q.get("id") == "e2e_sales"] == [90],
              f"queues: {queues!r}")

    def _calls_up(self, n, wait=8):
        """Waits up to `wait` seconds for `n` calls up; returns the last count seen."""
        deadline = time.monotonic() + wait
        while True:
            words = self.lab.api("show calls count").split()
            up = int(words[0]) if words and words[0].isdigit() else 0
            if up >= n or time.monotonic() >= deadline:
                return up
            time.sleep(0.2)

    def _check_reloaded(self, command):
        reply = self.lab.api(command)
        check("+OK module unloaded" in reply and "+OK module loaded" in reply and "-ERR" not in reply,
              f"{command}: {reply!r}")

    def s_install_over_loaded_then_reload(self):
        module = self.lab.dirs["mod"] / "mod_rustflow.so"
        inode_before = os.stat(module).st_ino
        # the Makefile's install path, into the running lab's modules dir
        env = dict(os.environ, CARGO_TARGET_DIR=str(fslab.REPO / "target" / "e2e"))
        if self.lab.install.pkgconfig_dir:
            env["PKG_CONFIG_PATH"] = ":".join(
                p for p in [str(self.lab.install.pkgconfig_dir), env.get("PKG_CONFIG_PATH", "")] if p)
        conf = self.lab.root / "install-conf"
        run = subprocess.run(
            ["make", "-C", str(fslab.REPO), "install", f"FS_MODULES_DIR={self.lab.dirs['mod']}",
             f"FS_CONF_DIR={conf}", f"RELEASE_DIR={fslab.REPO / 'target' / 'e2e' / 'release'}"],
            env=env, capture_output=True, text=True, timeout=1800)
        check(run.returncode == 0, f"make install exited {run.returncode}:\n{run.stderr[-3000:]}")
        inode_after = os.stat(module).st_ino
        check(inode_after != inode_before,
              f"make install rewrote {module} in place (inode {inode_before} kept)")
        check(self.lab.alive(), "FreeSWITCH died when make install replaced the loaded module")
        check("is ready" in self.lab.api("status"), "FreeSWITCH not ready after make install")
        s = self.caller("uac_answer.xml", "rf_tone", uac_subs(bye_reason="cause=16"))
        self.expect_ok(s, "a call on the module loaded before make install")

        # A call running a flow during `reload mod_rustflow`: FreeSWITCH refuses the unload
        # and the call goes on; `reload -f` hangs it up (README, "fs_cli").
        held = self.caller("uac_answer.xml", "rf_hold", uac_subs(caller="held", bye_timeout_ms=20000))
        check(self._calls_up(1) >= 1, "the held call is not up before the reload")
        time.sleep(0.5)
        reply = self.lab.api("reload mod_rustflow")
        check("-ERR unloading module [Module in use.]" in reply,
              f"reload mod_rustflow with a call in a flow: {reply!r}, expected Module in use")
        check(self._calls_up(1, wait=0) >= 1, "the held call ended when the reload was refused")
        check(self.lab.api("module_exists mod_rustflow").strip() == "true", "mod_rustflow gone")
        # the installed build has no test hooks: the flow that needs them would fail its load
        (self.lab.dirs["flows"] / "panic.json").unlink()
        started = time.monotonic()
        self._check_reloaded("reload -f mod_rustflow")
        self.expect_ok(held, "the call up during reload -f mod_rustflow (gets a BYE)", timeout=30)
        check(time.monotonic() - started < 6,
              "the held call lasted its whole flow: reload -f did not hang it up")
        (e,) = self.hangups("rf_hold")[-1:]
        check(e.get("Hangup-Cause") == "MANAGER_REQUEST",
              f"held call: cause {e.get('Hangup-Cause')}, expected MANAGER_REQUEST (the forced unload)")
        check(self.lab.alive(), "FreeSWITCH died on reload -f mod_rustflow")
        # with no call in a flow, the plain reload succeeds
        self._check_reloaded("reload mod_rustflow")

        # FreeSWITCH keeps serving, on the installed module
        s = self.caller("uac_answer.xml", "rf_tone", uac_subs(bye_reason="cause=16"))
        self.expect_ok(s, "a new call after reload mod_rustflow")
        (e,) = self.hangups("rf_tone")[-1:]
        self.no_flow_error(e)
        check(self.var(e, "e2e_mark") == "tone played", f"e2e_mark = {self.var(e, 'e2e_mark')!r}")


SCENARIO_ORDER = [
    "answer_tone_hangup", "cause_user_busy_486", "cause_call_rejected_603",
    "cause_unallocated_404", "panic_leaves_freeswitch_alive", "reload_under_50_calls",
    "ivr_dtmf", "sip_redirect_302", "bridge_answered", "bridge_busy", "bridge_no_answer",
    "bridge_failover", "record_file", "conference_two_callers", "park_and_retrieve",
    "bridge_pickup_group", "hostile_originate_no_extra_leg", "agents_registered_answer",
    "agents_cancel_sequence_unregistered", "cc_provisioning_in_fs_cli",
    *CC_SCENARIOS,
    *OUTBOUND_SCENARIOS,
    *NODES_SCENARIOS,
    # last: it replaces the test-hooks module with the Makefile's release build
    "install_over_loaded_then_reload",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", dest="only",
                    help="run only scenarios whose name contains this (several: comma-separated)")
    ap.add_argument("--keep", action="store_true", help="keep the lab dir even when all pass")
    ap.add_argument("--module", help="use this mod_rustflow.so instead of building one")
    args = ap.parse_args()

    install, status = fslab.find_lab_tools("e2e")
    if install is None:
        return status
    print(f"e2e: {install}")
    so = Path(args.module).resolve() if args.module else fslab.build_module(install)

    ports = {k: fslab.free_port(fslab.socket.SOCK_DGRAM, also_udp=True)
             for k in ("answer", "busy", "noanswer", "fo_busy", "fo_answer", "pk_noanswer",
                       "hostile", "hostile_evil")}
    wanted = [w for w in (args.only or "").split(",") if w]
    selected = [n for n in SCENARIO_ORDER if not wanted or any(w in n for w in wanted)]
    results = []
    lab = Lab(install, so, dialplan_xml=DIALPLAN, flows={**flows(ports), **cc_flows(), **outbound_flows()}, name="e2e")
    work = lab.root / "sipp"
    work.mkdir()
    print(f"e2e: lab {lab.root} (SIP 127.0.0.1:{lab.sip_port}, ESL 127.0.0.1:{lab.esl_port})", flush=True)
    with lab:
        events = EventCollector(lab.esl_port, "CHANNEL_HANGUP_COMPLETE CHANNEL_BRIDGE")
        suite = Suite(lab, events, work, ports)
        for name in selected:
            t0 = time.monotonic()
            try:
                getattr(suite, f"s_{name}")()
                status, detail = "PASS", ""
            except Failure as e:
                status, detail = "FAIL", str(e)
            except fslab.Skip as e:  # a tool this scenario needs is missing (not in CI)
                status, detail = "SKIP", str(e)
            except Exception:  # a broken scenario is a failure too, with its traceback
                status, detail = "FAIL", traceback.format_exc()
            finally:
                for s in suite.sipps:
                    s.kill()
                suite.sipps.clear()
                for a in suite.agents:
                    a.stop()
                suite.agents.clear()
            took = time.monotonic() - t0
            results.append((name, status, detail))
            if status == "SKIP":
                print(f"SKIP {name}: {detail}", flush=True)
            else:
                print(f"{status} {name} ({took:.1f}s)"
                      + (f"\n    " + detail.replace("\n", "\n    ") if detail else ""), flush=True)
            if not lab.alive():
                print("FreeSWITCH is gone; stopping the suite", flush=True)
                break
        events.close()
        if hasattr(suite, "_cc_events"):
            suite._cc_events.close()
        failed = [r for r in results if r[1] == "FAIL"]
        if failed or args.keep:
            lab.failed = True
    skipped = [r for r in results if r[1] == "SKIP"]
    print(f"e2e: {len(results) - len(failed) - len(skipped)} passed, {len(failed)} failed"
          + (f", {len(skipped)} skipped" if skipped else "")
          + (f" ({', '.join(r[0] for r in failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
