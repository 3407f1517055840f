"""Each tool's result: the pydantic model (the structured content the server returns) and, beside it,
its `text()` — the text the model reads.

Same state, same bytes: no clocks, stable order. `text()` is a method of every result model and
reads nothing but the model's own fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from mcp_arena.core.listing import more_line

# A tag's note as its acknowledgement echoes it; squashed files named in the squash's text.
MAX_NOTE_ECHOED = 80
MAX_FILLED_SHOWN = 10
# Records of one artifact_index call its acknowledgement names (a call may send 100), and how much of each path.
MAX_RECORDED_SHOWN = 5
MAX_PATH_ECHOED = 100

UsageSource = Literal["reported", "transcript", "estimate"]
Zone = Literal["below", "inside", "above"]
Advice = Literal["keep working", "tag now", "squash now"]

# ---------------------------------------------------------------- context_status


class NextStage(BaseModel):
    stage: int
    name: str
    threshold_pct: float
    tokens_away: int


class StatusResult(BaseModel):
    session: str
    used_tokens: int
    window_tokens: int
    usage_pct: float
    source: UsageSource
    source_note: str
    zone: Zone
    zone_pct: tuple[float, float]  # the Goldilocks zone's bounds, in percent
    steps: int
    steps_since_tag: int
    last_tag: str | None
    next_stage: NextStage | None
    stage_reached: int
    turns_left: int | None
    tokens_per_turn: int
    live_tokens: int
    logged_tokens: int
    squashes: int
    tokens_freed: int
    host_compactions: int
    trimmed_results: int = 0  # results shaped (trimmed) before they reached the context
    tokens_kept_out: int = 0  # their original tokens minus what the host was shown
    upstreams: list[str] = []  # upstream servers that are down or changed their tool list
    advice: Advice
    advice_text: str

    def text(self) -> str:
        tag = f"'{self.last_tag}'" if self.last_tag else "none yet"
        if self.next_stage:
            stage = self.next_stage
            pruning = f"Stage {stage.stage} ({stage.name}) at {stage.threshold_pct:g}% — {stage.tokens_away:,} tokens away"
        else:
            pruning = "Stage 3 (graded compression) reached — squash now"
        turns = f"~{self.turns_left}" if self.turns_left is not None else "unknown (no steps yet)"
        lines = [
            f"[Context Dashboard] session {self.session}",
            f"• Usage:           {self.usage_pct:.1f}% ({self.used_tokens:,} / {self.window_tokens:,} tokens) — source: {self.source}",
            f"• Source note:     {self.source_note}",
            f"• Zone:            {self.zone} the Goldilocks zone ({self.zone_pct[0]:g}–{self.zone_pct[1]:g}%)",
            f"• Steps since tag: {self.steps_since_tag} (last: {tag}; {self.steps} steps in all)",
            f"• Pruning:         {pruning}",
            f"• Est. turns left: {turns} at ~{self.tokens_per_turn:,} tokens/turn",
            f"• Squashed:        {self.squashes} range(s), {self.tokens_freed:,} tokens freed; "
            f"arena live tokens {self.live_tokens:,} of {self.logged_tokens:,} logged",
        ]
        if self.host_compactions:
            lines.append(f"• Host compactions: {self.host_compactions}")
        if self.trimmed_results:
            lines.append(f"• Trimmed:         {self.trimmed_results} result(s), {self.tokens_kept_out:,} tokens kept out (pages in the log)")
        lines.extend(f"• Upstream:        {line}" for line in self.upstreams)
        lines.append(f"→ {self.advice.capitalize()}. {self.advice_text}")
        return "\n".join(lines)


# ---------------------------------------------------------------- tag


class TagResult(BaseModel):
    """The acknowledgement of a tag: what was recorded, and how many tags the session has (never their list)."""

    session: str
    name: str
    seq: int
    note: str  # as recorded, cut to `MAX_NOTE_ECHOED` characters (the full note stays in the log)
    tags_in_session: int  # the agent's tags, this one included

    def text(self) -> str:
        note = f" — {self.note}" if self.note else ""
        return (
            f"Tagged '{self.name}' at seq {self.seq}{note}. Session {self.session} has {self.tags_in_session:,} tag(s).\n"
            "When this stretch of work is done, call squash(summary=...) to release everything after it."
        )


# ---------------------------------------------------------------- squash


class SquashResult(BaseModel):
    session: str
    tag: str
    from_seq: int
    to_seq: int
    events: int
    tokens_before: int
    tokens_after: int
    tokens_freed: int
    backup_tag: str
    filled_from_trail: list[str]
    notes: list[str]
    anchored_summary: str

    def text(self) -> str:
        lines = [
            f"Squashed seq {self.from_seq}–{self.to_seq} after tag '{self.tag}' ({self.events} events): "
            f"{self.tokens_before:,} → {self.tokens_after:,} tokens ({self.tokens_freed:,} freed).",
            f"The raw range stays in the log: memory_search(query, scope=\"squashed\") recalls it; backup tag '{self.backup_tag}'.",
        ]
        if self.filled_from_trail:
            shown = self.filled_from_trail[:MAX_FILLED_SHOWN]
            more = len(self.filled_from_trail) - len(shown)
            rest = f", and {more:,} more (all in Files Modified below)" if more else ""
            lines.append("Filled in from the artifact trail (your summary did not mention them): " + ", ".join(shown) + rest)
        lines.extend(self.notes)
        lines.append("")
        lines.append("Anchored summary of the session:")
        lines.append(self.anchored_summary)
        return "\n".join(lines)


# ---------------------------------------------------------------- load_skill


class SkillInfo(BaseModel):
    name: str
    description: str
    covers: list[str]

    def line(self) -> str:
        covers = f" (paged with: {', '.join(self.covers)})" if self.covers else ""
        return f"- {self.name}: {self.description}{covers}"


class SkillResult(BaseModel):
    session: str
    name: str | None
    catalog: list[SkillInfo]  # the skills that fit the catalog's token budget, in catalog order
    guide: str | None
    message: str
    more: int = 0  # skills the budget left out

    def text(self) -> str:
        """The guide when one was loaded, else the message and the catalog, one line per skill."""
        if self.guide is not None:
            return self.guide
        lines = [self.message, ""] if self.message else []
        lines.extend(info.line() for info in self.catalog)
        if self.more:
            lines.append(more_line(self.more, 'name="<skill>" (the server instructions name every skill)'))
        lines.append("")
        lines.append("Call load_skill(name=...) for a full guide.")
        return "\n".join(lines)


# ---------------------------------------------------------------- memory_search


class SearchHit(BaseModel):
    seq: int
    kind: str
    tool: str
    score: float
    where: str  # "live", "squashed by <tag> (#n)", and the tag the event follows
    snippet: str


class SearchResult(BaseModel):
    session: str
    query: str
    scope: str
    kinds: list[str] | None = None
    tools: list[str] | None = None
    from_seq: int | None = None
    to_seq: int | None = None
    mode: str
    hits: list[SearchHit]
    not_embedded: int
    truncated: bool

    def text(self) -> str:
        filters = self._filters()
        if not self.hits:
            widen = "scope=\"all\"" if filters == f"scope {self.scope}" else "fewer filters"
            return (
                f"No matches for {self.query!r} ({filters}) in session {self.session} ({self.mode}). "
                f"Try other words, or {widen}."
            )
        lines = [f"{len(self.hits)} match(es) for {self.query!r} ({filters}, {self.mode}):"]
        for hit in self.hits:
            tool = f" {hit.tool}" if hit.tool else ""
            lines.append(f"[seq {hit.seq}] {hit.kind}{tool} — {hit.where}")
            lines.append(f"  {hit.snippet}")
        if self.not_embedded:
            lines.append(f"({self.not_embedded} newest events not embedded yet: matched by full text only.)")
        if self.truncated:
            lines.append("(More matches were cut to stay within the token budget: narrow the query or lower limit.)")
        return "\n".join(lines)

    def _filters(self) -> str:
        parts = [f"scope {self.scope}"]
        if self.kinds:
            parts.append("kinds " + "/".join(self.kinds))
        if self.tools:
            parts.append("tools " + "/".join(self.tools))
        if self.from_seq is not None or self.to_seq is not None:
            low = "" if self.from_seq is None else self.from_seq
            high = "" if self.to_seq is None else self.to_seq
            parts.append(f"seq {low}–{high}")
        return ", ".join(parts)


class PageResult(BaseModel):
    """One page of a trimmed result, paged back verbatim from the log (memory_search with seq and page)."""

    session: str
    seq: int  # where the original result is logged
    page: int
    pages: int
    verbatim: str  # the page, exactly as the original has it
    note: str  # where the page sits, and the call for the next one
    trim: dict[str, Any]  # the result's `_meta["mcp-arena/trim"]`: the next page's call, until the last

    def text(self) -> str:
        return f"{self.verbatim}\n{self.note}"


# ---------------------------------------------------------------- artifact_index


class FileActivity(BaseModel):
    """What the session did to one file, as artifact_index lists it (the newest seqs and notes only)."""

    path: str  # cut in the middle past `listing.MAX_PATH_SHOWN` characters
    actions: list[str]
    latest_seq: int
    count: int  # times the trail saw the file touched
    seqs: list[int]  # the newest few, ascending
    notes: list[str]  # the newest few, each cut to `listing.MAX_NOTE_SHOWN` characters

    def line(self) -> str:
        seqs = ", ".join(map(str, self.seqs))
        older = "…, " if self.count > len(self.seqs) else ""
        notes = f" — {'; '.join(self.notes)}" if self.notes else ""
        return f"  {self.path} [{'+'.join(self.actions)}] {self.count}×, seq {older}{seqs}{notes}"


class RecordedFile(BaseModel):
    path: str  # cut in the middle past `MAX_PATH_ECHOED` characters (the caller sent it; the trail keeps it whole)
    action: str


GROUP_OF_ACTION = {"created": "created", "modified": "modified", "read": "read_only", "deleted": "deleted"}
ARTIFACT_GROUPS = (("Created", "created"), ("Modified", "modified"), ("Read only", "read_only"), ("Deleted", "deleted"))


class ArtifactResult(BaseModel):
    """A write's acknowledgement (what it recorded), and the trail when the call asked for it.

    A call with `record` and no filter only acknowledges (`listed` is false, the groups empty); a call
    with a filter or no argument lists the trail, bounded by a token budget: `more` files left out."""

    session: str
    seq: int  # the call's position in the log: the seq every record of this call carries
    recorded: int
    recorded_files: list[RecordedFile]  # the first `MAX_RECORDED_SHOWN` of them
    listed: bool
    path_filter: str | None
    action_filter: str | None
    totals: dict[str, int]  # files per group matching the filters (empty when not listed)
    created: list[FileActivity]
    modified: list[FileActivity]
    read_only: list[FileActivity]
    deleted: list[FileActivity]
    more: int = 0  # files matching the filters that the budget (or `artifact_max_entries`) left out

    def text(self) -> str:
        lines = [self._acknowledgement()] if self.recorded else []
        if self.listed:
            lines.extend(self._listing())
        return "\n".join(lines)

    def _acknowledgement(self) -> str:
        named = ", ".join(f"{f.path} {f.action}" for f in self.recorded_files)
        rest = f", and {self.recorded - len(self.recorded_files):,} more" if self.recorded > len(self.recorded_files) else ""
        ack = f"Recorded {self.recorded} file action(s) at seq {self.seq}: {named}{rest}."
        if not self.listed:
            ack += ' artifact_index(action="modified") or path="<glob>" lists the trail.'
        return ack

    def _listing(self) -> list[str]:
        filters = [f for f in (self.path_filter and f"path {self.path_filter}", self.action_filter and f"action {self.action_filter}") if f]
        lines = [f"Artifact trail of session {self.session}" + (f" ({', '.join(filters)})" if filters else "") + ":"]
        for title, name in ARTIFACT_GROUPS:
            entries, total = getattr(self, name), self.totals.get(name, 0)
            if self.action_filter and name != GROUP_OF_ACTION.get(self.action_filter):
                continue  # the filter left this group out: no line for it
            shown = f", the {len(entries)} most recent shown" if len(entries) < total else ""
            lines.append(f"{title} ({total:,}{shown}):")
            lines.extend(entry.line() for entry in entries)
        if not any(self.totals.values()):
            lines.append(self._nothing())
        if self.more:
            lines.append(more_line(self.more, self._narrow()))
        return lines

    def _nothing(self) -> str:
        if self.path_filter or self.action_filter:
            return "No file matches. Widen the filter, or omit it to see the whole trail."
        return "No files yet. Call artifact_index(record=[{path, action, note}]) after you create, change or read a file."

    def _narrow(self) -> str:
        if self.action_filter and self.path_filter:
            return "a narrower path glob"
        if self.action_filter:
            return 'path="src/**/*.py" (a glob)'
        if self.path_filter:
            return 'action="modified" (or created, read, deleted) or a narrower path'
        return 'path="src/**/*.py" (a glob) or action="modified"'
