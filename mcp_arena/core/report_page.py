"""A `Report` as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

The page's Content-Security-Policy forbids every fetch (`default-src 'none'`), so
it reads the same offline, from a mail attachment or printed. The usage chart is
an SVG drawn here: the Goldilocks zone as a band, the pruning stages as lines,
squashes as shaded ranges, host compactions as marks, usage as a line through
the plotted points (each a circle carrying its figures, shown on hover), and
below it the errors per stretch of the log on the same x axis. Tables follow:
squashes, tokens kept out by shaping, the artifact trail, guides, errors, and
the seed-002 figures (what the log holds, "not recorded" otherwise).

Pure: same report, same bytes (no clock; times are the log's own, in UTC).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence

from mcp_arena.core.artifacts import FileStatus
from mcp_arena.core.report import MAX_GUIDES_LISTED, MAX_READ_ONLY_LISTED, Report, Timing, UsagePoint

WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 20, 14, 34
ERROR_HEIGHT = 64
MAX_ERROR_BINS = 120
NOT_RECORDED = "not recorded"
REASONS = {
    "first-use": "first use of the tool",
    "steps": "reminder: steps since the full guide",
    "errors": "again: the tool's last calls failed",
    "requested": "asked for (load_skill)",
}
SOURCES = {
    "transcript": "exact, from the host's transcript (the context of each model request)",
    "reported": "exact, reported by the agent (context_status used_tokens)",
    "estimate": "the arena's live tokens (all it logged minus squashed ranges), which leave out "
    "the host's system prompt and anything not logged",
}

CSS = """
:root{--fg:#1d2430;--muted:#5b6575;--line:#d9dee6;--bg:#fff;--card:#f6f8fb;--zone:#dff3e4;--usage:#2456c9;
--est:#7a52c7;--squash:#f0a23a;--err:#d2362f;--stage:#b5431f}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1040px;margin:0 auto;padding:24px 28px 48px}h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.meta{color:var(--muted)}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px;margin-top:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}.card b{display:block;font-size:20px}
.card span{color:var(--muted);font-size:12.5px}svg{width:100%;height:auto;display:block}.axis{font-size:11px;fill:var(--muted)}
.grid{stroke:var(--line);stroke-width:1}.zone{fill:var(--zone)}.stage{stroke:var(--stage);stroke-dasharray:5 4;stroke-width:1.2}
.stage-label{font-size:11px;fill:var(--stage)}.squash{fill:var(--squash);fill-opacity:.22;stroke:var(--squash);stroke-opacity:.7}
.squash.undone{fill-opacity:.06;stroke-dasharray:3 3}.squash-label{font-size:11px;fill:#9a5b06}
.compaction{stroke:var(--err);stroke-width:1.5;stroke-dasharray:2 3}.usage{fill:none;stroke:var(--usage);stroke-width:1.8}
.usage.estimate{stroke:var(--est);stroke-dasharray:6 3}.pts circle{fill:var(--usage);r:2.6px}.pts.dense circle{r:1.6px}
.pts.estimate circle{fill:var(--est)}.err-bin{fill:var(--err)}#trail td:first-child{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
#trail td:nth-child(3){text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}#trail tr.dir td{color:var(--muted);padding-top:8px}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12.5px;color:var(--muted);margin:6px 0}.sw{display:inline-block;width:14px;height:10px;
margin-right:5px;vertical-align:-1px;border-radius:2px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.bar-cell{width:28%}.bar{background:var(--usage);height:9px;border-radius:2px;min-width:1px}
.none{color:var(--muted);font-style:italic}.note{color:var(--muted);font-size:12.5px}footer{margin-top:36px;color:var(--muted);font-size:12px}
@media print{main{max-width:none;padding:0}h2{break-after:avoid}.chart,.cards,tr{break-inside:avoid}a{color:inherit}}
"""


def render(report: Report, *, generator: str = "mcp-arena") -> str:
    """The whole page."""
    title = f"Session {report.session} · mcp-arena report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS.strip()}</style></head><body><main>",
        _header(report),
        _cards(report),
        _usage_section(report),
        _squash_section(report),
        _shaping_section(report),
        _trail_section(report),
        _guide_section(report),
        _error_section(report),
        _figures_section(report),
        f"<footer>Made by {_e(generator)} from the arena's log of this session. Self-contained: no script, nothing fetched.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


# -- header and cards ------------------------------------------------------------------------------


def _header(report: Report) -> str:
    span = ""
    if report.first_ts is not None and report.last_ts is not None:
        span = f" · log time {_utc(report.first_ts)} → {_utc(report.last_ts)}"
    label = f"{_e(report.label)} · " if report.label else ""
    origin = f"{_e(report.origin)} · " if report.origin else ""
    return (
        f'<header><h1>Session <code id="session">{_e(report.session)}</code></h1>'
        f'<div class="meta">{label}{origin}{report.events:,} events · {report.tool_calls:,} tool calls{span}</div></header>'
    )


def _cards(report: Report) -> str:
    now, peak = report.usage_now, report.usage_peak
    freed = f"{report.tokens_freed:,} tokens freed"
    files = report.trail
    changed = len(files.created) + len(files.modified) + len(files.deleted)
    cards = [
        ("usage-now", _pct(now) if now else "—", f"usage at the end ({now.source})" if now else "no usage figure"),
        ("usage-peak", _pct(peak) if peak else "—", f"peak, at seq {peak.seq:,}" if peak else ""),
        ("squashes", f"{sum(s.active for s in report.squashes)}", f"active squash(es) · {freed}"),
        ("kept-out", f"{report.tokens_kept_out:,}", f"tokens kept out by shaping ({report.trimmed_results} results)"),
        ("files", f"{changed:,}", f"files changed · {len(files.read_only):,} only read"),
        ("guides", f"{len(report.guides):,}", "guide pages attached"),
        ("errors", f"{len(report.errors):,}", "failed results"),
        ("compactions", f"{len(report.compactions):,}", "host compactions"),
    ]
    body = "".join(f'<div class="card" id="card-{key}"><b>{_e(value)}</b><span>{_e(what)}</span></div>' for key, value, what in cards)
    return f'<section class="cards">{body}</section>'


# -- the usage chart -------------------------------------------------------------------------------


class Scale:
    """Log position (seq) and usage percent to chart coordinates."""

    def __init__(self, last_seq: int, top_pct: float, height: int = HEIGHT):
        self.last_seq = max(last_seq, 1)
        self.top_pct = top_pct
        self.height = height

    def x(self, seq: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * seq / self.last_seq

    def y(self, pct: float) -> float:
        return TOP + (self.height - TOP - BOTTOM) * (1 - pct / self.top_pct)


def _usage_section(report: Report) -> str:
    peak = report.usage_peak.pct if report.usage_peak else 0.0
    scale = Scale(report.last_seq, max(100.0, 10 * ((peak + 9.999) // 10)))
    svg = [f'<svg class="chart" id="usage-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="usage over the session">']
    svg += _grid(scale)
    svg.append(_zone(report, scale))
    svg += [_squash_range(mark.record, mark.tag, mark.from_seq, mark.to_seq, mark.active, mark.tokens_freed, scale) for mark in report.squashes]
    svg += _stages(report, scale)
    svg += [_compaction(seq, scale) for seq in report.compactions]
    svg += _usage_lines(report.usage, scale)
    svg += _x_axis(report.last_seq, scale)
    svg.append("</svg>")
    return "".join(
        [
            '<section id="usage"><h2>Usage over the session</h2>',
            f'<p class="note" id="usage-source">{_e(_usage_caption(report))}</p>',
            "".join(svg),
            _errors_strip(report, scale),
            _legend(report),
            "</section>",
        ]
    )


def _usage_caption(report: Report) -> str:
    sources = "; ".join(f"{source}: {SOURCES.get(source, source)}" for source in report.usage_sources) or "no events"
    if report.usage_samples:
        count = f"{report.usage_samples:,} usage sample(s) in the log"
    else:
        count = f"no usage sample in the log: the line is the arena's own count after each of {report.events:,} events"
    drawn = len(report.usage)
    total = report.usage_samples or report.events
    shown = f"all {drawn:,} points drawn" if drawn == total else f"{drawn:,} of {total:,} points drawn (lowest and highest of each stretch, so peaks stay)"
    return f"{count}; {shown}. Source — {sources}. Window {report.window:,} tokens."


def _grid(scale: Scale) -> list[str]:
    lines = []
    step = 20 if scale.top_pct <= 100 else 25 * max(int(scale.top_pct // 100), 1)
    for pct in range(0, int(scale.top_pct) + 1, step):
        y = scale.y(pct)
        lines.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        lines.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>')
    return lines


def _zone(report: Report, scale: Scale) -> str:
    low, high = report.zone
    y_top, y_bottom = scale.y(high), scale.y(low)
    return (
        f'<rect class="zone" id="zone" x="{LEFT}" y="{y_top:.1f}" width="{WIDTH - LEFT - RIGHT}" height="{y_bottom - y_top:.1f}">'
        f"<title>Goldilocks zone {low:g}–{high:g}%</title></rect>"
    )


def _stages(report: Report, scale: Scale) -> list[str]:
    lines = []
    for stage, name, pct in report.stages:
        y = scale.y(pct)
        lines.append(f'<line class="stage" data-stage="{stage}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        lines.append(f'<text class="stage-label" x="{WIDTH - RIGHT - 4}" y="{y - 3:.1f}" text-anchor="end">stage {stage} · {_e(name)} {pct:g}%</text>')
    return lines


def _squash_range(record: int, tag: str, from_seq: int, to_seq: int, active: bool, freed: int, scale: Scale) -> str:
    x1, x2 = scale.x(from_seq), min(scale.x(to_seq + 1), WIDTH - RIGHT)
    state = "" if active else " undone"
    what = "" if active else " (undone or covered by a later squash)"
    return (
        f'<g><rect class="squash{state}" data-record="{record}" data-from="{from_seq}" data-to="{to_seq}" data-freed="{freed}" '
        f'x="{x1:.1f}" y="{TOP}" width="{max(x2 - x1, 1.5):.1f}" height="{HEIGHT - TOP - BOTTOM}">'
        f"<title>squash #{record} from tag {_e(tag)}: seq {from_seq:,}–{to_seq:,}, {freed:,} tokens freed{what}</title></rect>"
        f'<text class="squash-label" x="{x1 + 2:.1f}" y="{TOP + 11}">#{record}</text></g>'
    )


def _compaction(seq: int, scale: Scale) -> str:
    x = scale.x(seq)
    return (
        f'<line class="compaction" data-seq="{seq}" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}">'
        f"<title>host compaction at seq {seq:,}</title></line>"
    )


def _usage_lines(points: Sequence[UsagePoint], scale: Scale) -> list[str]:
    """Per source, a line through the points and the points themselves (figures on hover, and in data-*)."""
    out = []
    for source in dict.fromkeys(p.source for p in points):
        mine = [p for p in points if p.source == source]
        path = " ".join(f"{scale.x(p.seq):.1f},{scale.y(p.pct):.1f}" for p in mine)
        out.append(f'<polyline class="usage {source}" points="{path}"/>')
        dots = "".join(
            f'<circle cx="{scale.x(p.seq):.1f}" cy="{scale.y(p.pct):.1f}" data-seq="{p.seq}" data-used="{p.used}" data-window="{p.window}">'
            f"<title>seq {p.seq:,} · {p.pct:.1f}% · {p.used:,}/{p.window:,}</title></circle>"
            for p in mine
        )
        out.append(f'<g class="pts {source}{" dense" if len(points) > 120 else ""}">{dots}</g>')
    return out


def _x_axis(last_seq: int, scale: Scale) -> list[str]:
    ticks = _ticks(last_seq)
    out = [f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>']
    out += [
        f'<text class="axis" x="{scale.x(t):.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="{"end" if t == ticks[-1] and t > 0 else "middle"}">{t:,}</text>'
        for t in ticks
    ]
    out.append(f'<text class="axis" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">log position (seq)</text>')
    return out


def _ticks(last_seq: int) -> list[int]:
    """About eight round positions from 0 to last_seq."""
    if last_seq <= 0:
        return [0]
    raw = last_seq / 8
    magnitude = 10 ** (len(str(int(raw))) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, last_seq + 1, max(step, 1)))


def _errors_strip(report: Report, scale: Scale) -> str:
    """Failed results per stretch of the log, on the chart's x axis."""
    bins = min(MAX_ERROR_BINS, report.events) or 1
    width = max(report.events / bins, 1.0)
    counts = [0] * bins
    for seq, _ in report.errors:
        counts[min(int(seq / width), bins - 1)] += 1
    top = max(counts) or 1
    height = ERROR_HEIGHT - 18
    bars = []
    for i, count in enumerate(counts):
        if not count:
            continue
        first, last = int(i * width), min(int((i + 1) * width) - 1, report.last_seq)
        x1, x2 = scale.x(first), min(scale.x(last + 1), WIDTH - RIGHT)
        h = max(height * count / top, 1.5)
        bars.append(
            f'<rect class="err-bin" data-count="{count}" data-from="{first}" data-to="{last}" x="{x1:.1f}" y="{4 + height - h:.1f}" '
            f'width="{max(x2 - x1 - 0.6, 1):.1f}" height="{h:.1f}"><title>{count} error(s) in seq {first:,}–{last:,}</title></rect>'
        )
    caption = f"errors over time: {len(report.errors):,} failed result(s); tallest bar {top if report.errors else 0}"
    return (
        f'<svg id="errors-chart" viewBox="0 0 {WIDTH} {ERROR_HEIGHT}" role="img" aria-label="errors over the session">'
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{4 + height}" y2="{4 + height}"/>'
        f'<text class="axis" x="{LEFT - 6}" y="{4 + height}" text-anchor="end">errors</text>'
        + "".join(bars)
        + f'<text class="axis" x="{LEFT}" y="{ERROR_HEIGHT - 2}">{_e(caption)}</text></svg>'
    )


def _legend(report: Report) -> str:
    items = [f'<span><i class="sw" style="background:var(--{"est" if s == "estimate" else "usage"})"></i>usage ({_e(s)})</span>' for s in report.usage_sources]
    low, high = report.zone
    items.append(f'<span><i class="sw" style="background:var(--zone)"></i>Goldilocks zone {low:g}–{high:g}%</span>')
    items.append('<span><i class="sw" style="background:var(--stage);height:2px"></i>pruning stages (settings)</span>')
    items.append('<span><i class="sw" style="background:var(--squash);opacity:.5"></i>squashed range</span>')
    if report.compactions:
        items.append('<span><i class="sw" style="background:var(--err);height:2px"></i>host compaction</span>')
    items.append('<span><i class="sw" style="background:var(--err)"></i>errors</span>')
    return f'<div class="legend">{"".join(items)}</div>'


# -- tables ----------------------------------------------------------------------------------------


def _squash_section(report: Report) -> str:
    head = '<section id="squashes"><h2>Squashes</h2>'
    if not report.squashes:
        return head + '<p class="none">No squash in this session.</p></section>'
    rows = [
        _row(
            [
                f"#{s.record}",
                _e(s.tag),
                f"{s.from_seq:,}–{s.to_seq:,}",
                (f"{s.tokens_before:,}", "n"),
                (f"{s.tokens_after:,}", "n"),
                (f"{s.tokens_freed:,}", "n"),
                (f"{s.ratio:.1f} : 1" if s.ratio else "—", "n"),
                (f"{s.seconds * 1000:,.0f} ms" if s.seconds is not None else NOT_RECORDED, "n"),
                "active" if s.active else "undone or covered",
            ],
            f'class="squash-row" data-record="{s.record}"',
        )
        for s in report.squashes
    ]
    header = _header_row(["", "tag", "range (seq)", ("tokens before", "n"), ("summary after", "n"), ("freed", "n"), ("rate", "n"), ("time", "n"), "state"])
    note = (
        '<p class="note">Tokens before: the range\'s live tokens when squashed; after: the anchored summary that replaces it. '
        "Time: from the squash call to its result, in the server (not recorded for squashes it did not serve).</p>"
    )
    return f"{head}<table>{header}{''.join(rows)}</table>{note}</section>"


def _shaping_section(report: Report) -> str:
    head = '<section id="shaping"><h2>Kept out by shaping</h2>'
    if not report.kept_out:
        return head + '<p class="none">No result was trimmed: the proxy and the hook did not run for this session, or nothing flooded.</p></section>'
    top = max(k.kept_out for k in report.kept_out) or 1
    rows = [
        _row(
            [
                f"<code>{_e(k.tool or '(no tool)')}</code>",
                (f"{k.results:,}" + (f" ({k.undone} undone)" if k.undone else ""), "n"),
                (f"{k.tokens:,}", "n"),
                (f"{k.shown:,}", "n"),
                (f"{k.kept_out:,}", "n"),
                (f'<div class="bar" style="width:{100 * max(k.kept_out, 0) / top:.1f}%"></div>', "bar-cell"),
            ],
            f'class="kept-row" data-tool="{_e(k.tool)}" data-kept="{k.kept_out}"',
        )
        for k in report.kept_out
    ]
    header = _header_row(["tool", ("trimmed results", "n"), ("original tokens", "n"), ("shown", "n"), ("kept out", "n"), ""])
    total = (
        f'<p class="note">{report.tokens_kept_out:,} tokens kept out of the context in all; '
        "every original stays in the log, paged back exactly with memory_search(seq, page).</p>"
    )
    return f"{head}<table>{header}{''.join(rows)}</table>{total}</section>"


def _trail_section(report: Report) -> str:
    parts = ['<section id="trail"><h2>Artifact trail</h2>']
    if not report.trail.count:
        parts.append('<p class="none">No file recorded in this session.</p>')
    for name, files in report.trail.groups():
        listed = files[:MAX_READ_ONLY_LISTED] if name == "read only" else files
        group = name.replace(" ", "-")
        parts.append(f'<h3 id="files-{group}">{_e(name.capitalize())} ({len(files):,})</h3>')
        if not files:
            parts.append('<p class="none">none</p>')
            continue
        header = _header_row(["file (by folder)", "what happened", "at seq", "notes"])
        parts.append(f'<table class="files" data-group="{group}">{header}{"".join(_file_rows(listed, name))}</table>')
        if len(listed) < len(files):
            parts.append(f'<p class="note">and {len(files) - len(listed):,} more files only read (artifact_index lists them all).</p>')
    parts.append("</section>")
    return "".join(parts)


def _file_rows(files: Sequence[FileStatus], group: str) -> list[str]:
    """One row a file under a row per folder (files come sorted by path); what happened is said
    only where it is more than the group's name. Rows are kept short: a trail can hold thousands."""
    rows = []
    folder = None
    for status in files:
        parent, slash, name = status.path.rpartition("/")
        if parent + slash != folder:
            folder = parent + slash
            rows.append(f'<tr class="dir"><td colspan="4">{_e(folder or "./")}')
        what = status.label + (f" ({', '.join(status.actions)})" if len(status.actions) > 1 else "")
        seqs = status.seqs
        at = f"{seqs[0]:,}" if len(seqs) == 1 else f"{seqs[0]:,} … {seqs[-1]:,} ({len(seqs)}×)" if seqs else ""
        said = "" if what == group or (group == "read only" and what == "read") else _e(what)
        rows.append(f"<tr><td>{_e(name)}<td>{said}<td>{at}<td>{_e('; '.join(status.notes))}")
    return rows


def _guide_section(report: Report) -> str:
    head = '<section id="guides"><h2>Guides paged in</h2>'
    if not report.guides:
        return head + (
            '<p class="none">No guide was attached in this session (the arena pages guides into its own results '
            "and, with the proxy or hook, other tools' results).</p></section>"
        )
    summary = [
        _row([f"<code>{_e(skill)}</code>", _e(tier), _e(REASONS.get(reason, reason)), (f"{count:,}", "n")])
        for (skill, tier, reason), count in report.guides_by_reason()
    ]
    listed = report.guides[:MAX_GUIDES_LISTED]
    pages = [
        _row(
            [(f"{g.seq:,}", "n"), f"<code>{_e(g.skill)}</code>", _e(g.tier), _e(REASONS.get(g.reason, g.reason)), f"<code>{_e(g.tool)}</code>"],
            'class="guide-row"',
        )
        for g in listed
    ]
    more = f'<p class="note">and {len(report.guides) - len(listed):,} more pages.</p>' if len(listed) < len(report.guides) else ""
    return (
        f"{head}<table>{_header_row(['skill', 'page', 'why', ('pages', 'n')])}{''.join(summary)}</table>"
        f"<h3>Page by page</h3><table>{_header_row([('seq', 'n'), 'skill', 'page', 'why', 'after a result of'])}{''.join(pages)}</table>{more}</section>"
    )


def _error_section(report: Report) -> str:
    head = '<section id="errors"><h2>Errors</h2>'
    if not report.errors:
        return head + '<p class="none">No failed result in this session.</p></section>'
    rows = [_row([f"<code>{_e(tool)}</code>", (f"{count:,}", "n")]) for tool, count in report.errors_by_tool()]
    first = ", ".join(f"{seq:,}" for seq, _ in report.errors[:12]) + (" …" if len(report.errors) > 12 else "")
    table = f'<table>{_header_row(["tool", ("failed results", "n")])}{"".join(rows)}</table>'
    return f'{head}{table}<p class="note">At seq {first}; over time in the strip under the usage chart.</p></section>'


def _figures_section(report: Report) -> str:
    """The figures seed 002 asks to watch, as far as the session's log holds them."""
    compression = report.compression
    rate = (
        f"{compression[0] / compression[1]:.1f} : 1 ({compression[0]:,} → {compression[1]:,} tokens over {sum(s.active for s in report.squashes)} squash(es))"
        if compression and compression[1]
        else None
    )
    logged = report.logged_tokens
    hot = f"{report.live_tokens:,} live of {logged:,} logged ({100 * report.live_tokens / logged:.0f}%)" if logged else None
    rows = [
        ("search latency (memory_search)", _timing(report.search), "server time from call to result of the searches this arena answered"),
        ("compression rate (summary layer)", rate, "squash records: the range's live tokens : the anchored summary's tokens"),
        ("incremental summary time", _timing(report.summary_time), "server time of each squash (plan + merge into the anchored summary)"),
        ("hot vs stored", hot, "the arena's count: tokens still live in the window vs everything kept in the log"),
        ("causal-chain fidelity", None, "probe questions over compressed history: mcp-arena eval measures it on transcripts, not the log"),
    ]
    body = "".join(
        f'<tr data-figure="{_e(name)}"><td>{_e(name)}<td>{_e(value) if value else f"<span class=none>{NOT_RECORDED}</span>"}<td class="note">{_e(how)}</tr>'
        for name, value, how in rows
    )
    return f'<section id="figures"><h2>Figures to watch (seed 002)</h2><table>{_header_row(["figure", "this session", "from"])}{body}</table></section>'


def _timing(timing: Timing | None) -> str | None:
    if timing is None:
        return None
    p99 = f" · p99 {timing.p99:,.1f} ms" if timing.count >= 100 else ""
    return f"p50 {timing.p50:,.1f} ms · p95 {timing.p95:,.1f} ms{p99} · max {timing.max:,.1f} ms over {timing.count:,} call(s)"


# -- helpers ---------------------------------------------------------------------------------------

Cell = str | tuple[str, str]  # html, or (html, class)


def _row(cells: Iterable[Cell], attributes: str = "") -> str:
    out = []
    for cell in cells:
        text, cls = cell if isinstance(cell, tuple) else (cell, "")
        out.append(f'<td class="{cls}">{text}' if cls else f"<td>{text}")
    return f"<tr {attributes}>{''.join(out)}</tr>" if attributes else f"<tr>{''.join(out)}</tr>"


def _header_row(cells: Iterable[Cell]) -> str:
    out = []
    for cell in cells:
        text, cls = cell if isinstance(cell, tuple) else (cell, "")
        out.append(f'<th class="{cls}">{_e(text)}</th>' if cls else f"<th>{_e(text)}</th>")
    return f"<tr>{''.join(out)}</tr>"


def _pct(point: UsagePoint) -> str:
    return f"{point.pct:.1f}%"


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
