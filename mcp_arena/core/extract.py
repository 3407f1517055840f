"""Tool call -> file actions: which files one call of a tool creates, modifies, reads, deletes.

Pure (no filesystem, no store). `extract(tool, arguments)` turns one tool call
into the file actions it implies, through one table (`EXTRACTORS`, tool name ->
function) that users extend with a setting (`extra_mappings`, see
`validate_mappings`). Shell commands (Claude Code `Bash`, SWE-agent `bash`,
OpenHands `run`) are read conservatively: only literal paths, never variables,
globs or command substitutions. Old-style SWE-agent action strings reach it
already split into (tool, arguments) by the feed (`feeds.swe_agent.parse_action`).

A call that writes a whole file (Write, write_file, `create`, `> f`, `touch`)
is extracted as "created": from one call alone we cannot know whether the file
existed. The trail (`artifacts.fold`) decides: it turns "created" into
"modified" when it already knows the file exists.

Paths: POSIX only. `.`/`..` are collapsed; with `cwd`, a path inside it is made
relative to it, a path outside stays absolute; `cwd` itself is not a file.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
    for name in (tool, tool.rsplit("__", 1)[-1] if "__" in tool else None):  # mcp__server__tool, proxy prefix__tool
        if name and name in user_extractors:
            return user_extractors[name]
        if name and name in EXTRACTORS:
            return EXTRACTORS[name]
    return None
