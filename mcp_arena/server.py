"""build_server(settings) -> MCPServer: six thin tool wrappers over the engine.

Instructions, tool names, descriptions and schemas are fixed when the server is
built and never change within the process: they are the host's system prompt.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from mcp_arena import __version__

from mcp_arena import schemas
from mcp_arena.config import Settings
from mcp_arena.core.skills import builtin_skills_dir, load_catalog

if TYPE_CHECKING:
    from mcp_arena.engine.arena import Arena, Reply

INSTRUCTIONS = """\
mcp-arena manages your context window like an arena allocator. Work append-only; keep usage in the \
40-70% zone. Call context_status to see usage and advice (pass used_tokens/window_tokens when you \
know them). tag(name) marks where a subtask starts; squash(summary) releases tag→now into the \
anchored summary (raw range stays recallable with memory_search). artifact_index records and lists \
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


def to_result(reply: Reply) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=reply.text)],
        structured_content=reply.structured,
        is_error=reply.is_error,
    )


def connection_key(ctx: Context) -> str:
    """Which connection a call came on: the HTTP session id when there is one, else the process."""
    request = getattr(ctx.request_context, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        session_id = headers.get("mcp-session-id")
        if session_id:
            return session_id
    query = getattr(request, "query_params", None)
    if query is not None and query.get("session_id"):
        return query["session_id"]
    return ""


class Engine:
    """The arena, built off the event loop at start so `initialize` is answered before LanceDB is loaded."""

    def __init__(self, settings: Settings, arena: Arena | None = None):
        self._arena, self._error = arena, None
        self._ready = threading.Event()
        if arena is None:
            threading.Thread(target=self._build, args=(settings,), name="arena-start", daemon=True).start()
        else:
            self._ready.set()

    def _build(self, settings: Settings) -> None:
        try:
            from mcp_arena.engine.arena import Arena

            self._arena = Arena(settings)
        except BaseException as exc:  # surfaced to every call, never lost in a thread
            self._error = exc
        finally:
            self._ready.set()
        if self._arena is not None:
            self._arena.prepare_for_calls()

    def get(self) -> Arena:
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the arena could not start: {self._error}") from self._error
        return self._arena

    def close(self) -> None:
        self._ready.wait()
        if self._arena is not None:
            self._arena.close()


def engine(ctx: Context) -> Arena:
    return ctx.request_context.lifespan_context["engine"].get()


def build_server(settings: Settings | None = None, arena: Arena | None = None) -> MCPServer:
    """The MCP server. Pass an `arena` to share one engine (tests, the bench); else one is made at start."""
    settings = settings or Settings()
    catalog = load_catalog(builtin_skills_dir(), settings.skill_dirs)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[dict[str, Any]]:
        started = Engine(settings, arena)
        try:
            yield {"engine": started}
        finally:
            if arena is None:
                started.close()

    server = MCPServer(
        "mcp-arena",
        instructions=INSTRUCTIONS.format(skills=catalog.one_liners()),
        version=__version__,
        lifespan=lifespan,
    )

    @server.tool(annotations=READ_ONLY)
    def context_status(
        ctx: Context,
        session: SessionArg = None,
        used_tokens: Annotated[int | None, Field(description="tokens in your context now, if your host shows it")] = None,
        window_tokens: Annotated[int | None, Field(description="your context window size")] = None,
    ) -> CallToolResult:
        """Context dashboard: usage and its source, Goldilocks zone, steps since last tag, next pruning stage, turns left, advice."""
        arena_ = engine(ctx)
        key = connection_key(ctx)
        arguments = _given(session=session, used_tokens=used_tokens, window_tokens=window_tokens)
        return to_result(
            arena_.call(
                session,
                "context_status",
                arguments,
                arena_.status_body,
                connection=key,
                prepare=lambda: arena_.reported_usage(used_tokens, window_tokens, session, key),
            )
        )

    @server.tool(annotations=WRITES)
    def tag(
        ctx: Context,
        name: Annotated[str, Field(description="tag name, [A-Za-z0-9._-]{1,64}")],
        note: Annotated[str | None, Field(description="what starts here")] = None,
        session: SessionArg = None,
    ) -> CallToolResult:
        """Name the current position in the log: a subtask starts here. squash releases everything after it."""
        arena_ = engine(ctx)
        arguments = _given(name=name, note=note, session=session)
        return to_result(arena_.call(session, "tag", arguments, arena_.tag_body(name, note), connection=connection_key(ctx)))

    @server.tool(annotations=WRITES)
    def squash(
        ctx: Context,
        summary: Annotated[str, Field(description="markdown: Session Intent, Files Modified, Decisions Made, Current State, Next Steps")],
        from_tag: Annotated[str | None, Field(description="tag to squash from; default the last tag")] = None,
        session: SessionArg = None,
    ) -> CallToolResult:
        """Release the range from a tag to now into your summary; merged into the session's anchored summary, which is returned. The raw range stays searchable."""
        arena_ = engine(ctx)
        arguments = _given(summary=summary, from_tag=from_tag, session=session)
        return to_result(arena_.call(session, "squash", arguments, arena_.squash_body(summary, from_tag), connection=connection_key(ctx)))

    @server.tool(annotations=READ_ONLY, description="Skill guides, paged on demand. No name: the catalog. With a name: its full guide.")
    def load_skill(
        ctx: Context,
        name: Annotated[str | None, Field(description="skill name")] = None,
        session: SessionArg = None,
    ) -> CallToolResult:
        arena_ = engine(ctx)
        arguments = _given(name=name, session=session)
        return to_result(arena_.load_skill(session, name, arguments, connection=connection_key(ctx)))

    @server.tool(annotations=READ_ONLY)
    def memory_search(
        ctx: Context,
        query: Annotated[str, Field(description="what to recall, in words")],
        limit: Annotated[int, Field(description="max hits")] = 5,
        scope: Annotated[str, Field(description="all | squashed | live")] = "all",
        kinds: Annotated[list[str] | None, Field(description="only these kinds, e.g. tool_result, assistant, summary")] = None,
        tools: Annotated[list[str] | None, Field(description="only events of these tools, e.g. Bash")] = None,
        from_seq: Annotated[int | None, Field(description="only seq >= this")] = None,
        to_seq: Annotated[int | None, Field(description="only seq <= this")] = None,
        session: SessionArg = None,
    ) -> CallToolResult:
        """Recall from this session's log by meaning and keywords (page-in after a squash or compaction, not every turn)."""
        arena_ = engine(ctx)
        filters = {"kinds": kinds, "tools": tools, "from_seq": from_seq, "to_seq": to_seq}
        arguments = _given(query=query, limit=limit, scope=scope, **filters, session=session)
        body = arena_.search_body(query, limit, scope, **filters)
        return to_result(arena_.call(session, "memory_search", arguments, body, connection=connection_key(ctx)))

    @server.tool(annotations=WRITES)
    def artifact_index(
        ctx: Context,
        record: Annotated[list[FileRecord] | None, Field(description="file actions to record")] = None,
        path: Annotated[str | None, Field(description="path glob filter")] = None,
        action: Annotated[str | None, Field(description="created | modified | read | deleted")] = None,
        session: SessionArg = None,
    ) -> CallToolResult:
        """Files created, modified, only read or deleted in this session; record actions, filter by glob and action."""
        arena_ = engine(ctx)
        records = [r.model_dump(exclude_none=True) for r in record or []]
        arguments = _given(record=records or None, path=path, action=action, session=session)
        return to_result(arena_.call(session, "artifact_index", arguments, arena_.artifact_body(records, path, action), connection=connection_key(ctx)))

    for tool in server._tool_manager.list_tools():  # once, at build time: the surface never changes after
        tool.parameters = schemas.compact(tool.parameters)
    return server


def _given(**arguments: Any) -> dict[str, Any]:
    """The arguments the caller set, for the log (absent ones are not logged)."""
    return {name: value for name, value in arguments.items() if value is not None}
