"""Claude Code's PostToolUse and PostToolUseFailure hooks over the arena's result shaper: every tool's output
logged, floods trimmed, failures logged as errors.

One payload in, at most one JSON object out. The payload is turned into a
`ToolOutput` (source `hook`) and passed to `Arena.shape_result`, the same call
path as the proxy: the call and the whole original output are logged (exact
tokens, files extracted into the artifact trail, searchable), text over its
budget is cut to head + marker + tail naming the page-back call
`memory_search(seq=N, page=K, session=…)`, and the skill pager decides the
guides. The hook prints something only when the host should see something
else than the tool's own output: the trimmed view, a guide, or both.

What Claude Code sends and takes (hooks reference, https://code.claude.com/docs/en/hooks,
and the threads cited; read 2026):

- Input, on stdin: `session_id`, `transcript_path`, `cwd`, `permission_mode`,
  `hook_event_name` ("PostToolUse"), `tool_name`, `tool_input`, `tool_response`,
  `tool_use_id`. PostToolUse fires only after a tool succeeded; a failed call
  fires `PostToolUseFailure` with `error` (the failure message, a string) and
  `is_interrupt` instead of `tool_response`. The error is logged as the call's
  failed result (exact tokens, searchable) and counts toward the pager's error
  reloads; the host shows the error itself and takes only `additionalContext`
  back (`{"hookSpecificOutput": {"hookEventName": "PostToolUseFailure",
  "additionalContext": …}}`), so a failure is never cut.
- `tool_response` has the tool's own shape, as the transcript's `toolUseResult`
  keeps it (tests/fixtures/corpus/claude-code): Bash `{stdout, stderr,
  interrupted, isImage, noOutputExpected[, backgroundTaskId]}`, and past ~30 KB
  of output the start only, with the whole in `persistedOutputPath`; Read
  `{type: "text", file: {filePath, content, numLines, startLine, totalLines}}`
  (the model sees `content` as `cat -n` does: `%6d→line`, numbered from
  `startLine` one line after another); Glob `{filenames,
  durationMs, numFiles, truncated}`; Grep `{mode, filenames, numFiles[, content,
  numLines]}`; WebFetch `{bytes, code, codeText, result, durationMs, url}`;
  WebSearch `{query, results: [{tool_use_id, content: [{title, url}]} link
  lists and summary strings], durationSeconds}`, which the model reads as
  `Web search results for query: "…"`, then `Links: [<compact JSON>]` per list
  and each summary, a blank line apart;
  Task `{content: [text blocks], …}`; Write `{type, filePath, content,
  structuredPatch, originalFile}`; Edit `{filePath, oldString, newString,
  structuredPatch, …}`; an MCP tool a list of content blocks.
- Output, on stdout with exit 0: `{"hookSpecificOutput": {"hookEventName":
  "PostToolUse", "updatedToolOutput": …, "additionalContext": …}}`.
  `updatedToolOutput` replaces any tool's output since v2.1.121 (changelog,
  anthropics/claude-code#54161); before, only MCP tools' through
  `updatedMCPToolOutput`, so an MCP replacement is sent under both names.
  The replacement must have the tool's own output shape: a bare string for
  Bash is dropped ("does not match Bash's output shape", anthropics/claude-code#68951;
  `{stdout, stderr, interrupted}` is applied), a Read replacement is the
  response with `file.content` changed (public Agent SDK tests), an MCP one is a
  list of content blocks (a non-list crashes the call, anthropics/claude-code#85631),
  and a Bash replacement must drop `persistedOutputPath`, or the persisted copy
  is shown instead. `additionalContext` is shown to the model right after the
  result, for every tool and version.

So the replacement is built per shape from the host's own response (never
invented): only the one text field changes. A shape with no text field
(Edit, Write, AskUserQuestion, …) or an unknown one is logged but never
trimmed (`ToolOutput.trimmable`), since the host could not be shown the cut.
Guides go in `additionalContext`, not into the replacement: that works for
every tool, the ones without a text field included, and leaves the output
itself unchanged when only a guide is due. Claude Code documents its own tools
in every request, so a skill covering one is paged briefly (one line naming
`load_skill`, once; `core.skills`); an MCP tool gets the whole guide. A cut
Read keeps the head only (`ToolOutput.numbered_from`): the host numbers the
replacement's lines one after another from `startLine`, so every kept line
shows its own number and the marker, as the next line, names the omitted
range; a tail after it would be shown under wrong numbers. A cut Glob or Grep
file list keeps the marker as one list entry and `numFiles` as it was. A cut
WebSearch goes back as one summary string in `results` (a shape the host's
results take), which the host prints after the same query line: the head
keeps the first links, the tail the summary.

Never shaped: the arena's own tools (`mcp__<server>__memory_search`, …; they
log themselves) and every tool of the arena's own server (a proxied upstream
tool is shaped by the proxy already). A hook never fails the host: bad input,
an unusable home, a locked or broken store end with exit 0, nothing on stdout,
the reason on stderr.

Where it stops: this module reads payloads and writes hook output, with an
arena it is given. The socket is `cli.hook_client` (client) and
`hook.listener` (server), the slow path without a server
`cli.post_tool_use`; the rules of trimming are `core/shape.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_arena.core.shape import Shaped, ToolOutput
from mcp_arena.core.tools import TOOL_NAMES
from mcp_arena.hook.wire import Reply

if TYPE_CHECKING:
    from mcp_arena.engine.arena import Arena

EVENT_NAME = "PostToolUse"
FAILURE_EVENT = "PostToolUseFailure"
EVENTS = (EVENT_NAME, FAILURE_EVENT)
SOURCE = "hook"
# Server names under which the arena itself is registered in Claude Code: all their tools
# are the arena's own or proxied by it, and both are logged by the server already.
ARENA_SERVERS = frozenset({"mcp-arena", "mcp_arena", "arena"})
# Claude Code's Bash hands over the start of a long output and persists the whole to a file.
PERSISTED_KEYS = ("persistedOutputPath", "persistedOutputSize")
MAX_PERSISTED_BYTES = 32 * 1024 * 1024
_MCP_NAME = re.compile(r"^mcp__(?P<server>.+?)__(?P<tool>.+)$")


class BadInput(ValueError):
    """The payload is not a PostToolUse call this hook can take."""


@dataclass(frozen=True)
class View:
    """The text of a tool response as the model reads it, and how to put a shown text back in the same shape."""

    text: str
    rebuild: Callable[[str], Any] | None = None  # None: the host cannot be given a cut view of it
    is_error: bool = False
    numbered_from: int | None = None  # the host numbers the lines of `text` one after another from this (Read)


@dataclass(frozen=True)
class HookCall:
    """One PostToolUse(Failure) payload, read: the session, where it ran, the output to shape and its view."""

    session: str
    cwd: str | None
    output: ToolOutput
    view: View
    is_mcp: bool
    event: str = EVENT_NAME


# -- reading the payload -------------------------------------------------------------------------


def parse_payload(raw: bytes) -> dict[str, Any]:
    """The payload as a JSON object; raises BadInput for anything else."""
    if not raw.strip():
        raise BadInput("empty input: expected the hook's JSON object on stdin")
    try:
        payload = json.loads(raw)
    except ValueError as exc:  # not JSON, or not UTF-8
        raise BadInput(f"the input is not JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise BadInput(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def read_call(payload: Mapping[str, Any]) -> HookCall | None:
    """The call to shape; None when it must not be shaped (the arena's own tools). Raises BadInput."""
    event = payload.get("hook_event_name", EVENT_NAME)
    if event not in EVENTS:
        raise BadInput(f"this hook handles {' and '.join(EVENTS)}, not {event!r}")
    session, tool = payload.get("session_id"), payload.get("tool_name")
    if not isinstance(session, str) or not session:
        raise BadInput("no session_id in the input")
    if not isinstance(tool, str) or not tool:
        raise BadInput("no tool_name in the input")
    response = None if event == FAILURE_EVENT else _response(payload)
    if is_arena_tool(tool):
        return None
    view = failure_view(payload) if event == FAILURE_EVENT else view_of(response)
    arguments = payload.get("tool_input")
    arguments = arguments if isinstance(arguments, dict) else ({} if arguments is None else {"input": arguments})
    call_id = payload.get("tool_use_id")
    is_mcp = tool.startswith("mcp__")
    output = ToolOutput(
        tool=tool,
        arguments=arguments,
        text=view.text,
        is_error=view.is_error,
        source=SOURCE,
        call_id=call_id if isinstance(call_id, str) else "",
        trimmable=view.rebuild is not None,
        numbered_from=view.numbered_from,
        brief_guides=not is_mcp,  # the host documents its own tools in every request
    )
    cwd = payload.get("cwd")
    return HookCall(session, cwd if isinstance(cwd, str) and cwd else None, output, view, is_mcp, event)


def _response(payload: Mapping[str, Any]) -> Any:
    if "tool_response" not in payload:
        raise BadInput("no tool_response in the input")
    return payload["tool_response"]


def failure_view(payload: Mapping[str, Any]) -> View:
    """PostToolUseFailure: the failure message as the call's failed result; never cut (the host shows its own)."""
    error = payload.get("error", payload.get("error_message"))
    if error is None:
        raise BadInput("no error in the PostToolUseFailure input")
    text = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False, sort_keys=True)
    if payload.get("is_interrupt") is True and not text:
        text = "interrupted"
    return View(text, is_error=True)


def is_arena_tool(tool: str) -> bool:
    """One of the arena's own tools, or any tool of the arena's server: logged by the server itself."""
    match = _MCP_NAME.match(tool)
    return match is not None and (match["tool"] in TOOL_NAMES or match["server"] in ARENA_SERVERS)


# -- the views, by the shape of the response -------------------------------------------------------


def view_of(response: Any) -> View:
    """The model's text of a tool response and how to rebuild it, chosen by shape (tools get renamed, shapes stay)."""
    if isinstance(response, str):
        return View(response, lambda shown: shown)
    if isinstance(response, list):
        return _blocks_view(response, lambda blocks: blocks)
    if not isinstance(response, dict):
        return View(json.dumps(response))
    for applies, view in _DICT_VIEWS:
        if applies(response):
            return view(response)
    return View(json.dumps(response, ensure_ascii=False, sort_keys=True), is_error=_flagged(response))


def _flagged(response: Mapping[str, Any]) -> bool:
    return bool(response.get("isError") or response.get("is_error"))


def _is_file_change(r: Mapping[str, Any]) -> bool:
    return isinstance(r.get("filePath"), str) and ("structuredPatch" in r or "oldString" in r or r.get("type") in ("create", "update"))


def _file_change_view(r: Mapping[str, Any]) -> View:
    """Edit, MultiEdit, Write: the host renders its own confirmation from the fields; nothing to cut."""
    verb = "created" if r.get("type") == "create" else "updated"
    return View(f"The file {r['filePath']} has been {verb}.", is_error=_flagged(r))


def _is_command(r: Mapping[str, Any]) -> bool:
    return isinstance(r.get("stdout"), str) or isinstance(r.get("stderr"), str)


def _command_view(r: Mapping[str, Any]) -> View:
    """Bash (and its background output): stdout, then stderr; the persisted whole when the host cut it."""
    if r.get("isImage"):
        return View("", is_error=_flagged(r))  # stdout holds an image's bytes: not text, never cut
    stdout, stderr = r.get("stdout") or "", r.get("stderr") or ""
    persisted = _persisted_output(r.get("persistedOutputPath"))
    if persisted is not None:
        stdout = persisted
    text = "\n".join(part for part in (stdout, stderr) if part)
    kept = {key: value for key, value in r.items() if key not in PERSISTED_KEYS}
    return View(text, lambda shown: {**kept, "stdout": shown, "stderr": ""}, is_error=bool(r.get("interrupted")) or _flagged(r))


def _persisted_output(path: Any) -> str | None:
    if not isinstance(path, str) or not path:
        return None
    try:
        with open(path, "rb") as persisted:
            return persisted.read(MAX_PERSISTED_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None


def _is_file_read(r: Mapping[str, Any]) -> bool:
    file = r.get("file")
    return r.get("type") == "text" and isinstance(file, dict) and isinstance(file.get("content"), str)


def _file_read_view(r: Mapping[str, Any]) -> View:
    """Read: the file's text (the host numbers its lines from `startLine`); the replacement changes
    `file.content` only, and a cut keeps the head only, so each kept line keeps its number."""
    file = r["file"]
    start = file.get("startLine")
    first = start if isinstance(start, int) and not isinstance(start, bool) and start >= 1 else 1
    return View(file["content"], lambda shown: {**r, "file": {**file, "content": shown}}, numbered_from=first)


def _has_blocks(r: Mapping[str, Any]) -> bool:
    return isinstance(r.get("content"), list)


def _nested_blocks_view(r: Mapping[str, Any]) -> View:
    """Task (a subagent's report) and results that wrap MCP content: `{content: [blocks], …}`."""
    view = _blocks_view(r["content"], lambda blocks: {**r, "content": blocks})
    return View(view.text, view.rebuild, is_error=_flagged(r))


def _has_text_field(key: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda r: isinstance(r.get(key), str)


def _text_field_view(key: str) -> Callable[[Mapping[str, Any]], View]:
    """Grep's `content` (content and count modes), WebFetch's `result`: one string field."""
    return lambda r: View(r[key], lambda shown: {**r, key: shown}, is_error=_flagged(r))


def _has_results(r: Mapping[str, Any]) -> bool:
    return isinstance(r.get("results"), list)


def _results_view(r: Mapping[str, Any]) -> View:
    """WebSearch: the query line, link lists and summaries as the host writes them for the model; a cut
    view goes back as one summary string in `results`, which the host prints after the same query line."""
    header = f'Web search results for query: "{r["query"]}"\n\n' if isinstance(r.get("query"), str) else ""
    body = "\n\n".join(part for part in map(_search_result_text, r["results"]) if part)
    return View(header + body, lambda shown: {**r, "results": [shown.removeprefix(header)]}, is_error=_flagged(r))


def _search_result_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    links = item.get("content") if isinstance(item, dict) else None
    if isinstance(links, list):
        return "Links: " + json.dumps(links, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def _has_filenames(r: Mapping[str, Any]) -> bool:
    names = r.get("filenames")
    return isinstance(names, list) and all(isinstance(name, str) for name in names)


def _filenames_view(r: Mapping[str, Any]) -> View:
    """Glob, Grep's files mode: one path a line; the cut list keeps the marker as a line and `numFiles` as it was."""
    return View("\n".join(r["filenames"]), lambda shown: {**r, "filenames": shown.split("\n")})


_DICT_VIEWS: tuple[tuple[Callable[[Mapping[str, Any]], bool], Callable[[Mapping[str, Any]], View]], ...] = (
    (_is_file_change, _file_change_view),  # before the text fields: Write's `content` is the file, not output
    (_is_command, _command_view),
    (_is_file_read, _file_read_view),
    (_has_blocks, _nested_blocks_view),
    (_has_text_field("content"), _text_field_view("content")),
    (_has_filenames, _filenames_view),
    (_has_text_field("result"), _text_field_view("result")),
    (_has_results, _results_view),
    (_has_text_field("output"), _text_field_view("output")),
)


def _blocks_view(blocks: list[Any], wrap: Callable[[list[Any]], Any]) -> View:
    """Content blocks: their text joined by newlines; a cut view puts one text block where the first stood."""
    texts = [i for i, block in enumerate(blocks) if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)]
    if not texts:
        return View("")  # images, resources: not text, never cut

    def rebuild(shown: str) -> Any:
        kept = [block for i, block in enumerate(blocks) if i == texts[0] or i not in texts]
        first = kept.index(blocks[texts[0]])
        kept[first] = {**blocks[texts[0]], "text": shown}
        return wrap(kept)

    return View("\n".join(blocks[i]["text"] for i in texts), rebuild)


# -- shaping ----------------------------------------------------------------------------------------


def shape(arena: Arena, call: HookCall) -> str:
    """Log and shape one call; the hook's stdout ("" when the host should keep the output as it is)."""
    session, _named = arena.resolve_session(call.session)  # a bad id raises before a session is made
    arena.ensure_session(session, origin=SOURCE)
    shaped = arena.shape_result(call.output, session=session, cwd=call.cwd)
    output = hook_output(shaped, call)
    return json.dumps(output, ensure_ascii=False) if output else ""


def hook_output(shaped: Shaped, call: HookCall) -> dict[str, Any] | None:
    """`hookSpecificOutput` with the replacement (when trimmed) and the guide (when due); None when neither."""
    specific: dict[str, Any] = {"hookEventName": call.event}
    if shaped.trimmed and call.view.rebuild is not None:
        replacement = call.view.rebuild(shaped.text)
        specific["updatedToolOutput"] = replacement
        if call.is_mcp:  # hosts before v2.1.121 replace MCP output under this name only
            specific["updatedMCPToolOutput"] = replacement
    if shaped.guide.strip():
        specific["additionalContext"] = shaped.guide.strip("\n")
    return {"hookSpecificOutput": specific} if len(specific) > 1 else None


def answer(raw: bytes, arena_of: Callable[[], Arena]) -> Reply:
    """The reply to one raw payload, with `arena_of()` giving the arena (the server's, or one made here)."""
    try:
        call = read_call(parse_payload(raw))
    except Exception as exc:  # noqa: BLE001 - a hook never fails the host: say why, change nothing
        return Reply("", reason(exc))
    return answer_call(call, arena_of)


def answer_call(call: HookCall | None, arena_of: Callable[[], Arena]) -> Reply:
    if call is None:
        return Reply("", "")  # the arena's own tool: it logged itself
    try:
        return Reply(shape(arena_of(), call), "")
    except Exception as exc:  # noqa: BLE001 - a locked or broken store, a bad home: the output stays as it is
        return Reply("", reason(exc))


def reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, BadInput) else f"{type(exc).__name__}: {exc}"
