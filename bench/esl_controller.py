#!/usr/bin/env python3
"""Event-socket outbound controller for the call benchmark (Python 3 stdlib asyncio).

FreeSWITCH connects here once per call (`<action application="socket" data="HOST:PORT async
full"/>`); the controller drives the call step by step over that socket, as Webitel's flow
manager does: every media or channel operation is one `sendmsg execute` with `event-lock`, and
the controller waits for its CHANNEL_EXECUTE_COMPLETE before the next step. Conditions,
switches and the JavaScript snippets are evaluated here, on the controller's copy of the channel
variables (kept current from the events), and every `set` is an `execute set` on the channel.

    esl_controller.py --port PORT --program program.json

program.json (written by bench.py): {"simple": [ops], "heavy": [ops]} in the IR of bench.py.
The destination number picks the program: bs_esl -> simple, bh_esl -> heavy.
"""

import argparse
import asyncio
import itertools
import json
import re
import urllib.parse

VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_uuid_counter = itertools.count()


class Call:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.vars = {}
        self.waiters = {}
        self.hungup = False

    async def read_message(self):
        headers = {}
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("closed")
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if headers:
                    break
                continue
            k, _, v = line.partition(":")
            headers[k.strip()] = v.strip()
        body = b""
        if "Content-Length" in headers:
            body = await self.reader.readexactly(int(headers["Content-Length"]))
        return headers, body.decode("utf-8", "replace")

    async def command(self, text):
        self.writer.write(text.encode() + b"\n\n")
        await self.writer.drain()
        while True:
            headers, body = await self.read_message()
            if headers.get("Content-Type") == "command/reply":
                return headers
            self.on_other(headers, body)

    def on_other(self, headers, body):
        if headers.get("Content-Type") == "text/event-plain":
            event = {}
            for line in body.splitlines():
                k, _, v = line.partition(": ")
                event[k] = urllib.parse.unquote(v)
            self.on_event(event)
        elif headers.get("Content-Type") == "text/disconnect-notice":
            self.hungup = True

    def on_event(self, event):
        for k, v in event.items():
            if k.startswith("variable_"):
                self.vars[k[9:]] = v
        name = event.get("Event-Name")
        if name == "CHANNEL_HANGUP":
            self.hungup = True
        if name == "CHANNEL_EXECUTE_COMPLETE":
            fut = self.waiters.pop(event.get("Application-UUID"), None)
            if fut and not fut.done():
                fut.set_result(event)

    async def pump(self):
        try:
            while True:
                headers, body = await self.read_message()
                self.on_other(headers, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.hungup = True
            for fut in self.waiters.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("call gone"))

    async def execute(self, app, arg=""):
        if self.hungup:
            raise ConnectionError("call gone")
        event_uuid = f"bench-{next(_uuid_counter)}"
        fut = asyncio.get_running_loop().create_future()
        self.waiters[event_uuid] = fut
        msg = (f"sendmsg\ncall-command: execute\nexecute-app-name: {app}\n"
               f"execute-app-arg: {arg}\nevent-uuid: {event_uuid}\nevent-lock: true\n\n")
        self.writer.write(msg.encode())
        await self.writer.drain()
        return await fut

    def expand(self, template):
        return VAR.sub(lambda m: self.vars.get(m.group(1), ""), template)

    async def run_ops(self, ops):
        for op in ops:
            await self.run_op(op)

    async def run_op(self, op):
        kind = op[0]
        if kind == "set":
            _, name, template = op
            value = self.expand(template)
            await self.execute("set", f"{name}={value}")
            self.vars[name] = value
        elif kind == "if":
            _, var, cmp, literal, then_ops, else_ops = op
            left = self.vars.get(var, "")
            if cmp == ">":
                ok = float(left or 0) > float(literal)
            elif cmp == "==":
                ok = left == literal
            else:
                raise ValueError(f"unknown comparison {cmp}")
            await self.run_ops(then_ops if ok else else_ops)
        elif kind == "switch":
            _, var, cases, default = op
            await self.run_ops(cases.get(self.vars.get(var, ""), default))
        elif kind == "js":
            _, name, _js, py, _lua = op
            value = str(eval(py, {"__builtins__": {}}, {"v": self.vars, "int": int}))
            await self.execute("set", f"{name}={value}")
            self.vars[name] = value
        elif kind == "answer":
            await self.execute("answer")
        elif kind == "collect":
            _, tone, timeout_ms, var = op
            await self.execute(
                "play_and_get_digits",
                f"1 1 1 {timeout_ms} # tone_stream://{tone} silence_stream://250 {var} \\d")
        elif kind == "play":
            await self.execute("playback", f"tone_stream://{op[1]}")
        elif kind == "hangup_by_digit":
            _, var, digit, cause_yes, cause_no = op
            cause = cause_yes if self.vars.get(var) == digit else cause_no
            await self.execute("hangup", cause)
        else:
            raise ValueError(f"unknown op {kind}")


async def handle(reader, writer, programs, stats):
    call = Call(reader, writer)
    try:
        writer.write(b"connect\n\n")
        await writer.drain()
        headers, _ = await call.read_message()
        for k, v in headers.items():
            if k.startswith("variable_"):
                call.vars[k[9:]] = urllib.parse.unquote(v)
        dest = urllib.parse.unquote(headers.get("Caller-Destination-Number", ""))
        await call.command("myevents")
        pump = asyncio.create_task(call.pump())
        program = programs["heavy" if dest.startswith("bh_") else "simple"]
        await call.run_ops(program)
        stats["done"] += 1
        pump.cancel()
    except (ConnectionError, asyncio.IncompleteReadError):
        stats["gone"] += 1
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--program", required=True)
    args = ap.parse_args()
    with open(args.program) as f:
        programs = json.load(f)
    stats = {"done": 0, "gone": 0}
    server = await asyncio.start_server(lambda r, w: handle(r, w, programs, stats),
                                        "127.0.0.1", args.port, backlog=512)
    print(f"controller listening on 127.0.0.1:{args.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
