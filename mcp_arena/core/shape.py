"""The result shaper's rules: which kind of output a tool returned, what budget it gets, and the trimmed result.

One shaper serves every path a tool result takes into the host's context (the
proxy in front of other MCP servers, Claude Code's PostToolUse hook). Per text
result:

    kind = classify(tool, arguments)                       # command, log, listing, web, file, other
    budget = budgets.tokens_for(kind, usage)               # graded by kind, tighter past stage 1
    trimmed = shape(text, tool, arguments, count, page_call, usage)   # None: leave it as is
    structured = shape_structured(structured, text, trimmed.text)
    meta = {META_KEY: trim_meta(seq, trimmed, page_call)}

Graded as the seeds' stage 3 grades by event kind: output the agent reads once
(command output, logs, listings) is cut harder than a file read that an edit
will quote from. Budgets are chosen on the public corpus
(`benchmarks/shape_corpus.py`, numbers beside each constant).

Only text is shaped. The caller passes the text of a result's text blocks;
images, audio and embedded resources are never cut (their bytes are not text a
head and tail can be taken from, and a host shows them by other means).

Where it stops: pure rules, no I/O. Logging the original (its seq), answering
the page call, attaching the guide and recording files are the engine's; the
cut itself and the page-back are `core/trim.py`. The caller must not shape the
arena's own results (a page of `memory_search` is already bounded, and
shaping it would ask for a page of a page).
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_arena.core.trim import MIN_BUDGET_TOKENS, CountTokens, Page, Trim, trim

KINDS = ("command", "log", "listing", "web", "file", "other")
META_KEY = "mcp-arena/trim"

@dataclass(frozen=True)
class ToolOutput:
    """One result of another server's tool as an adapter (proxy, hook) hands it to the engine."""

    tool: str  # the name the model called
    arguments: Mapping[str, Any]
    text: str  # the result's text blocks, joined by newlines: what is logged and may be trimmed
    is_error: bool = False
    source: str = "proxy"  # the feed: proxy | hook
    call_id: str = ""
    structured: Any = None  # structured content, if any
    has_output_schema: bool = False  # whether structured content must stay (and stay valid)
    trimmable: bool = True  # False: the adapter cannot show the host a cut view (logged whole, never trimmed)
    # The host numbers the lines it shows one after another, from this number (Claude Code's Read:
    # `file.startLine`); None: it does not. A cut keeps the head only, so that every number the
    # model sees is the file's own, and its marker names the omitted lines by those numbers.
    numbered_from: int | None = None
    # The host documents this tool itself (Claude Code's built-ins): a skill covering it is named
    # in one line, once, instead of its whole guide (`core.skills.Pager.decide(brief=True)`).
    brief_guides: bool = False


@dataclass(frozen=True)
class Shaped:
    """What the host should see of a `ToolOutput`, and where the original is logged."""

    session: str
    seq: int  # the result's seq in the log
    text: str  # the text to show: trimmed when it flooded, else the original
    trimmed: bool
    guide: str  # paged guides to put after the result ("" when none is due)
    structured: Any  # structured content shaped like the text (None when dropped)
    meta: dict[str, Any] | None  # `{META_KEY: ...}` when trimmed


def shown_structured(output: ToolOutput, trimmed: Trim | None) -> Any:
    """The structured content to show: as is when nothing was cut; shaped like the text when a schema
    requires it; dropped when no schema requires it (the text block carries the same content)."""
    if trimmed is None or output.structured is None:
        return output.structured
    if output.has_output_schema:
        return shape_structured(output.structured, output.text, trimmed.text)
    return None


# --- budgets ------------------------------------------------------------------
# Measured with `.venv/bin/python benchmarks/shape_corpus.py` on tests/fixtures/corpus:
# 276 distinct tool results of Claude Code, SWE-agent and OpenHands sessions, in
# o200k tokens, and `benchmarks/hook_bench.py` (the Claude Code sessions through
# the hook). A budget is what the model reads of one result before it has to ask
# for more; what is cut stays in the log, exact, and comes back with the call the
# marker names (`memory_search(seq=…, page=…)`, a page of PAGE_TOKENS at a time),
# or for a file read with the host's own Read(offset=…). Output read once to find
# a verdict or a name (commands, listings, searches, reports) gets budgets near
# its kind's p75–p90, so a typical result passes whole and the long tail is cut;
# a file read, which the next edit quotes from, gets the largest budget.
#
# command (n=75): p50 41, p90 327, p95 1,559, max 6,097 (`strings img | grep flag`).
# 1,000 (~60 lines) trims 5.3% of results and keeps out 44.4% of command tokens
# (2,000: 4.0% / 24.8%). The tail gets 60%: the verdict (exit status, test
# summary, the last traceback) sits at the end; the head keeps the command's
# first words (what ran, the first error). Claude Code itself cuts Bash output
# only at 30,000 characters (~7,500 tokens).
COMMAND_BUDGET = 1_000
# log: none in the corpus (`tail -f`, `docker logs`, `get_logs`); a log is
# command output without a verdict: the command budget, 70% tail (the latest lines).
LOG_BUDGET = 1_000
# listing (n=43): p50 53, p95 799 (`ls -l`), max 1,195 (`**/mix.exs` through a
# vendored deps/ tree). 500 (~40 paths, ~25 grep matches) trims 18.6% of
# listings and keeps out 28.9% of their tokens: a listing is scanned for a few
# names, and a cut one says to narrow the pattern (or page the rest back).
LISTING_BUDGET = 500
# web (n=26): p50 366, p95 704, max 855. Most are WebSearch results: a JSON list
# of links (~60% of the tokens) and then the summary that answers the query;
# WebFetch answers are already summaries (~250). 400 with 70% tail keeps the
# query, the first links and the summary, and cuts the rest of the link list:
# 34.6% of web results trimmed, 23.3% of their tokens kept out.
WEB_BUDGET = 400
# file (n=114): p50 149, p90 1,451, p95 2,244, p99 6,081, max 7,079 (OpenHands
# reading parser.c whole). 4,000 (~300–400 lines of code) trims 2.6% of reads
# and keeps out 10.9% of file tokens (2,000: 7.9% / 23.9%; 8,000: nothing). A
# read is what the next edit quotes; a cut Read keeps its head with the file's
# own line numbers and says which lines follow, for a Read(offset=…).
FILE_BUDGET = 4_000
# other (n=18: subagent reports, decompiler output, questions): p95 = max 2,755
# (a Task report). 2,000 trims 5.6% and keeps out 14.7%: a report longer than
# that keeps its start and its conclusion (60/40).
OTHER_BUDGET = 2_000
# Past stage 1 (Settings.stage1, 80% of the window) every budget halves, the
# seeds' stage 1 "soft trim of large tool results". Halved, the corpus loses
# 44.4% of command tokens (5.3% of results), 10.9% of file tokens (2.6%).
STAGE1_USAGE = 0.80
PRESSURE_FACTOR = 0.5
# One page of an omitted part: the largest flood here (6,097 tokens) comes back
# in 2 pages, a 40k-token dump in 10. Fixed, never graded by pressure: page N
# of one original must always be the same text.
PAGE_TOKENS = 4_000
# Command output and logs keep more tail than head: the verdict (test summary,
# traceback, "Successfully installed") and the latest lines sit at the end; so
# does a web search's summary, after its link lists. Everything else reads top-down.
HEAD_SHARES = {"command": 0.4, "log": 0.3, "web": 0.3}
DEFAULT_HEAD_SHARE = 0.6


def head_share(kind: str) -> float:
    """The share of a trimmed `kind` result's budget that goes to its head."""
    return HEAD_SHARES.get(kind, DEFAULT_HEAD_SHARE)


@dataclass(frozen=True)
class Budgets:
    """Token budgets of one shaped result, by kind, and how pressure tightens them."""

    command: int = COMMAND_BUDGET
    log: int = LOG_BUDGET
    listing: int = LISTING_BUDGET
    web: int = WEB_BUDGET
    file: int = FILE_BUDGET
    other: int = OTHER_BUDGET
    stage1: float = STAGE1_USAGE
    pressure_factor: float = PRESSURE_FACTOR

    def __post_init__(self) -> None:
        for kind in KINDS:
            if getattr(self, kind) < MIN_BUDGET_TOKENS:
                raise ValueError(f"the {kind} budget must be at least {MIN_BUDGET_TOKENS} tokens, got {getattr(self, kind)}")
        if not 0 < self.pressure_factor <= 1:
            raise ValueError(f"pressure_factor must be within (0, 1], got {self.pressure_factor}")

    def tokens_for(self, kind: str, usage: float | None = None) -> int:
        """The budget of a `kind` result at context `usage` (0..1, None when unknown)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        budget: int = getattr(self, kind)
        if usage is not None and usage >= self.stage1:
            budget = max(MIN_BUDGET_TOKENS, int(budget * self.pressure_factor))
        return budget


DEFAULT_BUDGETS = Budgets()


# --- classify -----------------------------------------------------------------
# Tools that run a shell command line: their kind is read from the command.
SHELL_TOOLS = (
    "bash", "shell", "run", "execute_bash", "execute_command", "run_command", "run_shell_command", "run_terminal_cmd",
    "terminal", "exec", "command", "bashoutput", "execute_ipython_cell", "ipython", "python",
)
# fnmatch globs of bare, lower-cased tool names, tried in this order: web
# before listing ("web_search"), log before command ("get_logs"), file before
# the catch-all command globs.
TOOL_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("web", ("webfetch", "websearch", "web_*", "*_web_*", "fetch", "fetch_*", "*_fetch", "browser_*", "*_url", "scrape*", "crawl*")),
    ("log", ("*logs", "*logs_*", "log", "*_log", "get_log*", "read_log*", "tail_log*", "journal*")),
    ("listing", (
        "grep", "glob", "ls", "find", "find_file", "find_files", "search_files", "search_file", "search_dir",
        "list_directory*", "directory_tree", "list_dir", "list_files", "list_allowed_directories", "file_search",
        "codebase_search", "search_code", "grep_*", "*_grep", "glob_*", "tree",
    )),
    ("file", (
        "read", "read_file", "read_text_file", "read_multiple_files", "get_file_contents", "view", "view_file", "cat",
        "notebookread", "open", "goto", "scroll_up", "scroll_down", "edit", "multiedit", "write", "write_file",
        "edit_file", "create", "insert", "append", "set_cursors", "str_replace_editor", "str_replace_based_edit_tool",
        "read_*_file", "*_read_file", "get_file*",
    )),
    ("command", SHELL_TOOLS),
    ("command", ("run_*", "execute_*", "exec_*", "*_exec", "shell_*", "terminal_*", "bash_*", "submit")),
)
COMMAND_ARGUMENTS = ("command", "cmd", "commands", "script")

# Shell words, by what the output of the command they start looks like.
FILE_READERS = frozenset({"cat", "head", "tail", "less", "more", "bat", "batcat", "nl", "tac", "xxd", "hexdump", "od"})
LISTERS = frozenset({"ls", "ll", "tree", "find", "fd", "fdfind", "locate", "du", "grep", "egrep", "fgrep", "rg", "ag", "ack"})
SEARCH_FILTERS = frozenset({"grep", "egrep", "fgrep", "rg", "ag", "ack"})
WEB_CLIENTS = frozenset({"curl", "wget", "http", "https", "lynx", "w3m"})
LOG_COMMANDS = frozenset({"journalctl", "dmesg"})
LOG_SUBCOMMANDS = frozenset({"logs", "log"})  # docker logs, kubectl logs, podman logs
PREFIX_WORDS = frozenset({"sudo", "time", "nohup", "nice", "command", "exec", "env", "stdbuf", "xargs"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_LOG_PATH = re.compile(r"(\.log(\.\d+)?$|/logs?/)")
_SEQUENCE_CHARS = frozenset(";&\n")
# Same namespace separators as `core.skills.bare_tool_name` ("mcp__fs__read_file",
# "fs/read_file", "fs.read_file", "fs:read_file"); kept here so that the hook,
# which runs once per tool call, does not import the skill catalog and YAML.
_NAMESPACE_SEPARATORS = re.compile(r"__|[/.:]")


def bare_tool_name(tool: str) -> str:
    """The tool name without a host or proxy namespace prefix."""
    parts = [part for part in _NAMESPACE_SEPARATORS.split(tool) if part]
    return parts[-1] if parts else tool


def classify(tool: str, arguments: Mapping[str, Any] | None = None) -> str:
    """The kind of output a call of `tool` returns: one of KINDS.

    By tool name (case-insensitive, namespace stripped); a shell tool's kind
    comes from its command (`cat f` is a file read, `ls` a listing, `curl` a
    web fetch, `tail -f x.log` a log, anything else command output).
    """
    name = bare_tool_name(tool).lower()
    kind = next((kind for kind, globs in TOOL_KINDS if any(fnmatch.fnmatchcase(name, glob) for glob in globs)), "other")
    if name in SHELL_TOOLS and isinstance(arguments, Mapping):
        command = _command_of(arguments)
        if command:
            return classify_command(command)
    return kind


def _command_of(arguments: Mapping[str, Any]) -> str:
    for key in COMMAND_ARGUMENTS:
        value = arguments.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
            return value[-1] if value[0] in ("bash", "sh", "zsh") and len(value) >= 3 else shlex.join(value)
    return ""


def classify_command(command: str) -> str:
    """The kind of a shell command line's output, read from its last statement.

    In a pipeline the first command makes the output (`pytest | tail` is command
    output), except that a search filter turns a file read into a listing
    (`cat f | grep x`).
    """
    statement = _last_statement(_shell_words(command))
    if not statement:
        return "command"
    pipeline = _split(statement, _is_pipe)
    kind = _simple_command_kind(pipeline[0])
    if kind == "file" and any(_verb(part)[0] in SEARCH_FILTERS for part in pipeline[1:]):
        return "listing"
    return kind


def _shell_words(command: str) -> list[str]:
    """Words and operators; `2>&1` gives `2`, `>&`, `1`, never a lone `&`."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>\n")
    lexer.whitespace = " \t\r"  # a newline is an operator: it ends a statement
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: read the words as they stand
        return command.replace("\n", " ; ").split()


def _is_sequence(word: str) -> bool:
    """`;`, `&&`, `||`, `&`, a newline (or a run of them): the end of a statement."""
    return word == "||" or (bool(word) and set(word) <= _SEQUENCE_CHARS)


def _is_pipe(word: str) -> bool:
    return word in ("|", "|&")


def _split(words: list[str], is_separator: Callable[[str], bool]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for word in words:
        if is_separator(word):
            parts.append([])
        else:
            parts[-1].append(word)
    return [part for part in parts if part]


def _last_statement(words: list[str]) -> list[str]:
    statements = _split(words, _is_sequence)
    return statements[-1] if statements else []


def _verb(words: list[str]) -> tuple[str, list[str]]:
    """The command word (basename, prefixes such as `sudo` and `VAR=x` skipped) and its arguments."""
    index = 0
    while index < len(words) and (words[index] in PREFIX_WORDS or _ASSIGNMENT.match(words[index])):
        index += 1
    if index >= len(words):
        return "", []
    return words[index].rsplit("/", 1)[-1].lower(), words[index + 1 :]


def _simple_command_kind(words: list[str]) -> str:
    verb, rest = _verb(words)
    operands = [word for word in rest if not word.startswith("-")]
    if verb in LOG_COMMANDS or (operands and operands[0] in LOG_SUBCOMMANDS and verb in ("docker", "kubectl", "podman")):
        return "log"
    if verb == "tail" and any(flag in rest for flag in ("-f", "-F", "--follow")):
        return "log"
    if verb in FILE_READERS or (verb == "sed" and "-n" in rest and "-i" not in rest):
        return "log" if any(_LOG_PATH.search(word) for word in operands) else "file"
    if verb in LISTERS or (verb == "git" and operands[:1] in (["grep"], ["ls-files"])):
        return "listing"
    if verb in WEB_CLIENTS:
        return "web"
    return "command"


# --- shape ----------------------------------------------------------------------


def shape(
    text: str,
    tool: str,
    arguments: Mapping[str, Any] | None,
    count_tokens: CountTokens,
    page_call: Mapping[str, Any],
    usage: float | None = None,
    budgets: Budgets = DEFAULT_BUDGETS,
    numbered_from: int | None = None,
) -> Trim | None:
    """The trimmed text result of one call of `tool`, or None when it is left as is.

    `page_call` (`{"tool": "memory_search", "arguments": {"seq": …, "page": 1}}`)
    is named in the marker; `usage` is the context's used fraction, None when unknown;
    `numbered_from` as in `ToolOutput`: the head only, the marker in the host's line numbers.
    """
    kind = classify(tool, arguments)
    budget = budgets.tokens_for(kind, usage)
    if numbered_from is not None:
        return trim(text, budget, count_tokens, page_call, keep_tail=False, line_offset=numbered_from - 1)
    return trim(text, budget, count_tokens, page_call, head_share=head_share(kind))


def shape_structured(structured: Any, original_text: str, shown_text: str) -> Any:
    """`structured` with every string equal to `original_text` replaced by `shown_text`, recursively.

    Structured content that repeats the text (the filesystem server's
    `{"content": "<file text>"}`) is trimmed the same way and still validates
    against the tool's output schema; nothing else changes. A new value is
    returned; the input is not modified.
    """
    if isinstance(structured, str):
        return shown_text if structured == original_text else structured
    if isinstance(structured, Mapping):
        return {key: shape_structured(value, original_text, shown_text) for key, value in structured.items()}
    if isinstance(structured, list):
        return [shape_structured(value, original_text, shown_text) for value in structured]
    return structured


# --- the _meta payload ---------------------------------------------------------


def trim_meta(seq: int, trimmed: Trim, page_call: Mapping[str, Any]) -> dict[str, Any]:
    """`_meta["mcp-arena/trim"]` of a trimmed result: where the original is logged and the call for page 1."""
    return {
        "seq": seq,
        "tokens": trimmed.tokens,
        "shown_tokens": trimmed.shown_tokens,
        "page": _call(page_call),
    }


def page_meta(seq: int, tokens: int, page: Page, next_call: Mapping[str, Any] | None) -> dict[str, Any]:
    """`_meta["mcp-arena/trim"]` of a page result: the same shape, with the call for the next page (none after the last)."""
    meta: dict[str, Any] = {"seq": seq, "tokens": tokens, "shown_tokens": page.tokens}
    if page.has_next and next_call is not None:
        meta["page"] = _call(next_call)
    return meta


def _call(call: Mapping[str, Any]) -> dict[str, Any]:
    return {"tool": str(call["tool"]), "arguments": dict(call.get("arguments") or {})}
