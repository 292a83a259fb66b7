"""Where FreeSWITCH's CPU goes during a run: `perf record` of the FreeSWITCH process, then the
share of its samples spent in an implementation's own code outside media.

A sample counts for the implementation when its call stack has a frame in the
implementation's libraries (mod_rustflow; liblua and mod_lua) and no frame of the media
functions the flow calls (playback, digit collection, answer, hangup, frame reads and
writes). What remains is the flow logic and what it asks of the core directly (channel
variables, logging, the JavaScript engine): the part of the call an engine can make cheaper.
"""

import re
import shutil
import subprocess
from pathlib import Path

# Libraries whose frames make a sample the implementation's.
IMPL_DSOS = {
    "rustflow": ("mod_rustflow",),
    "lua": ("liblua", "mod_lua.so"),
}

# Core functions that are the call's media, not its logic.
MEDIA_FUNCTIONS = (
    "switch_ivr_play_file", "switch_play_and_get_digits", "switch_ivr_read",
    "switch_ivr_collect_digits", "switch_ivr_sleep", "switch_core_session_read_frame",
    "switch_core_session_write_frame", "switch_channel_perform_answer",
    "switch_channel_perform_mark_answered", "switch_channel_perform_hangup",
)


def available() -> bool:
    return shutil.which("perf") is not None


def record(seconds: float, out: Path) -> subprocess.Popen:
    """Starts sampling the whole machine for `seconds` (499 Hz, DWARF call stacks). Not `-p PID`:
    attaching to FreeSWITCH's threads one by one races with call threads ending, and perf
    then gives up with a truncated file; logic_share() picks FreeSWITCH's samples instead."""
    return subprocess.Popen(
        ["perf", "record", "-q", "-a", "-F", "499", "--call-graph", "dwarf,16384",
         "-o", str(out), "--", "sleep", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def logic_share(data: Path, impl: str, pid: int):
    """(samples, share of samples in `impl`'s code outside media) of process `pid` in a
    perf.data file."""
    text = subprocess.run(["perf", "script", "-i", str(data), "--pid", str(pid),
                           "-F", "comm,tid,ip,sym,dso"],
                          capture_output=True, text=True, check=True).stdout
    dsos = IMPL_DSOS[impl]
    total = logic = 0
    # One sample: a header line ("freeswitch  1234") then one indented line per frame.
    for sample in re.split(r"\n(?=\S)", text):
        frames = sample.split("\n")[1:]
        if not frames:
            continue
        total += 1
        stack = "\n".join(frames)
        if any(d in stack for d in dsos) and not any(m in stack for m in MEDIA_FUNCTIONS):
            logic += 1
    return total, (logic / total if total else 0.0)
