"""The arena in front of other MCP servers: their tools re-exported, every call through the arena's call path.

`Relay` is an `MCPServer` middleware (the SDK's public way to serve tools whose
schemas are only known at run time). `tools/list` is the arena's six tools, then
every upstream tool, fixed once the pool has started (`proxy.pool`). A
`tools/call` of an upstream tool is the upstream call (progress forwarded; a
cancelled call cancels the upstream request), then `Arena.shape_result` on a
worker thread: the call and the whole original result are logged (source
`proxy`), files are extracted into the trail, text over its budget is trimmed to
head + marker + tail with the page-back call in `_meta["mcp-arena/trim"]`, and
the guide the pager decides follows as a last text block. Images, audio and
embedded resources pass through untouched. A fault (the upstream down, crashed,
hung past the timeout, or answering nonsense) becomes an `isError` result that
names the server, and is logged like any result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult, ContentBlock, TextContent

from mcp_arena.connection import connection_key, principal_of
from mcp_arena.core.shape import Shaped, ToolOutput
from mcp_arena.errors import ArenaError
from mcp_arena.proxy.errors import UpstreamError
from mcp_arena.proxy.pool import ExportedTool, UpstreamPool

if TYPE_CHECKING:
    from mcp_arena.engine.arena import Arena

ArenaOf = Callable[[ServerRequestContext[Any, Any]], "Arena"]


class Relay:
    """Appends the pool's tools to tools/list and routes their calls through the arena."""

    def __init__(self, pool: UpstreamPool, arena_of: ArenaOf):
        self.pool = pool
        self.arena_of = arena_of

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/list":
            return await self._list(ctx, call_next)
        if ctx.method == "tools/call":
            params = ctx.params or {}
            await self.pool.wait_ready()
            exported = self.pool.lookup(str(params.get("name", "")))
            if exported is not None:
                return await self._call(ctx, exported, params.get("arguments"))
        return await call_next(ctx)

    async def _list(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        listing = await call_next(ctx)
        if not isinstance(listing, dict) or (ctx.params or {}).get("cursor"):
            return listing
        exported = [item.tool.model_dump(by_alias=True, mode="json", exclude_none=True) for item in await self.pool.wait_ready()]
        return {**listing, "tools": [*listing["tools"], *exported]}

    async def _call(self, ctx: ServerRequestContext[Any, Any], exported: ExportedTool, arguments: Any) -> CallToolResult:
        if arguments is not None and not isinstance(arguments, dict):
            return _error(f"arguments of {exported.name} must be an object; got {type(arguments).__name__}")
        arguments = arguments or {}
        try:
            result = await self.pool.call(exported.name, arguments, on_progress=ctx.session.report_progress)
        except UpstreamError as exc:
            result = _error(str(exc))
        output = ToolOutput(
            tool=exported.name,
            arguments=arguments,
            text="\n".join(block.text for block in result.content if isinstance(block, TextContent)),
            is_error=bool(result.is_error),
            structured=result.structured_content,
            has_output_schema=exported.tool.output_schema is not None,
        )
        arena = self.arena_of(ctx)
        key, principal = connection_key(ctx.request), principal_of(ctx.request)
        try:
            shaped = await anyio.to_thread.run_sync(lambda: arena.shape_result(output, connection=key, principal=principal))
        except ArenaError as exc:  # the arena could not log it (e.g. a bad session): say so, keep the result
            return result.model_copy(update={"content": [*result.content, TextContent(type="text", text=f"[mcp-arena: not logged: {exc}]")]})
        return shaped_result(result, shaped)


def shaped_result(result: CallToolResult, shaped: Shaped) -> CallToolResult:
    """The upstream's result as the host should see it: text trimmed when it flooded, the guide after it."""
    content: list[ContentBlock] = list(result.content)
    if shaped.trimmed:
        content = _one_text_block(content, shaped.text)
    if shaped.guide:
        content.append(TextContent(type="text", text=shaped.guide.lstrip("\n")))
    meta = {**(result.meta or {}), **(shaped.meta or {})} or None
    return result.model_copy(update={"content": content, "structured_content": shaped.structured, "meta": meta})


def _one_text_block(content: list[ContentBlock], text: str) -> list[ContentBlock]:
    """The text blocks replaced by one block holding `text`, where the first stood; other blocks untouched."""
    first = next(i for i, block in enumerate(content) if isinstance(block, TextContent))
    kept = [block for i, block in enumerate(content) if i == first or not isinstance(block, TextContent)]
    kept[kept.index(content[first])] = TextContent(type="text", text=text)
    return kept


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def relayed_names(pool: UpstreamPool) -> Callable[[], frozenset[str]]:
    """The names the host sees for the upstreams' tools (empty until the list is fixed)."""
    return lambda: frozenset(tool.name for tool in pool.tools) if pool.lookup_ready() else frozenset()


def upstream_notes(pool: UpstreamPool) -> Callable[[], list[str]]:
    """context_status's lines on upstreams: those down, restarting, or whose tool list changed."""
    return lambda: [status.line() for status in pool.status() if status.state != "up" or status.tools_changed]
