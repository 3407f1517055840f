"""The PostToolUse hook's slow path: the adapter with an arena opened in the hook's own process.

The hook's work is `hook.adapter` (payload in, shaped output out) on the
arena of the running server, reached over its socket (`cli.hook_client`). This
module is what runs when no server listens: it reads the payload first (bad
input costs no LanceDB import), then opens the home's arena in this process,
without the embedding model and without a transcript, shapes the call the same
way and closes it. A run here takes seconds; nothing is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_arena.hook.adapter import answer_call, parse_payload, read_call, reason
from mcp_arena.hook.wire import Reply

if TYPE_CHECKING:
    from mcp_arena.engine.arena import Arena


def run_in_process(raw: bytes, home: str) -> Reply:
    """The slow path, when no server listens: read the payload first (cheap), then open the arena here."""
    try:
        call = read_call(parse_payload(raw))
    except Exception as exc:  # noqa: BLE001 - bad input: say why, change nothing
        return Reply("", reason(exc))
    opened: list[Arena] = []

    def arena_of() -> Arena:
        from mcp_arena.config import Settings
        from mcp_arena.engine.arena import Arena

        opened.append(Arena(Settings(home=home).model_copy(update={"semantic": False, "transcript": ""})))
        return opened[0]

    try:
        return answer_call(call, arena_of)
    finally:
        for arena in opened:
            arena.close()

