"""How a conversation divides, read from the events of any feed: model turns and user requests.

A turn is one model request. It opens with the first event of a main-thread
model response: an `assistant` event that is not a subagent's (a sidechain runs
in a context window of its own) and not one of Claude Code's synthetic error
messages (no request was made), whose `message_id` differs from the previous
turn's — Claude Code streams one response over several lines that share the
id. Formats without ids (SWE-agent, OpenHands) give every assistant event a
turn of its own.

A user request is a user event that asks the model for something: where a task
opens. See `is_user_request` for what is not one, each case seen in the
transcripts of `tests/fixtures/corpus`.

Pure: knows the meta keys the parsers write (`message_id`, `model`,
`sidechain`, `compact_summary`, `is_demo`), nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mcp_arena.core.events import EventDraft

SYNTHETIC_MODEL = "<synthetic>"  # Claude Code's own error messages, not an API response
# Text Claude Code writes in the user role that nobody typed as a request:
# "[Request interrupted by user]" (and "… for tool use"), and the plain-text
# caveat older versions put before a local command's output.
NOT_A_REQUEST = ("[Request interrupted", "Caveat:")
# What marks a user event as no request, whatever its text: a subagent's prompt
# (the main agent wrote it), the host's summary after a compaction, a SWE-agent
# demonstration (a worked example in the prompt).
NOT_A_REQUEST_FLAGS = ("sidechain", "compact_summary", "is_demo")


def is_model_response(draft: EventDraft, *, subagents: bool = False) -> bool:
    """An assistant event of a real model request; a subagent's only with `subagents`."""
    if draft.kind != "assistant" or draft.meta.get("model") == SYNTHETIC_MODEL:
        return False
    return subagents or not draft.meta.get("sidechain")


def opens_turn(draft: EventDraft, previous_message: Any) -> bool:
    """Whether `draft` opens a turn, given the `message_id` of the event that opened the previous one."""
    if not is_model_response(draft):
        return False
    message = draft.meta.get("message_id")
    return not message or message != previous_message


def turns(drafts: Iterable[EventDraft]) -> Iterator[list[EventDraft]]:
    """The events grouped into turns, each group ending with the event that opens a model response
    (the request's context is everything up to it); events after the last one form a last group."""
    pending: list[EventDraft] = []
    previous_message = None
    for draft in drafts:
        pending.append(draft)
        if opens_turn(draft, previous_message):
            previous_message = draft.meta.get("message_id")
            yield pending
            pending = []
    if pending:
        yield pending


def is_user_request(draft: EventDraft) -> bool:
    """A user event that asks the model for something.

    Not a request: the flagged events of `NOT_A_REQUEST_FLAGS`, the notices of
    `NOT_A_REQUEST`, and text that is only markup — Claude Code's records of a
    slash command (`<command-message>…</command-args>`) and of local commands
    (`<local-command-stdout>…`, `<local-command-caveat>…`). A slash command's
    expanded prompt (an `isMeta` line right after it) is a request: it is what
    the user asked for. Text that merely starts with a tag is one too (an
    OpenHands task opens with `<uploaded_files>…</uploaded_files>` and goes on
    in prose). Tool results are never requests: the parsers give them a kind
    of their own.
    """
    if draft.kind != "user" or any(draft.meta.get(flag) for flag in NOT_A_REQUEST_FLAGS):
        return False
    text = draft.text.strip()
    return bool(text) and not text.startswith(NOT_A_REQUEST) and not _only_markup(text)


def _only_markup(text: str) -> bool:
    return text.startswith("<") and text.endswith(">")
