"""The artifact trail: which files a session created, modified, read, deleted.

Two halves, both pure (no filesystem, no store):

1. Extraction — `extract(tool, arguments)` turns one tool call into the file
   actions it implies, through one table (`EXTRACTORS`, tool name -> function)
   that users extend with a setting (`extra_mappings`, see `validate_mappings`).
   Shell commands (Claude Code `Bash`, SWE-agent `bash`, OpenHands `run`) are
   read conservatively: only literal paths, never variables, globs or command
   substitutions.

   A call that writes a whole file (Write, write_file, `create`, `> f`, `touch`)
   is extracted as "created": from one call alone we cannot know whether the
   file existed. The trail decides: `fold` turns "created" into "modified" when
   it already knows the file exists (it was read, modified or created earlier).

2. The trail — `fold(records)` folds `ArtifactRecord`s into one `FileStatus` per
   path, and `index(statuses, path_glob, action)` groups them to answer
   "which files did we create, modify, only read, delete?".

Paths: POSIX only. `.`/`..` are collapsed; with `cwd`, a path inside it is made
relative to it, a path outside stays absolute; `cwd` itself is not a file.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_arena.core.summary import FileEntry

ACTIONS = ("created", "modified", "read", "deleted")
DIRECTORY_NOTE = "directory"


@dataclass(frozen=True)
class FileAction:
    path: str
    action: str  # created | modified | read | deleted
    note: str = ""  # e.g. "directory" for mkdir / create_directory


@dataclass
class EditorState:
    """The one piece of state extraction carries across calls: the file an
    editor has open (SWE-agent's `open`/`create` set it; `edit`, `insert` and
    `append` act on it). Mutable on purpose: pass the same object for every
    call of one session."""

    open_file: str | None = None


# ---------------------------------------------------------------- paths

_UNRESOLVABLE = re.compile(r"[$`*?\[\]{}\x00]")


def normalise_path(path: str, cwd: str | None = None) -> str | None:
    """The trail's key for `path`, or None when it is no usable file path."""
    if not isinstance(path, str):
        return None
    path = path.strip()
    if not path or "\x00" in path or "://" in path:
        return None
    if cwd:
        root = posixpath.normpath(cwd)
        absolute = posixpath.normpath(posixpath.join(root, path))
        if absolute == root:
            return None
        if root == "/" or absolute.startswith(root + "/"):
            return absolute[len(root) :].lstrip("/")
        return absolute
    normalised = posixpath.normpath(path)
    return None if normalised == "." else normalised


def _literal_path(token: str) -> bool:
    """A shell word we can take as a path: no expansion can change it."""
    return bool(token) and not _UNRESOLVABLE.search(token) and not token.startswith(("~", "-"))


# ---------------------------------------------------------------- shell commands

_SEPARATOR_CHARS = frozenset(";&|()\n")
_CREATE_REDIRECTS = frozenset({">", ">|", "&>"})
_APPEND_REDIRECTS = frozenset({">>", "&>>"})
_READ_REDIRECTS = frozenset({"<"})
_FD_BEFORE_REDIRECT = re.compile(r"(^|[\s;&|(])\d+(?=[<>])")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_PREFIX_WORDS = frozenset({"sudo", "nohup", "time", "exec", "command", "builtin", "then", "do", "else", "!", "{", "if", "while", "until", "elif"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_NON_FILES = ("/dev/",)


@dataclass(frozen=True)
class _Segment:
    argv: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...]  # (operator, target)


def shell_file_actions(command: str, *, cwd: str | None = None) -> list[FileAction]:
    """File actions of a shell command line; `cd <literal>` inside the line is
    followed (an unresolvable `cd` makes later relative paths unknown)."""
    segments = _segments(command)
    if segments is None:
        return []
    actions: list[FileAction] = []
    workdir: str | None = cwd or ""  # "" = relative to an unknown cwd; None = lost
    for segment in segments:
        if segment.argv[:1] == ("cd",):
            workdir = _change_dir(workdir, segment.argv[1:])
            continue
        raw = _segment_actions(segment)
        actions.extend(_resolve_all(raw, workdir, cwd))
    return actions


def _resolve_all(raw: list[FileAction], workdir: str | None, cwd: str | None) -> list[FileAction]:
    resolved = []
    for action in raw:
        if workdir is None and not action.path.startswith("/"):
            continue
        joined = posixpath.join(workdir or "", action.path)
        path = normalise_path(joined, cwd)
        if path and not joined.startswith(_NON_FILES):
            resolved.append(FileAction(path, action.action, action.note))
    return resolved


def _change_dir(workdir: str | None, args: tuple[str, ...]) -> str | None:
    if len(args) != 1 or not _literal_path(args[0]):
        return None
    target = args[0]
    if target.startswith("/"):
        return posixpath.normpath(target)
    return None if workdir is None else posixpath.normpath(posixpath.join(workdir, target))


def _segments(command: str) -> list[_Segment] | None:
    text = _FD_BEFORE_REDIRECT.sub(r"\1", _strip_heredoc_bodies(command))
    lexer = shlex.shlex(text, posix=True, punctuation_chars="".join(sorted(_SEPARATOR_CHARS | {"<", ">"})))
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: nothing here is certain
        return None
    segments: list[_Segment] = []
    argv: list[str] = []
    redirects: list[tuple[str, str]] = []
    pending_redirect: str | None = None
    for token in tokens:
        if pending_redirect is not None:
            redirects.append((pending_redirect, token))
            pending_redirect = None
        elif token and set(token) <= _SEPARATOR_CHARS:
            segments.append(_Segment(tuple(argv), tuple(redirects)))
            argv, redirects = [], []
        elif token and set(token) <= _SEPARATOR_CHARS | {"<", ">"}:
            pending_redirect = token
        else:
            argv.append(token)
    segments.append(_Segment(tuple(argv), tuple(redirects)))
    return [_strip_prefixes(s) for s in segments if s.argv or s.redirects]


def _strip_heredoc_bodies(command: str) -> str:
    kept: list[str] = []
    delimiter: str | None = None
    for line in command.split("\n"):
        if delimiter is not None:
            if line.strip() == delimiter:
                delimiter = None
            continue
        kept.append(line)
        match = _HEREDOC.search(line)
        if match:
            delimiter = match.group(2)
    return "\n".join(kept)


def _strip_prefixes(segment: _Segment) -> _Segment:
    argv = list(segment.argv)
    while argv and (argv[0] in _PREFIX_WORDS or _ASSIGNMENT.match(argv[0]) or argv[0] == "env"):
        argv.pop(0)
    if argv:
        argv[0] = posixpath.basename(argv[0]) if "/" in argv[0] else argv[0]
    return _Segment(tuple(argv), segment.redirects)


def _segment_actions(segment: _Segment) -> list[FileAction]:
    actions = [a for a in map(_redirect_action, segment.redirects) if a]
    if segment.argv and segment.argv[0] in _SHELL_COMMANDS:
        actions[:0] = _SHELL_COMMANDS[segment.argv[0]](list(segment.argv[1:]))
    return actions


def _redirect_action(redirect: tuple[str, str]) -> FileAction | None:
    operator, target = redirect
    if not _literal_path(target):
        return None
    if operator in _CREATE_REDIRECTS:
        return FileAction(target, "created")
    if operator in _APPEND_REDIRECTS:
        return FileAction(target, "modified")
    if operator in _READ_REDIRECTS:
        return FileAction(target, "read")
    return None  # >&, <<, <<< and friends: descriptors and inline text, not files


def _raw_operands(args: list[str], with_value: frozenset[str] = frozenset()) -> list[str]:
    """Non-option arguments (after `--`, everything); `-` (stdin) is no file."""
    operands: list[str] = []
    skip_next = options_done = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif options_done or not arg.startswith("-"):
            operands.append(arg)
        elif arg == "--":
            options_done = True
        elif arg in with_value:
            skip_next = True
    return operands


def _operands(args: list[str], with_value: frozenset[str] = frozenset()) -> list[str] | None:
    """Non-option arguments, or None if one is not a literal path (then the
    whole command is skipped rather than half-understood)."""
    operands = _raw_operands(args, with_value)
    return operands if all(_literal_path(op) for op in operands) else None


def _flags(args: list[str]) -> set[str]:
    flags: set[str] = set()
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("--"):
            flags.add(arg.split("=", 1)[0])
        elif arg.startswith("-") and len(arg) > 1:
            flags.update("-" + ch for ch in arg[1:])
    return flags


def _each(action: str, note: str = "", with_value: frozenset[str] = frozenset()) -> Callable[[list[str]], list[FileAction]]:
    def extractor(args: list[str]) -> list[FileAction]:
        return [FileAction(op, action, note) for op in _operands(args, with_value) or []]

    return extractor


def _rm(args: list[str]) -> list[FileAction]:
    return [FileAction(op, "deleted") for op in _operands(args) or []]


def _touch(args: list[str]) -> list[FileAction]:
    if "-c" in _flags(args) or "--no-create" in _flags(args):
        return []
    return _each("created", with_value=frozenset({"-d", "-t", "-r", "--date", "--reference"}))(args)


def _transfer(source_action: str) -> Callable[[list[str]], list[FileAction]]:
    """mv (source deleted) and cp (source read): the last operand is the target."""

    def extractor(args: list[str]) -> list[FileAction]:
        if {"-t", "--target-directory"} & _flags(args):
            return []
        operands = _operands(args, frozenset({"-S", "--suffix"}))
        if not operands or len(operands) < 2:
            return []
        *sources, target = operands
        into_dir = len(sources) > 1 or target.endswith("/") or target in (".", "..")
        actions = []
        for source in sources:
            destination = posixpath.join(target, posixpath.basename(source.rstrip("/"))) if into_dir else target
            actions += [FileAction(source, source_action), FileAction(destination, "created")]
        return actions

    return extractor


_SED_VALUE_FLAGS = frozenset({"-e", "-f", "--expression", "--file", "-l", "--line-length"})


def _sed(args: list[str]) -> list[FileAction]:
    in_place = False
    script_given = False
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("--"):
            in_place |= arg.split("=", 1)[0] == "--in-place"
            script_given |= arg.split("=", 1)[0] in ("--expression", "--file")
        elif arg.startswith("-"):
            cluster = arg[1:].split("i", 1)  # after `i` comes the backup suffix, not flags
            in_place |= len(cluster) == 2
            script_given |= "e" in cluster[0] or "f" in cluster[0]
    operands = _raw_operands(args, _SED_VALUE_FLAGS)
    files = operands if script_given else operands[1:]  # the script often holds `$`, `*`, `[`
    if not all(_literal_path(f) for f in files):
        return []
    return [FileAction(f, "modified" if in_place else "read") for f in files]


def _head_tail(args: list[str]) -> list[FileAction]:
    return _each("read", with_value=frozenset({"-n", "-c", "--lines", "--bytes"}))(args)


def _tee(args: list[str]) -> list[FileAction]:
    action = "modified" if {"-a", "--append"} & _flags(args) else "created"
    return _each(action)(args)


def _git(args: list[str]) -> list[FileAction]:
    if not args or args[0].startswith("-"):
        return []  # global options such as -C change what paths mean
    sub, rest = args[0], args[1:]
    if sub == "mv":
        return _transfer("deleted")(rest)
    if sub == "rm":
        return [] if "--cached" in _flags(rest) else _rm(rest)
    if sub == "restore" and "--staged" not in _flags(rest) and "-s" not in _flags(rest) and "--source" not in _flags(rest):
        return _each("modified")(rest)
    if sub == "checkout" and "--" in rest:
        return _each("modified")(rest[rest.index("--") :])
    return []


_SHELL_COMMANDS: dict[str, Callable[[list[str]], list[FileAction]]] = {
    "rm": _rm,
    "rmdir": _each("deleted", DIRECTORY_NOTE),
    "mv": _transfer("deleted"),
    "cp": _transfer("read"),
    "touch": _touch,
    "mkdir": _each("created", DIRECTORY_NOTE, frozenset({"-m", "--mode"})),
    "sed": _sed,
    "tee": _tee,
    "cat": _each("read"),
    "nl": _each("read"),
    "tac": _each("read"),
    "less": _each("read"),
    "more": _each("read"),
    "head": _head_tail,
    "tail": _head_tail,
    "git": _git,
}


# ---------------------------------------------------------------- tool extractors

Extractor = Callable[[Mapping[str, Any], "ExtractContext"], list[FileAction]]


@dataclass(frozen=True)
class ExtractContext:
    cwd: str | None
    state: EditorState


def _path_arg(name: str, action: str, note: str = "") -> Extractor:
    def extractor(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
        return _actions_for(arguments.get(name), action, ctx, note)

    return extractor


def _actions_for(value: Any, action: str, ctx: ExtractContext, note: str = "") -> list[FileAction]:
    values = value if isinstance(value, (list, tuple)) else [value]
    paths = [normalise_path(v, ctx.cwd) for v in values if isinstance(v, str)]
    return [FileAction(p, action, note) for p in paths if p]


def _shell(arg: str) -> Extractor:
    def extractor(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
        command = arguments.get(arg)
        return shell_file_actions(command, cwd=ctx.cwd) if isinstance(command, str) else []

    return extractor


_EDITOR_COMMANDS = {
    "view": "read",
    "create": "created",
    "str_replace": "modified",
    "insert": "modified",
    "undo_edit": "modified",
    "write": "created",
    "edit": "modified",
}
_TRANSLATED_COMMAND = re.compile(r"""['"]command['"]\s*:\s*['"](\w+)['"]""")


def _editor(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
    """str_replace_editor / Anthropic's text editor / OpenHands `edit`."""
    command = arguments.get("command")
    if not isinstance(command, str):
        # Older OpenHands events keep the command only in the code they ran.
        found = _TRANSLATED_COMMAND.search(str(arguments.get("translated_ipython_code", "")))
        command = found.group(1) if found else "edit"
    action = _EDITOR_COMMANDS.get(command)
    return _actions_for(arguments.get("path"), action, ctx) if action else []


def _swe_open(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
    actions = _actions_for(arguments.get("path") or arguments.get("filename"), "read", ctx)
    if actions:
        ctx.state.open_file = actions[0].path
    return actions


def _swe_create(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
    actions = _actions_for(arguments.get("filename") or arguments.get("path"), "created", ctx)
    if actions:
        ctx.state.open_file = actions[0].path
    return actions


def _on_open_file(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
    open_file = ctx.state.open_file
    return [FileAction(open_file, "modified")] if open_file else []


def _swe_edit(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
    # Same tool name, two agents: OpenHands' `edit` names its file, SWE-agent's edits the open one.
    return _editor(arguments, ctx) if "path" in arguments else _on_open_file(arguments, ctx)


def _move(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
    return _actions_for(arguments.get("source"), "deleted", ctx) + _actions_for(
        arguments.get("destination"), "created", ctx
    )


def _edit_file(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
    action = "read" if arguments.get("dryRun") is True else "modified"  # a dry run only shows the diff
    return _actions_for(arguments.get("path"), action, ctx)


EXTRACTORS: dict[str, Extractor] = {
    # Claude Code
    "Read": _path_arg("file_path", "read"),
    "Write": _path_arg("file_path", "created"),
    "Edit": _path_arg("file_path", "modified"),
    "MultiEdit": _path_arg("file_path", "modified"),
    "NotebookEdit": _path_arg("notebook_path", "modified"),
    "NotebookRead": _path_arg("notebook_path", "read"),
    "Bash": _shell("command"),
    # the reference filesystem MCP server
    "read_file": _path_arg("path", "read"),
    "read_text_file": _path_arg("path", "read"),
    "read_media_file": _path_arg("path", "read"),
    "read_multiple_files": _path_arg("paths", "read"),
    "write_file": _path_arg("path", "created"),
    "edit_file": _edit_file,
    "create_directory": _path_arg("path", "created", DIRECTORY_NOTE),
    "move_file": _move,
    # SWE-agent (function calling and the older command language)
    "str_replace_editor": _editor,
    "str_replace_based_edit_tool": _editor,
    "open": _swe_open,
    "create": _swe_create,
    "edit": _swe_edit,
    "insert": _on_open_file,
    "append": _on_open_file,
    "bash": _shell("command"),
    # OpenHands actions and function names
    "read": _path_arg("path", "read"),
    "write": _path_arg("path", "created"),
    "run": _shell("command"),
    "execute_bash": _shell("command"),
}


# ---------------------------------------------------------------- user mappings


def validate_mappings(extra_mappings: Mapping[str, Any] | None) -> dict[str, Extractor]:
    """Turn the `extra_mappings` setting into extractors, or raise ValueError.

    Shape, one entry per tool name (the name the host shows, or the bare tool
    name of an `mcp__<server>__<tool>` name):

        {"my_write_tool": {"path_arg": "file", "action": "modified"},
         "my_reader":     {"path_arg": ["src", "paths"], "action": "read"},
         "my_shell":      {"shell_arg": "cmd"},
         "fs__write":     {"like": "write_file"},
         "open":          {"ignore": true}}

    - `path_arg` (a name or a list of names) + `action` (created | modified |
      read | deleted): each named argument holds a path or a list of paths;
    - `shell_arg`: the named argument is a shell command line, read like Bash;
    - `like`: behave exactly as a built-in tool of `EXTRACTORS`;
    - `ignore: true`: no file actions (silences a built-in whose generic name,
      such as `open` or `run`, a proxied server uses for something else).
    A user mapping takes precedence over a built-in of the same name.
    """
    extractors: dict[str, Extractor] = {}
    for tool, spec in (extra_mappings or {}).items():
        extractors[tool] = _mapping_extractor(tool, spec)
    return extractors


def _mapping_extractor(tool: str, spec: Any) -> Extractor:
    where = f"extra_mappings[{tool!r}]"
    if not isinstance(tool, str) or not tool or not isinstance(spec, Mapping):
        raise ValueError(f"{where} must map a tool name to an object such as "
                         '{"path_arg": "file", "action": "modified"}')
    keys = set(spec)
    if keys == {"like"}:
        if spec["like"] not in EXTRACTORS:
            raise ValueError(f"{where}: 'like' names no built-in tool; use one of {', '.join(sorted(EXTRACTORS))}")
        return EXTRACTORS[spec["like"]]
    if keys == {"ignore"} and spec["ignore"] is True:
        return lambda arguments, ctx: []
    if keys == {"shell_arg"} and isinstance(spec["shell_arg"], str):
        return _shell(spec["shell_arg"])
    if keys == {"path_arg", "action"}:
        names = [spec["path_arg"]] if isinstance(spec["path_arg"], str) else spec["path_arg"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"{where}: 'path_arg' must be an argument name or a list of names")
        if spec["action"] not in ACTIONS:
            raise ValueError(f"{where}: 'action' must be one of {', '.join(ACTIONS)}, not {spec['action']!r}")
        return _multi_path_arg(names, spec["action"])
    raise ValueError(
        f"{where} has keys {sorted(keys)}; use path_arg + action, or shell_arg, or like, or ignore: true"
    )


def _multi_path_arg(names: list[str], action: str) -> Extractor:
    def extractor(arguments: Mapping[str, Any], ctx: ExtractContext) -> list[FileAction]:
        return [a for name in names for a in _actions_for(arguments.get(name), action, ctx)]

    return extractor


# ---------------------------------------------------------------- extract


def extract(
    tool: str,
    arguments: Mapping[str, Any] | None,
    *,
    cwd: str | None = None,
    extra_mappings: Mapping[str, Any] | None = None,
    state: EditorState | None = None,
) -> list[FileAction]:
    """The file actions one tool call implies, in call order (a repeat of the same path's previous action dropped).

    Unknown tools give []. `state` carries SWE-agent's open file across calls
    (without it, `edit`/`insert` on the open file cannot be attributed).
    Validate `extra_mappings` once with `validate_mappings` at startup; here an
    invalid mapping raises the same ValueError."""
    extractor = _lookup(tool, validate_mappings(extra_mappings))
    if extractor is None or not isinstance(arguments, Mapping):
        return []
    context = ExtractContext(cwd=posixpath.normpath(cwd) if cwd else None, state=state or EditorState())
    return _drop_repeats(extractor(arguments, context))


def _drop_repeats(actions: list[FileAction]) -> list[FileAction]:
    """Drop an action that repeats the previous one on the same path (`cat a b a`);
    `touch a; rm a; touch a` keeps all three."""
    latest: dict[str, FileAction] = {}
    kept = []
    for action in actions:
        if latest.get(action.path) != action:
            kept.append(action)
        latest[action.path] = action
    return kept


def _lookup(tool: str, user_extractors: Mapping[str, Extractor]) -> Extractor | None:
    for name in (tool, tool.rsplit("__", 1)[-1] if tool.startswith("mcp__") else None):
        if name and name in user_extractors:
            return user_extractors[name]
        if name and name in EXTRACTORS:
            return EXTRACTORS[name]
    return None


_SWE_EDITOR_WORDS = {"open": "path", "create": "filename"}
_SWE_CURSOR_EDITS = frozenset({"edit", "insert", "append"})


def split_swe_agent_action(action: str) -> tuple[str, dict[str, Any]]:
    """An old-style SWE-agent action string (`open "a.py" 12`, `create b.py`,
    `edit 1:3\\n...\\nend_of_edit`, `python x.py`) as (tool, arguments) for
    `extract`. Anything not an editor command is a `bash` command."""
    first_line = action.strip().split("\n", 1)[0]
    try:
        words = shlex.split(first_line)
    except ValueError:
        words = first_line.split()
    if words and words[0] in _SWE_EDITOR_WORDS and len(words) >= 2:
        return words[0], {_SWE_EDITOR_WORDS[words[0]]: words[1]}
    if words and words[0] in _SWE_CURSOR_EDITS:
        return words[0], {}
    if words and words[0] in {"goto", "scroll_up", "scroll_down", "search_file", "search_dir", "find_file", "submit", "set_cursors"}:
        return words[0], {}
    return "bash", {"command": action}


# ---------------------------------------------------------------- the trail


@dataclass(frozen=True)
class ArtifactRecord:
    path: str
    action: str
    seq: int
    note: str = ""
    source: str = "self"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"artifact action {self.action!r} is not one of {', '.join(ACTIONS)}")


@dataclass(frozen=True)
class FileStatus:
    """What the session did to one file.

    `state` is the net effect: "created" (new in this session and still there),
    "modified" (existed before and was changed), "read" (only read), "deleted"
    (gone at the end). `actions` are the resolved actions seen, in canonical
    order — a Write on a file the trail knew counts as "modified".
    `new_in_session` tells a file created then deleted ("created then deleted")
    from a pre-existing file that was deleted."""

    path: str
    state: str
    actions: tuple[str, ...]
    seqs: tuple[int, ...]
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    new_in_session: bool = False

    @property
    def label(self) -> str:
        if self.state == "deleted" and self.new_in_session:
            return "created then deleted"
        return self.state


def fold(records: Iterable[ArtifactRecord]) -> dict[str, FileStatus]:
    """One FileStatus per path, from records in any order (folded by seq; the
    result is sorted by path). Deleting a path also deletes every known path
    under it (`rm -rf build` removes `build/out.o`), noted as such."""
    by_path: dict[str, list[ArtifactRecord]] = {}
    for record in sorted(records, key=lambda r: (r.seq, r.path)):
        for affected in _with_descendants(record, by_path):
            by_path.setdefault(affected.path, []).append(affected)
    return {path: _fold_one(path, by_path[path]) for path in sorted(by_path)}


def _with_descendants(record: ArtifactRecord, known: Mapping[str, list[ArtifactRecord]]) -> list[ArtifactRecord]:
    if record.action != "deleted":
        return [record]
    prefix = record.path.rstrip("/") + "/"
    return [record] + [
        ArtifactRecord(path, "deleted", record.seq, f"deleted with {record.path}", record.source)
        for path, history in known.items()
        if path.startswith(prefix) and history[-1].action != "deleted"
    ]


def _fold_one(path: str, records: list[ArtifactRecord]) -> FileStatus:
    new_in_session = records[0].action == "created"
    exists = False
    changed = False
    actions: set[str] = set()
    for record in records:
        action = _resolved(record, exists)
        if action is None:
            continue
        actions.add(action)
        changed = changed or action != "read"
        exists = action != "deleted"
    if not changed:
        state = "read"
    elif not exists:
        state = "deleted"
    else:
        state = "created" if new_in_session else "modified"
    return FileStatus(
        path=path,
        state=state,
        actions=tuple(a for a in ACTIONS if a in actions),
        seqs=tuple(dict.fromkeys(r.seq for r in records)),
        notes=tuple(dict.fromkeys(r.note for r in records if r.note)),
        sources=tuple(sorted({r.source for r in records})),
        new_in_session=new_in_session,
    )


def _resolved(record: ArtifactRecord, exists: bool) -> str | None:
    """A whole-file write of a file the trail knows exists overwrites it, so it
    modifies it; `mkdir -p` of an existing directory changes nothing."""
    if record.action == "created" and exists:
        return None if record.note == DIRECTORY_NOTE else "modified"
    return record.action


@dataclass(frozen=True)
class TrailIndex:
    """The trail grouped by net state; each group sorted by path."""

    created: tuple[FileStatus, ...] = ()
    modified: tuple[FileStatus, ...] = ()
    read_only: tuple[FileStatus, ...] = ()
    deleted: tuple[FileStatus, ...] = ()

    def groups(self) -> tuple[tuple[str, tuple[FileStatus, ...]], ...]:
        return (("created", self.created), ("modified", self.modified),
                ("read only", self.read_only), ("deleted", self.deleted))

    @property
    def count(self) -> int:
        return sum(len(files) for _, files in self.groups())


MAX_GLOB_LENGTH = 512
_GLOB_EXAMPLE = "'src/**/*.py' or '*.md'"


def validate_glob(path_glob: str) -> str:
    if not isinstance(path_glob, str) or not path_glob.strip():
        raise ValueError(f"path_glob is empty; pass a pattern such as {_GLOB_EXAMPLE}, or omit it to list every file")
    if "\x00" in path_glob:
        raise ValueError(f"path_glob contains a NUL character; pass a plain pattern such as {_GLOB_EXAMPLE}")
    if len(path_glob) > MAX_GLOB_LENGTH:
        raise ValueError(
            f"path_glob is {len(path_glob)} characters (limit {MAX_GLOB_LENGTH}); "
            f"pass a shorter pattern such as {_GLOB_EXAMPLE}"
        )
    if path_glob.count("[") != path_glob.count("]"):
        raise ValueError(f"path_glob {path_glob!r} has an unclosed '['; close it or escape it as '[[]'")
    return path_glob.strip()


def glob_to_regex(path_glob: str) -> re.Pattern[str]:
    """`**` spans directories, `*` and `?` stay within one, `[...]` is a class.
    A pattern without `/` matches the file name in any directory."""
    pattern = validate_glob(path_glob)
    if "/" not in pattern:
        pattern = "**/" + pattern
    parts, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            negated = body.startswith("!")
            body = body[1:] if negated else body
            parts.append("[" + ("^" if negated else "") + ("\\" + body if body.startswith("^") else body) + "]")
            i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


_GROUP_BY_ACTION = {"created": "created", "modified": "modified", "read": "read_only", "deleted": "deleted"}


def index(
    statuses: Mapping[str, FileStatus], path_glob: str | None = None, action: str | None = None
) -> TrailIndex:
    """Group the trail by net state. `action` keeps one group ("read" means
    only read); `path_glob` keeps matching paths (leading "/" of absolute paths
    is matched literally)."""
    if action is not None and action not in _GROUP_BY_ACTION:
        raise ValueError(f"action {action!r} is not one of {', '.join(ACTIONS)}; omit it to see every group")
    matcher = glob_to_regex(path_glob) if path_glob is not None else None
    groups: dict[str, list[FileStatus]] = {name: [] for name in _GROUP_BY_ACTION.values()}
    for path in sorted(statuses):
        status = statuses[path]
        if matcher and not matcher.match(path.lstrip("/") if not path_glob.startswith("/") else path):
            continue
        if action is None or status.state == action:
            groups[_GROUP_BY_ACTION[status.state]].append(status)
    return TrailIndex(**{name: tuple(files) for name, files in groups.items()})


def render_index(trail: TrailIndex) -> str:
    """Deterministic text of the index; empty groups are listed as "(none)" so
    the answer to "did we create anything?" is explicit."""
    lines: list[str] = []
    for name, files in trail.groups():
        lines.append(f"{name} ({len(files)}):")
        lines.extend(_render_status(status) for status in files)
        if not files:
            lines.append("- (none)")
    return "\n".join(lines) + "\n"


def _render_status(status: FileStatus) -> str:
    details = [status.label] if status.label != status.state else []
    if len(status.actions) > 1:
        details.append(", ".join(status.actions))
    details.extend(status.notes)
    seqs = ", ".join(map(str, status.seqs))
    suffix = f" — {'; '.join(details)}" if details else ""
    return f"- {status.path}{suffix} (seq {seqs})"


def summary_entries(statuses: Mapping[str, FileStatus]) -> list[FileEntry]:
    """The files a Files Modified section must list (all but read-only), in
    order of first touch, for `summary.merge(..., trail_files=...)`."""
    changed = [s for s in statuses.values() if s.state != "read"]
    changed.sort(key=lambda s: (s.seqs[0] if s.seqs else 0, s.path))
    return [
        FileEntry(
            path=s.path,
            action=s.state,
            note="; ".join(([s.label] if s.label != s.state else []) + list(s.notes)),
        )
        for s in changed
    ]
