"""Shared fixtures: every test gets its own MCP_ARENA_HOME; async tests run on asyncio."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mcp_arena import Settings


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "arena-home"
    monkeypatch.setenv("MCP_ARENA_HOME", str(folder))
    for name in ("MCP_ARENA_SESSION", "MCP_ARENA_TRANSCRIPT", "MCP_ARENA_SKILL_DIRS", "MCP_ARENA_DB_URI"):
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture
def settings(home: Path) -> Settings:
    """Full-text search only: most tests don't need the embedding model."""
    return Settings(home=home, semantic=False)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Any attempt to open a network connection fails the test."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts
