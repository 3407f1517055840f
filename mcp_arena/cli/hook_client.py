"""The thin client of Claude Code's PostToolUse and PostToolUseFailure hooks: `mcp-arena-hook post-tool-use`, stdlib only.

Claude Code starts the hook command once per tool call, with the hook's JSON on
stdin, and reads JSON (or nothing) from stdout. Starting Python and importing
LanceDB, pydantic and a tokenizer for that costs seconds; this module imports
only `os`, `sys`, `_socket` (the C half of `socket`: `socket.py` would pull in
`enum` and `selectors`, milliseconds on every call) and `hook.wire`, so the
process is up about as fast as a bare interpreter. It hands the raw payload to
the running `mcp-arena serve` of the same home over a Unix socket
(`hook.listener`), prints what the server answers, and exits 0. When no server
listens (none started yet, a hook run from a shell), the work is done in this
process instead (`cli.post_tool_use.run_in_process`): slow, but the original
output is still logged and shaped.

Exit code is 0 whatever happens: a hook must never fail the host. On any
problem nothing goes to stdout (the host keeps the tool's output unchanged)
and one line saying why goes to stderr.

Why a command hook with a socket, and not the host's other hook types:
`mcp_tool` hooks (v2.1.118+) call a tool of a connected MCP server without a
process, but that tool would sit in the arena's tools/list, in every request's
prompt and callable by the model, and its input is a template of substituted
strings, not the whole response; `http` hooks POST the payload without a
process, but need a fixed TCP port per home in the settings, a token against
other local processes, and lose the call (nothing logged) whenever no server
listens. A command costs a bare interpreter start and never loses a call.

What `setup claude-code` registers is this client started as
`python -I -S …/cli/hook_run.py`: without `site` and without the console-script
wrapper of `mcp-arena-hook` (which imports `re`), ~10 ms less per tool call
(`benchmarks/hook_bench.py`); the slow path then runs `site` itself.

Where it stops: no parsing of the payload, no arena. The socket's name and the
reply's bytes are `hook.wire`; the adapter is `hook.adapter`.
"""

from __future__ import annotations

import os
import sys

from mcp_arena.hook.wire import MAX_PAYLOAD_BYTES, TOO_LARGE, Reply, resolve_home, socket_path

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: typing would cost every hook call
if TYPE_CHECKING:
    from typing import Any

    from mcp_arena.config import Settings

try:
    import _socket  # the C module behind `socket`: the same calls, a fraction of the import
except ImportError:  # an interpreter without it: no fast path, the work is done in process
    _socket = None  # type: ignore[assignment]

EVENT = "post-tool-use"
# The event words the command takes: the payload's `hook_event_name` says which it is, so they only label stderr.
EVENTS = (EVENT, "post-tool-use-failure")
CONNECT_TIMEOUT_SECONDS = 1.0
# Longest wait for the server's answer. Past it the host keeps the original output;
# the server may still log the call. Env MCP_ARENA_HOOK_TIMEOUT overrides it.
ANSWER_TIMEOUT_SECONDS = 30.0
TIMEOUT_VARIABLE = "MCP_ARENA_HOOK_TIMEOUT"


def answer_timeout() -> float:
    try:
        return max(0.1, float(os.environ.get(TIMEOUT_VARIABLE, ANSWER_TIMEOUT_SECONDS)))
    except ValueError:
        return ANSWER_TIMEOUT_SECONDS


def ask(raw: bytes, home: str, timeout: float | None = None) -> Reply | None:
    """The running server's answer to one payload; None when no server listens (the caller does the work)."""
    if _socket is None or not hasattr(_socket, "AF_UNIX"):
        return None
    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        client.settimeout(CONNECT_TIMEOUT_SECONDS)
        try:
            client.connect(socket_path(home))
        except OSError:
            return None  # no socket, a stale one, or a server too busy to accept
        client.settimeout(timeout if timeout is not None else answer_timeout())
        try:
            client.sendall(raw)
            client.shutdown(_socket.SHUT_WR)
            data = _read_all(client)
        except OSError as exc:  # sent, but no answer in time: the server may still log it
            return Reply("", f"no answer from the arena server ({exc or 'timed out'}); output left unchanged")
    finally:
        client.close()
    try:
        return Reply.decode(data)
    except ValueError as exc:
        return Reply("", f"unreadable answer from the arena server: {exc}")


def _read_all(connection: _socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def handle(raw: bytes, home: str) -> Reply:
    """The answer to one payload: the server's, else worked out in this process."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        return Reply("", TOO_LARGE)
    reply = ask(raw, home)
    if reply is not None:
        return reply
    if sys.flags.no_site:  # started as `python -I -S hook/run.py`: the engine's packages need site-packages
        import site

        site.main()
    from mcp_arena.cli.post_tool_use import run_in_process  # slow: Settings, LanceDB, the tokenizer

    return run_in_process(raw, home)


def hook(payload: dict[str, Any], settings: Settings) -> str:
    """`mcp-arena hook post-tool-use` (the full CLI, `cli.hooks.HOOKS`): the same answer, after the CLI's own start."""
    import json

    reply = handle(json.dumps(payload, ensure_ascii=False).encode(), resolve_home(os.fspath(settings.home)))
    if reply.stderr:
        sys.stderr.write(f"mcp-arena hook {EVENT}: {reply.stderr}\n")
    return reply.stdout


def parse_arguments(argv: list[str]) -> tuple[str | None, str]:
    """(--home, the event word) from `[post-tool-use|post-tool-use-failure] [--home DIR]`; anything else is an error."""
    home, event, rest = None, EVENT, list(argv)
    while rest:
        word = rest.pop(0)
        if word == "--home" and rest:
            home = rest.pop(0)
        elif word.startswith("--home="):
            home = word.split("=", 1)[1]
        elif word in EVENTS:
            event = word
        else:
            raise ValueError(
                f"unexpected {word!r}; usage: mcp-arena-hook [post-tool-use|post-tool-use-failure] [--home DIR] (other hooks: mcp-arena hook NAME)"
            )
    return home, event


def main(argv: list[str] | None = None) -> int:
    """`mcp-arena-hook [post-tool-use|post-tool-use-failure] [--home DIR]`: always exit 0."""
    event = EVENT
    try:
        home, event = parse_arguments(sys.argv[1:] if argv is None else argv)
        raw = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1)  # +1 tells a payload over the limit
        reply = handle(raw, resolve_home(home))
    except BaseException as exc:  # noqa: BLE001 - deliberately broad (KeyboardInterrupt too): the host must go on
        reply = Reply("", f"{type(exc).__name__}: {exc}")
    if reply.stdout:
        sys.stdout.write(reply.stdout if reply.stdout.endswith("\n") else reply.stdout + "\n")
        sys.stdout.flush()
    if reply.stderr:
        sys.stderr.write(f"mcp-arena hook {event}: {reply.stderr}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
