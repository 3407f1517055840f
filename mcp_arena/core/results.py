"""Pydantic models of tool results (the structured content the server returns)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


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
    source: Literal["reported", "transcript", "estimate"]
    source_note: str
    zone: Literal["below", "inside", "above"]
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
    advice: Literal["keep working", "tag now", "squash now"]
    advice_text: str


class TagResult(BaseModel):
    session: str
    name: str
    seq: int
    note: str
    tags: list[str]


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


class SkillInfo(BaseModel):
    name: str
    description: str
    covers: list[str]


class SkillResult(BaseModel):
    session: str
    name: str | None
    catalog: list[SkillInfo]
    guide: str | None
    message: str


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


class FileEntry(BaseModel):
    path: str
    actions: list[str]
    latest_seq: int
    count: int
    seqs: list[int]
    notes: list[str]


class ArtifactResult(BaseModel):
    session: str
    recorded: int
    path_filter: str | None
    action_filter: str | None
    totals: dict[str, int]  # files per group; each list holds at most the newest `artifact_max_entries`
    created: list[FileEntry]
    modified: list[FileEntry]
    read_only: list[FileEntry]
    deleted: list[FileEntry]
