"""Settings: defaults < MCP_ARENA_* environment < command-line flags.

One environment variable moves all state: MCP_ARENA_HOME (or --home).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("mcp-arena", appauthor=False))


def default_concurrency() -> int:
    """Two tool calls per core run at once (at least 2, at most 16): more only thrash (see `Arena`)."""
    return max(2, min(16, 2 * (os.cpu_count() or 1)))


class Settings(BaseSettings):
    """Every knob of the server. Field names map to MCP_ARENA_<NAME> variables."""

    model_config = SettingsConfigDict(env_prefix="MCP_ARENA_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="folder holding all state")
    db_uri: str = Field("", description="LanceDB URI; default <home>/arena.lancedb")
    session: str = Field("", description="default session for calls that name none; default: one per connection")
    encoding: Literal["o200k_base", "cl100k_base"] = Field("o200k_base", description="tiktoken encoding")

    window_tokens: int = Field(200_000, ge=1_000, le=10_000_000, description="context window when not reported")
    zone_low: float = Field(0.40, gt=0, lt=1, description="Goldilocks zone lower bound")
    zone_high: float = Field(0.70, gt=0, lt=1, description="Goldilocks zone upper bound")
    stage1: float = Field(0.80, gt=0, le=1, description="pruning stage 1 (soft trim) threshold")
    stage2: float = Field(0.85, gt=0, le=1, description="pruning stage 2 (hard clear) threshold")
    stage3: float = Field(0.90, gt=0, le=1, description="pruning stage 3 (graded compression) threshold")
    tag_after_steps: int = Field(25, ge=1, description="advise a tag after this many steps without one")
    turns_window: int = Field(10, ge=1, description="recent steps used to estimate tokens per turn")

    max_summary_tokens: int = Field(4_000, ge=100, description="largest summary squash accepts")
    summary_versions: int = Field(20, ge=1, description="anchored summary versions kept for listing")

    skill_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list, description="extra skill folders, ':'-separated")
    remind_after_steps: int = Field(10, ge=1, description="steps before a skill reminder is attached")
    reload_after_errors: int = Field(2, ge=1, description="consecutive errors that re-attach a full guide")

    semantic: bool = Field(True, description="semantic (vector) layer of memory_search")
    embedding_worker: bool = Field(True, description="one embedding model for all servers of this user: a worker process")
    embedding_idle_seconds: float = Field(300.0, ge=1, le=86_400, description="the embedding worker exits after this long unused")
    embedding_socket_dir: str = Field("", description="the worker's private folder; default $XDG_RUNTIME_DIR/mcp-arena, else /tmp/mcp-arena-<uid>")
    search_max_tokens: int = Field(1_500, ge=100, description="token budget of one memory_search result")
    optimize_every: int = Field(1_000, ge=10, description="appended rows between LanceDB compactions")
    keep_versions_seconds: float = Field(3_600.0, ge=0, description="LanceDB versions older than this are cleaned")
    journal_fsync: bool = Field(False, description="fsync the journal on every call (survives power loss, not only a killed process)")

    artifact_max_entries: int = Field(25, ge=1, le=1_000, description="files listed per artifact_index group")
    artifact_max_tokens: int = Field(1_000, ge=200, le=20_000, description="token budget of an artifact_index listing")
    catalog_max_tokens: int = Field(800, ge=200, le=20_000, description="token budget of the load_skill catalog")
    artifact_mappings: dict[str, dict[str, Any]] = Field(default_factory=dict, description="extra tool→file-action mappings")
    transcript: str = Field("", description="'auto', a transcript path, or '' for none")
    hook_budget_tokens: int = Field(2_000, ge=100, description="token budget of the session-start hook output")

    upstream: str = Field("", description="an mcpServers JSON file: servers the arena stands in front of")
    upstream_timeout_seconds: float = Field(60.0, gt=0, le=3_600, description="longest wait for one upstream call")
    upstream_start_timeout_seconds: float = Field(30.0, gt=0, le=600, description="longest wait for an upstream to start")
    trim: bool = Field(True, description="trim proxied and hooked results over their budget (the full text stays in the log)")
    # Budgets by kind of output, in tokens; chosen on the corpus (core/shape.py says how).
    trim_command_tokens: int = Field(1_000, ge=200, description="budget of command output (Bash, shell tools)")
    trim_log_tokens: int = Field(1_000, ge=200, description="budget of a log")
    trim_listing_tokens: int = Field(500, ge=200, description="budget of a listing or search result (Grep, Glob, ls)")
    trim_web_tokens: int = Field(400, ge=200, description="budget of a fetched page or a web search result")
    trim_file_tokens: int = Field(4_000, ge=200, description="budget of a file read")
    trim_other_tokens: int = Field(2_000, ge=200, description="budget of any other text result")
    trim_pressure_factor: float = Field(0.5, gt=0, le=1, description="budgets are multiplied by this once usage passes stage1")
    trim_page_tokens: int = Field(4_000, ge=200, le=50_000, description="size of one page of a trimmed result paged back")

    # HTTP: who may call, and how much one request may carry (`mcp_arena/auth.py`; stdio ignores these).
    max_concurrent_calls: int = Field(default_factory=default_concurrency, ge=1, le=256, description="tool calls run at once; more wait")
    max_request_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024, description="largest HTTP request body (413 above)")
    auth_token: SecretStr = Field(SecretStr(""), description="one bearer token; its holder is the owner (sees the unscoped sessions)")
    auth_tokens: str = Field("", description="a JSON file {token: principal}: each principal sees only its own sessions")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Host names clients use, ','-separated")
    allow_unauthenticated: bool = Field(False, description="serve a non-loopback address without a token")

    @field_validator("skill_dirs", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p for p in value.split(":") if p]
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _check_order(self) -> Settings:
        if not self.zone_low < self.zone_high <= self.stage1 <= self.stage2 <= self.stage3:
            raise ValueError(
                "thresholds must satisfy zone_low < zone_high <= stage1 <= stage2 <= stage3 "
                f"(got {self.zone_low}, {self.zone_high}, {self.stage1}, {self.stage2}, {self.stage3})"
            )
        return self

    @property
    def database(self) -> str:
        return self.db_uri or str(self.home / "arena.lancedb")
