"""What the PostToolUse hook's client and the server share: where the socket is, the reply's bytes, the limits.

Stdlib only (`os`, and `hashlib` / `platformdirs` only on the rare paths that
need them): the hook client imports this on every tool call, so nothing here
may pull in pydantic, LanceDB or even `json` (which brings `re`).

One request per connection: the client sends the payload bytes and shuts its
write side; the server answers `<n>\\n`, then n bytes of the hook's stdout, then
the text for stderr, all UTF-8, and closes.

Where it stops: no sockets are opened here; the client is `cli.hook_client`,
the server side `hook.listener`.
"""

from __future__ import annotations

import os

RUN_DIR = "run"
SOCKET_NAME = "hook.sock"
LOCK_NAME = "hook.lock"
HOME_VARIABLE = "MCP_ARENA_HOME"
# sun_path holds 108 bytes on Linux and 104 on macOS, the terminating NUL included.
MAX_SOCKET_PATH = 100
# A payload larger than this is refused whole (nothing logged, output unchanged):
# Claude Code itself persists Bash output past ~30 KB to a file and sends its start.
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
TOO_LARGE = f"payload over {MAX_PAYLOAD_BYTES:,} bytes: not logged, output left unchanged"


class Reply:
    """What the hook process prints: `stdout` for the host (JSON or ""), `stderr` for people."""

    __slots__ = ("stdout", "stderr")

    def __init__(self, stdout: str = "", stderr: str = "") -> None:
        self.stdout = stdout
        self.stderr = stderr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reply) and (self.stdout, self.stderr) == (other.stdout, other.stderr)

    def __hash__(self) -> int:
        return hash((self.stdout, self.stderr))

    def __repr__(self) -> str:
        return f"Reply(stdout={self.stdout!r}, stderr={self.stderr!r})"

    def encode(self) -> bytes:
        out = self.stdout.encode()
        return b"%d\n" % len(out) + out + self.stderr.encode()

    @classmethod
    def decode(cls, data: bytes) -> Reply:
        size, newline, rest = data.partition(b"\n")
        if not newline or not size.isdigit() or int(size) > len(rest):
            raise ValueError(f"expected <length>\\n<stdout><stderr>, got {data[:40]!r}")
        cut = int(size)
        return cls(rest[:cut].decode(), rest[cut:].decode(errors="replace"))


def resolve_home(flag: str | None = None) -> str:
    """The arena home as `Settings.home` resolves it: --home, else MCP_ARENA_HOME, else the platform's data folder."""
    home = flag or os.environ.get(HOME_VARIABLE)
    if not home:
        import platformdirs  # the same call as config.default_home, without pydantic

        home = platformdirs.user_data_dir("mcp-arena", appauthor=False)
    return os.path.abspath(os.path.expanduser(home))


def socket_path(home: str) -> str:
    """Where the server of `home` listens: `<home>/run/hook.sock`, or a short path in the temp folder
    (named by a digest of the home) when that one is too long for a Unix socket."""
    home = os.path.abspath(os.path.expanduser(home))
    path = os.path.join(home, RUN_DIR, SOCKET_NAME)
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    import hashlib

    digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:20]
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", f"mcp-arena-{os.getuid()}", f"{digest}.sock")
