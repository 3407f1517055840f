"""The skill catalog and pager as the engine uses them: load once, fold the log, page guides."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mcp_arena.config import Settings
from mcp_arena.core import skills
from mcp_arena.core.events import Event, EventDraft

SEPARATOR = "\n\n"


class SkillsRuntime:
    def __init__(self, settings: Settings, count_tokens: Callable[[str], int]):
        self.catalog = skills.load_catalog(skills.builtin_skills_dir(), settings.skill_dirs)
        self.pager = skills.Pager(self.catalog, settings.remind_after_steps, settings.reload_after_errors)
        self.count_tokens = count_tokens

    def fold(self, state: skills.PagerState | None, event: Event) -> skills.PagerState:
        return self.pager.fold(state or skills.PagerState(), event)

    def decide(self, state: skills.PagerState | None, tool: str, is_error: bool, brief: bool = False) -> list[skills.Page]:
        state = state or skills.PagerState()
        return self.pager.decide(state, tool, is_error, state.steps, brief=brief)

    def page_events(self, pages: Sequence[skills.Page], tool: str) -> list[EventDraft]:
        """One `guide` event per page; its text is exactly what the result carries for it."""
        return [EventDraft(kind="guide", text=SEPARATOR + skills.render([page]), tool=tool, meta=page.meta()) for page in pages]

    def requested_event(self, name: str, tool: str) -> EventDraft:
        """load_skill(name) shows the guide as its result body: record the showing, count no tokens twice."""
        return EventDraft(kind="guide", text="", tool=tool, meta=self.pager.requested(name).meta())

    def render(self, pages: Sequence[skills.Page]) -> str:
        return "".join(SEPARATOR + skills.render([page]) for page in pages)

    def guide(self, name: str) -> str:
        return self.pager.requested(name).text
