"""The search index as the engine uses it: started lazily, fed on every append, closed at exit."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from mcp_arena.config import Settings
from mcp_arena.core.events import Event
from mcp_arena.engine.store import Store
from mcp_arena.search.filter import SearchFilter
from mcp_arena.search.tables import RecallTables

if TYPE_CHECKING:  # imported on first use: the model and the index load only when recall runs
    from mcp_arena.search.embedder import Embedder
    from mcp_arena.search.index import SearchIndex, SearchOutcome

logger = logging.getLogger(__name__)

def shared_embedder(settings: Settings | None = None) -> Embedder:
    """One embedding model per user, however many servers and arenas (eval opens one per session):
    the user's embedding worker (`search/embed_client.py`), or one in this process when the
    worker is off (`embedding_worker`) or unavailable. One per process and set of options.

    One ONNX thread: measured as fast as two for these batch sizes (178 vs 156–182 events/s),
    and it leaves the other core to tool calls while the background worker embeds."""
    from mcp_arena.search.embed_client import WorkerOptions, process_embedder

    chosen = settings if settings is not None else Settings()
    if not chosen.embedding_worker:
        return process_embedder(None)
    return process_embedder(WorkerOptions(socket_dir=chosen.embedding_socket_dir, idle_seconds=chosen.embedding_idle_seconds))


# The arena's own pages: recall results quote other events, and skill guides (attached, or
# asked for with load_skill) are boilerplate the agent can page in again. Matching them would
# echo old searches and the guides' examples, so recall leaves them out unless asked for them
# by kind or tool, and they get no vector (found by full text only, when asked for).
SELF_ECHO_TOOLS = ("memory_search", "load_skill")
SELF_ECHO_KINDS = ("guide",)


def worth_a_vector(kind: str, tool: str) -> bool:
    return kind not in SELF_ECHO_KINDS and tool not in SELF_ECHO_TOOLS


def recall_tables(store: Store, *, semantic: bool) -> RecallTables:
    """The store's tables as the search library takes them: the store builds and optimizes, search reads."""
    return RecallTables(
        events=store.tables["events"],
        vectors=store.tables["vectors"] if semantic else None,
        consistent_reads=True,  # the store's connection reads the latest version every time
        build_fulltext_index=store.build_fulltext_index,
        vectors_added=store.vectors_added,
        maintain_vectors=lambda: store.maintain_in_background(["vectors"]),
        pending=store.pending_events,
    )


class SearchRuntime:
    def __init__(self, settings: Settings, store: Store, count_tokens: Callable[[str], int]) -> None:
        self.settings = settings
        self.store = store
        self.count_tokens = count_tokens
        self._index: SearchIndex | None = None
        self._guard = threading.Lock()
        self._indexed_version: int | None = None  # reported before the index was opened

    @property
    def index(self) -> SearchIndex:
        with self._guard:
            if self._index is None:
                from mcp_arena.search.index import SearchIndex

                self._index = SearchIndex(
                    recall_tables(self.store, semantic=self.settings.semantic),
                    semantic=self.settings.semantic,
                    embedder=shared_embedder(self.settings) if self.settings.semantic else None,
                    count_tokens=self.count_tokens,
                    embeds=worth_a_vector,
                )
                if self._indexed_version is not None:
                    self._index.notify_indexed(self._indexed_version)
            return self._index

    def prepare(self) -> None:
        """Open the index and learn how far its full-text index reaches, ideally before the
        first call appends (a server does this right after start, off the request path)."""
        try:
            self.index.prepare()
        except Exception:  # an optimisation: every search still works without it
            logger.exception("search index preparation failed")

    def foreground(self) -> contextlib.AbstractContextManager[None]:
        """Background embedding pauses while this is held (a tool call or an append is running)."""
        return self._index.foreground() if self._index is not None else contextlib.nullcontext()

    def notify_appended(self, session: str, events: Sequence[Event], version: int | None) -> None:
        """Events this process appended (at events-table `version`): their text is held until
        embedded, and until the full-text index covers them."""
        self.index.notify_appended(session, len(events), [(e.seq, e.kind, e.tool, e.text) for e in events], version)

    def notify_indexed(self, version: int) -> None:
        """The store's optimize brought the events' full-text index up to `version`."""
        with self._guard:
            self._indexed_version = max(version, self._indexed_version or version)
            index = self._index
        if index is not None:
            index.notify_indexed(version)

    def notify_appended_elsewhere(self, session: str, count: int) -> None:
        """Another writer appended `count` events: the next search looks its tail up."""
        self.index.notify_appended(session, count)

    def search(
        self,
        session: str,
        query: str,
        *,
        limit: int,
        scope: str,
        squashed_ranges: Iterable[tuple[int, int]],
        before_seq: int,
        max_tokens: int,
        kinds: Sequence[str] | None = None,
        tools: Sequence[str] | None = None,
        seq_min: int | None = None,
        seq_max: int | None = None,
    ) -> SearchOutcome:
        """The index's SearchOutcome (hits, mode, not_embedded, truncated) for one session."""
        where = SearchFilter.of(
            session,
            scope=scope,
            squashed_ranges=squashed_ranges,
            kinds=kinds,
            tools=tools,
            exclude_tools=[t for t in SELF_ECHO_TOOLS if t not in (tools or ())],
            exclude_kinds=[k for k in SELF_ECHO_KINDS if k not in (kinds or ())],
            seq_min=seq_min,
            seq_max=before_seq if seq_max is None else min(seq_max, before_seq),
        )
        # The engine holds the session's lock: nothing newer than before_seq is committed.
        return self.index.search(where, query, limit=limit, max_tokens=max_tokens, newest_seq=before_seq)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
