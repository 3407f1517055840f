"""Every upstream of a file, started together, and the one tool list the arena re-exports.

    async with UpstreamPool(load_upstreams(path), options) as pool:   # starts them, returns at once
        tools = await pool.wait_ready()        # every first start is over: the list is fixed
        result = await pool.call(name, arguments, on_progress=...)

The naming rule (`export_names`): an upstream tool keeps its own name unless another
upstream lists the same name, or the name is one of the arena's own tools; then it is
`<prefix>__<name>`, where the prefix is the server's key reduced to letters, digits, `_`
and `-` (`prefix_of`). Order is the file's, then each server's listing order. The list is
computed once, when every server's first start is over; a server that failed to start
exports nothing, and a later change upstream never changes it (a host's tool list is its
system prompt). Each exported tool is the upstream's `Tool` with only the name changed:
description, input and output schema, annotations, title, icons and `_meta` pass as they are.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import anyio
import anyio.abc
import mcp.types as types

from mcp_arena.proxy.config import LocalServer, RemoteServer, load_upstreams, prefix_of
from mcp_arena.proxy.errors import UnknownProxiedTool
from mcp_arena.proxy.secrets import RedactingFilter
from mcp_arena.proxy.upstream import ProgressFn, Upstream, UpstreamOptions, UpstreamStatus

logger = logging.getLogger("mcp_arena.proxy")

ARENA_TOOLS = frozenset({"context_status", "tag", "squash", "load_skill", "memory_search", "artifact_index"})
SEPARATOR = "__"
CLOSE_GRACE = 5.0  # seconds the upstreams get to close; the SDK's stdio shutdown alone may take up to 2 + 2 s


@dataclass(frozen=True)
class ExportedTool:
    name: str  # the name the host sees
    server: str  # the upstream's key
    original: str  # the upstream's own name for it
    tool: types.Tool  # the upstream's definition, renamed to `name`


def export_names(listings: Sequence[tuple[str, Sequence[str]]], reserved: Iterable[str] = ARENA_TOOLS) -> dict[tuple[str, str], str]:
    """(server key, tool name) -> exported name, by the rule in the module docstring."""
    taken = set(reserved)
    shared = Counter(name for _key, names in listings for name in set(names))
    exported: dict[tuple[str, str], str] = {}
    for key, names in listings:
        for name in names:
            plain = shared[name] == 1 and name not in taken
            final = name if plain else f"{prefix_of(key)}{SEPARATOR}{name}"
            if final in taken:  # only when a server itself lists a name like "<prefix>__<name>"
                continue
            taken.add(final)
            exported[(key, name)] = final
    return exported


class UpstreamPool:
    """All upstream servers of one file. Enter it in the server's lifespan; leave it to close them all."""

    def __init__(self, specs: Sequence[LocalServer | RemoteServer], options: UpstreamOptions | None = None, *, reserved: Iterable[str] = ARENA_TOOLS):
        self.upstreams = [Upstream(spec, options) for spec in specs]
        self._reserved = frozenset(reserved)
        self._by_key = {upstream.key: upstream for upstream in self.upstreams}
        self._exported: dict[str, ExportedTool] | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._redacting = RedactingFilter(secret for spec in specs for secret in spec.secrets)

    @classmethod
    def from_file(cls, path: str | Path, options: UpstreamOptions | None = None) -> UpstreamPool:
        """Raises UpstreamConfigError for a missing or invalid file (before anything starts)."""
        return cls(load_upstreams(path), options)

    async def __aenter__(self) -> Self:
        self._redacting.install()
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        for upstream in self.upstreams:
            self._group.start_soon(contained, upstream, name=f"upstream {upstream.key}")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """Close every connection, all at once and within CLOSE_GRACE seconds.

        A stdio server gets its stdin closed, then SIGTERM and SIGKILL (the SDK's bounded, shielded
        shutdown); an HTTP session is ended with DELETE. What is still open after the grace is cancelled.
        """
        assert self._group is not None
        for upstream in self.upstreams:
            upstream.stop()
        self._group.cancel_scope.deadline = anyio.current_time() + CLOSE_GRACE
        try:
            await self._group.__aexit__(None, None, None)
        finally:
            self._group = None
            self._redacting.remove()

    async def wait_ready(self) -> tuple[ExportedTool, ...]:
        """Wait for every server's first start (each bounded by the start timeout); then the list is fixed."""
        for upstream in self.upstreams:
            await upstream.wait_settled()
        if self._exported is None:
            self._exported = self._export()
        return tuple(self._exported.values())

    @property
    def tools(self) -> tuple[ExportedTool, ...]:
        if self._exported is None:
            raise RuntimeError("the exported tool list is fixed by wait_ready(); await it first")
        return tuple(self._exported.values())

    def lookup_ready(self) -> bool:
        """Whether the exported tool list is fixed (see `wait_ready`)."""
        return self._exported is not None

    def lookup(self, name: str) -> ExportedTool | None:
        """The exported tool of that name, or None (not a proxied tool, or the list is not fixed yet)."""
        return (self._exported or {}).get(name)

    async def call(self, name: str, arguments: dict[str, Any] | None = None, *, on_progress: ProgressFn | None = None) -> types.CallToolResult:
        """Call an exported tool by its exported name. Raises an UpstreamError subclass for every fault."""
        exported = self.lookup(name)
        if exported is None:
            raise UnknownProxiedTool(self._unknown(name), server="", tool=name)
        return await self._by_key[exported.server].call(exported.original, arguments, on_progress=on_progress, called_as=name)

    def status(self) -> list[UpstreamStatus]:
        return [upstream.status() for upstream in self.upstreams]

    def _export(self) -> dict[str, ExportedTool]:
        listings = [(upstream.key, [tool.name for tool in upstream.tools]) for upstream in self.upstreams]
        names = export_names(listings, self._reserved)
        exported: dict[str, ExportedTool] = {}
        for upstream in self.upstreams:
            for tool in upstream.tools:
                final = names.get((upstream.key, tool.name))
                if final is not None:
                    exported[final] = ExportedTool(final, upstream.key, tool.name, tool.model_copy(update={"name": final}))
        return exported

    def _unknown(self, name: str) -> str:
        message = f"No upstream tool is named {name!r}."
        missing = [status for status in self.status() if status.state == "down" and status.tools == 0]
        if missing:
            message += " Not available in this session: " + "; ".join(f"server '{s.key}' {s.reason}" for s in missing) + "."
        return message


async def contained(upstream: Upstream) -> None:
    """Run one supervisor; a bug in it is logged, never raised into the task group that hosts the arena's own tools."""
    try:
        await upstream.run()
    except Exception:
        logger.exception("upstream %s: its supervisor failed; its tools answer with errors from now on", upstream.key)
