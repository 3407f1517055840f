"""The text the model reads for each result. Same state, same bytes: no clocks, stable order."""

from __future__ import annotations

from mcp_arena.core.results import ArtifactResult, FileEntry, SearchResult, SkillResult, SquashResult, StatusResult, TagResult


def status(result: StatusResult) -> str:
    tag = f"'{result.last_tag}'" if result.last_tag else "none yet"
    if result.next_stage:
        stage = result.next_stage
        pruning = f"Stage {stage.stage} ({stage.name}) at {stage.threshold_pct:g}% — {stage.tokens_away:,} tokens away"
    else:
        pruning = "Stage 3 (graded compression) reached — squash now"
    turns = f"~{result.turns_left}" if result.turns_left is not None else "unknown (no steps yet)"
    lines = [
        f"[Context Dashboard] session {result.session}",
        f"• Usage:           {result.usage_pct:.1f}% ({result.used_tokens:,} / {result.window_tokens:,} tokens) — source: {result.source}",
        f"• Source note:     {result.source_note}",
        f"• Zone:            {result.zone} the Goldilocks zone ({result.zone_pct[0]:g}–{result.zone_pct[1]:g}%)",
        f"• Steps since tag: {result.steps_since_tag} (last: {tag}; {result.steps} steps in all)",
        f"• Pruning:         {pruning}",
        f"• Est. turns left: {turns} at ~{result.tokens_per_turn:,} tokens/turn",
        f"• Squashed:        {result.squashes} range(s), {result.tokens_freed:,} tokens freed; "
        f"arena live tokens {result.live_tokens:,} of {result.logged_tokens:,} logged",
    ]
    if result.host_compactions:
        lines.append(f"• Host compactions: {result.host_compactions}")
    lines.append(f"→ {result.advice.capitalize()}. {result.advice_text}")
    return "\n".join(lines)


def tag(result: TagResult) -> str:
    note = f" — {result.note}" if result.note else ""
    return (
        f"Tagged '{result.name}' at seq {result.seq}{note}.\n"
        f"Tags in session {result.session}: {', '.join(result.tags)}.\n"
        f"When this stretch of work is done, call squash(summary=...) to release everything after '{result.name}'."
    )


def squash(result: SquashResult) -> str:
    lines = [
        f"Squashed seq {result.from_seq}–{result.to_seq} after tag '{result.tag}' ({result.events} events): "
        f"{result.tokens_before:,} → {result.tokens_after:,} tokens ({result.tokens_freed:,} freed).",
        f"The raw range stays in the log: memory_search(query, scope=\"squashed\") recalls it; backup tag '{result.backup_tag}'.",
    ]
    if result.filled_from_trail:
        lines.append("Filled in from the artifact trail (your summary did not mention them): " + ", ".join(result.filled_from_trail))
    lines.extend(result.notes)
    lines.append("")
    lines.append("Anchored summary of the session:")
    lines.append(result.anchored_summary)
    return "\n".join(lines)


def skill(result: SkillResult) -> str:
    if result.guide is not None:
        return result.guide
    lines = [result.message, ""]
    for info in result.catalog:
        covers = f" (paged with: {', '.join(info.covers)})" if info.covers else ""
        lines.append(f"- {info.name}: {info.description}{covers}")
    lines.append("")
    lines.append("Call load_skill(name=...) for a full guide.")
    return "\n".join(lines)


def _search_filters(result: SearchResult) -> str:
    parts = [f"scope {result.scope}"]
    if result.kinds:
        parts.append("kinds " + "/".join(result.kinds))
    if result.tools:
        parts.append("tools " + "/".join(result.tools))
    if result.from_seq is not None or result.to_seq is not None:
        low = "" if result.from_seq is None else result.from_seq
        high = "" if result.to_seq is None else result.to_seq
        parts.append(f"seq {low}–{high}")
    return ", ".join(parts)


def search(result: SearchResult) -> str:
    filters = _search_filters(result)
    if not result.hits:
        widen = "scope=\"all\"" if filters == f"scope {result.scope}" else "fewer filters"
        return (
            f"No matches for {result.query!r} ({filters}) in session {result.session} ({result.mode}). "
            f"Try other words, or {widen}."
        )
    lines = [f"{len(result.hits)} match(es) for {result.query!r} ({filters}, {result.mode}):"]
    for hit in result.hits:
        tool = f" {hit.tool}" if hit.tool else ""
        lines.append(f"[seq {hit.seq}] {hit.kind}{tool} — {hit.where}")
        lines.append(f"  {hit.snippet}")
    if result.not_embedded:
        lines.append(f"({result.not_embedded} newest events not embedded yet: matched by full text only.)")
    if result.truncated:
        lines.append("(More matches were cut to stay within the token budget: narrow the query or lower limit.)")
    return "\n".join(lines)


def artifacts(result: ArtifactResult) -> str:
    filters = [f for f in (result.path_filter and f"path {result.path_filter}", result.action_filter and f"action {result.action_filter}") if f]
    header = f"Artifact trail of session {result.session}" + (f" ({', '.join(filters)})" if filters else "")
    lines = [header + (f"; recorded {result.recorded} action(s)" if result.recorded else "") + ":"]
    groups = (("Created", "created"), ("Modified", "modified"), ("Read only", "read_only"), ("Deleted", "deleted"))
    cut = False
    for title, name in groups:
        entries, total = getattr(result, name), result.totals[name]
        shown = f", the {len(entries)} most recent shown" if len(entries) < total else ""
        cut = cut or len(entries) < total
        lines.append(f"{title} ({total}{shown}):")
        lines.extend(_file_line(entry) for entry in entries)
    if not any(result.totals.values()):
        lines.append("No files yet. Call artifact_index(record=[{path, action, note}]) after you create, change or read a file.")
    if cut:
        lines.append("Narrow the list with path=\"src/**/*.py\" (a glob) or action=\"modified\".")
    return "\n".join(lines)


def _file_line(entry: FileEntry) -> str:
    notes = f" — {'; '.join(entry.notes)}" if entry.notes else ""
    return f"  {entry.path} [{'+'.join(entry.actions)}] latest seq {entry.latest_seq}, {entry.count}× (seqs {', '.join(map(str, entry.seqs))}){notes}"
