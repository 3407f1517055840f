"""build_server(settings) -> MCPServer: six thin tool wrappers over the engine.

Each wrapper is one line: it calls the arena's method of the same name with the
tool's arguments, this connection's key and the session, and turns the `Reply`
into a `CallToolResult`. Instructions, tool names, descriptions and schemas are
fixed when the server is built and never change within the process: they are
the host's system prompt. The tools are built once with the SDK's
`Tool.from_function`, their input schemas compacted (`schemas.compact`), and
handed to `MCPServer(tools=...)`.

Nothing here imports the engine at module level: the lifespan starts the arena
on a thread (`ArenaStarter`), so `initialize` is answered before LanceDB loads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.apps import Apps
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from mcp_arena import auth, connection, relay, schemas
from mcp_arena.config import Settings
from mcp_arena.core.skills import builtin_skills_dir, load_catalog
from mcp_arena.core.tools import ToolName
from mcp_arena.hook.listener import HookListener
from mcp_arena.proxy.pool import UpstreamPool
from mcp_arena.proxy.upstream import UpstreamOptions

if TYPE_CHECKING:
    from mcp_arena.engine.arena import Arena, Reply

INSTRUCTIONS = """\
mcp-arena manages your context window like an arena allocator. Work append-only; keep usage in the \
40-70% zone. Call context_status to see usage and advice (pass used_tokens/window_tokens when you \
know them). tag(name) marks where a subtask starts; squash(summary) releases tag→now into the \
anchored summary (the raw range stays searchable). artifact_index records and lists \
files created/modified/read. Guides arrive attached to results when first needed.
Skills (load_skill(name) for the full guide):
{skills}"""

SessionArg = Annotated[str | None, Field(description="session id; omit for this connection's session")]
READ_ONLY = ToolAnnotations(read_only_hint=True)
WRITES = ToolAnnotations(destructive_hint=False)  # appends records; never rewrites or deletes


class FileRecord(BaseModel):
    path: str = Field(description="file path")
    action: Literal["created", "modified", "read", "deleted"]
    note: str | None = None


# -- starting the arena ------------------------------------------------------------------------------


class ArenaStarter:
    """Builds the arena off the event loop at start, so `initialize` is answered before LanceDB is loaded."""

    def __init__(
        self,
        settings: Settings,
        arena: Arena | None = None,
        upstream_notes: Callable[[], list[str]] | None = None,
        relayed: Callable[[], frozenset[str]] | None = None,
    ):
        self._arena = arena
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._upstream_notes = upstream_notes
        self._relayed = relayed
        if arena is None:
            threading.Thread(target=self._build, args=(settings,), name="arena-start", daemon=True).start()
        else:
            self._give_notes(arena)
            self._ready.set()

    def _build(self, settings: Settings) -> None:
        try:
            from mcp_arena.engine.arena import Arena

            self._arena = Arena(settings)
            self._give_notes(self._arena)
        except BaseException as exc:  # surfaced to every call, never lost in a thread
            self._error = exc
        finally:
            self._ready.set()
        if self._arena is not None:
            self._arena.prepare_for_calls()

    def _give_notes(self, arena: Arena) -> None:
        if self._upstream_notes is not None:
            arena.upstream_notes = self._upstream_notes
        if self._relayed is not None:
            arena.relayed_tools = self._relayed

    def get(self) -> Arena:
        """The arena, waiting for its start; raises if it could not start."""
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the arena could not start: {self._error}") from self._error
        assert self._arena is not None
        return self._arena

    def close(self) -> None:
        self._ready.wait()
        if self._arena is not None:
            self._arena.close()


@dataclass(frozen=True)
class ServerState:
    """What the lifespan yields to every call: the arena being started."""

    arena: ArenaStarter


def arena_of_request(ctx: ServerRequestContext[ServerState, Any]) -> Arena:
    """The arena, from a middleware's request context."""
    return ctx.lifespan_context.arena.get()


ArenaContext = Context[ServerState, Any]


def arena_of(ctx: ArenaContext) -> Arena:
    """The arena; if it could not start (e.g. a read-only or missing home), an error the model is shown."""
    try:
        return ctx.request_context.lifespan_context.arena.get()
    except RuntimeError as exc:  # the SDK shows a model nothing of an unexpected exception
        raise ToolError(str(exc)) from exc


def caller(ctx: ArenaContext) -> dict[str, str]:
    """The connection a call came on and the principal its bearer token names ("" without one)."""
    request = getattr(ctx.request_context, "request", None)
    return {"connection": connection.connection_key(request), "principal": connection.principal_of(request)}


def to_result(reply: Reply) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=reply.text)],
        structured_content=reply.structured,
        is_error=reply.is_error,
        _meta=reply.meta,
    )


# -- the six tools -----------------------------------------------------------------------------------


def context_status(
    ctx: ArenaContext,
    session: SessionArg = None,
    used_tokens: Annotated[int | None, Field(description="tokens in your context now, if your host shows it")] = None,
    window_tokens: Annotated[int | None, Field(description="your context window size")] = None,
) -> CallToolResult:
    """Context dashboard: usage and its source, Goldilocks zone, steps since last tag, next pruning stage, turns left, advice."""
    return to_result(arena_of(ctx).context_status(used_tokens, window_tokens, session=session, **caller(ctx)))


def tag(
    ctx: ArenaContext,
    name: Annotated[str, Field(description="tag name, [A-Za-z0-9._-]{1,64}")],
    note: Annotated[str | None, Field(description="what starts here")] = None,
    session: SessionArg = None,
) -> CallToolResult:
    """Name the current position in the log: a subtask starts here. squash releases everything after it."""
    return to_result(arena_of(ctx).tag(name, note, session=session, **caller(ctx)))


def squash(
    ctx: ArenaContext,
    summary: Annotated[str, Field(description="markdown: Session Intent, Files Modified, Decisions Made, Current State, Next Steps")],
    from_tag: Annotated[str | None, Field(description="tag to squash from; default the last tag")] = None,
    session: SessionArg = None,
) -> CallToolResult:
    """Release the range from a tag to now into your summary; merged into the session's anchored summary, which is returned. The raw range stays searchable."""
    return to_result(arena_of(ctx).squash(summary, from_tag, session=session, **caller(ctx)))


def load_skill(
    ctx: ArenaContext,
    name: Annotated[str | None, Field(description="skill name")] = None,
    session: SessionArg = None,
) -> CallToolResult:
    """Skill guides, paged on demand. No name: the catalog. With a name: its full guide."""
    return to_result(arena_of(ctx).load_skill(name, session=session, **caller(ctx)))


def memory_search(
    ctx: ArenaContext,
    query: Annotated[str | None, Field(description="what to recall, in words")] = None,
    limit: Annotated[int, Field(description="max hits")] = 5,
    scope: Annotated[str, Field(description="all | squashed | live")] = "all",
    kinds: Annotated[list[str] | None, Field(description="only these kinds, e.g. tool_result")] = None,
    tools: Annotated[list[str] | None, Field(description="only these tools, e.g. Bash")] = None,
    from_seq: Annotated[int | None, Field(description="only seq >= this")] = None,
    to_seq: Annotated[int | None, Field(description="only seq <= this")] = None,
    seq: Annotated[int | None, Field(description="seq of a trimmed result to page back")] = None,
    page: Annotated[int | None, Field(description="page number, with seq")] = None,
    session: SessionArg = None,
) -> CallToolResult:
    """Recall from this session's log by meaning and keywords (a page-in after a squash or trim, not every turn); seq+page: a trimmed result, verbatim."""
    return to_result(
        arena_of(ctx).memory_search(query, limit, scope, kinds, tools, from_seq, to_seq, seq, page, session=session, **caller(ctx))
    )


def artifact_index(
    ctx: ArenaContext,
    record: Annotated[list[FileRecord] | None, Field(description="file actions to record")] = None,
    path: Annotated[str | None, Field(description="path glob filter")] = None,
    action: Annotated[str | None, Field(description="created | modified | read | deleted")] = None,
    session: SessionArg = None,
) -> CallToolResult:
    """Files created, modified, only read or deleted in this session; record actions, filter by glob and action."""
    records = [r.model_dump(exclude_none=True) for r in record or []]
    return to_result(arena_of(ctx).artifact_index(records, path, action, session=session, **caller(ctx)))


# name -> (wrapper, annotations), in the order tools/list shows them
TOOLS: dict[ToolName, tuple[Callable[..., CallToolResult], ToolAnnotations]] = {
    ToolName.CONTEXT_STATUS: (context_status, READ_ONLY),
    ToolName.TAG: (tag, WRITES),
    ToolName.SQUASH: (squash, WRITES),
    ToolName.LOAD_SKILL: (load_skill, READ_ONLY),
    ToolName.MEMORY_SEARCH: (memory_search, READ_ONLY),
    ToolName.ARTIFACT_INDEX: (artifact_index, WRITES),
}


# Claude Code's MCP tool search defers a server's tools until the model searches for them; a tool
# whose `_meta` says `anthropic/alwaysLoad: true` stays loaded (Claude Code's MCP client reads it per
# tool; a server entry's `alwaysLoad` would keep all six). The dashboard and the page-in must be at hand
# when context runs short, which is exactly when a search for them is least likely.
ALWAYS_LOADED = {ToolName.CONTEXT_STATUS, ToolName.MEMORY_SEARCH}
ALWAYS_LOAD_META: dict[str, Any] = {"anthropic/alwaysLoad": True}


# MCP Apps: a host that renders them draws context_status's structured result with the dashboard
# page (`dashboard_app`); any other host shows the result's text, unchanged.
DASHBOARD_URI = "ui://arena/dashboard"
APP_META = {ToolName.CONTEXT_STATUS: {"ui": {"resourceUri": DASHBOARD_URI}}}


def dashboard_app() -> Apps:
    """The MCP Apps extension serving `data/dashboard.html` as the `ui://` resource context_status names."""
    apps = Apps()
    page = (Path(__file__).parent / "data" / "dashboard.html").read_text(encoding="utf-8")
    apps.add_html_resource(DASHBOARD_URI, page, name="context dashboard", description="context_status drawn: usage, zone, stages, advice", prefers_border=True)
    return apps


def build_tools() -> list[Tool]:
    """The six tools as the SDK registers them, each advertising its compacted input schema."""
    tools = []
    for name, (wrapper, hints) in TOOLS.items():
        meta = dict(ALWAYS_LOAD_META) if name in ALWAYS_LOADED else None
        meta = {**(meta or {}), **APP_META[name]} if name in APP_META else meta
        tool = Tool.from_function(wrapper, name=name.value, annotations=hints, meta=meta)
        tools.append(tool.model_copy(update={"parameters": schemas.compact(tool.parameters)}))
    return tools


# -- the server --------------------------------------------------------------------------------------


def build_server(settings: Settings | None = None, arena: Arena | None = None) -> MCPServer[ServerState]:
    """The MCP server. Pass an `arena` to share one engine (tests, the bench); else one is made at start."""
    settings = settings or Settings()
    catalog = load_catalog(builtin_skills_dir(), settings.skill_dirs)
    pool = upstream_pool(settings)  # a bad upstream file fails here, before anything starts
    verifier = auth.verifier(settings)  # HTTP only: without a valid bearer token, 401 (a bad tokens file fails here)

    @asynccontextmanager
    async def lifespan(_server: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        async with contextlib.AsyncExitStack() as stack:
            notes = relayed = None
            if pool is not None:
                await stack.enter_async_context(pool)
                notes, relayed = relay.upstream_notes(pool), relay.relayed_names(pool)
            starter = ArenaStarter(settings, arena, notes, relayed)
            # the PostToolUse hook's fast path: only a server that owns its arena takes hook calls
            listener = HookListener(settings.home, starter.get).start() if arena is None else None
            try:
                yield ServerState(arena=starter)
            finally:
                if listener is not None:
                    listener.close()
                if arena is None:
                    starter.close()

    return MCPServer(
        "mcp-arena",
        instructions=INSTRUCTIONS.format(skills=catalog.one_liners()),
        version=version("mcp-arena"),
        lifespan=lifespan,
        tools=build_tools(),
        extensions=[dashboard_app()],
        middleware=[relay.Relay(pool, arena_of_request)] if pool is not None else None,
        token_verifier=verifier,
        auth=auth.AUTH_SETTINGS if verifier is not None else None,
    )


def upstream_pool(settings: Settings) -> UpstreamPool | None:
    """The servers of `settings.upstream` (not started yet), or None without one."""
    if not settings.upstream:
        return None
    options = UpstreamOptions(call_timeout=settings.upstream_timeout_seconds, start_timeout=settings.upstream_start_timeout_seconds)
    return UpstreamPool.from_file(settings.upstream, options)
