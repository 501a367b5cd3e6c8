"""The report as one self-contained HTML page: a chart and a table per gold question, and the run's
health (rows per layer, quarantine, values lost in cleaning, freshness, the build).

Charts are inline SVG drawn here (bars, axis, values, a title and a description for screen readers,
a native tooltip per bar), so the page reads without JavaScript and has none. Nothing is fetched: no
script, font, style sheet or image from elsewhere, and a Content-Security-Policy forbids it. Every
value of the data goes through :func:`text` (control characters as visible escapes, then HTML
escaping), so hostile text (``<script>``, quotes, control characters) shows literally.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pinpipe import __version__
from pinpipe.report.data import Answer, Freshness, Health, Report
from pinpipe.warehouse.reader import printable

CHART_BARS = 30
"""Bars per chart at most (the first rows in the answer's order); the table beside holds every row."""


def text(value: Any) -> str:
    """Any value as safe HTML text: control characters as escapes, then HTML-escaped."""
    return html.escape(printable(str(value)), quote=True)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def cell(name: str, value: Any) -> str:
    """A value as a table cell shows it: thousands separators (not in years), NULL as an em dash."""
    if value is None:
        return '<span class="null" title="NULL">—</span>'
    if isinstance(value, datetime):
        return text(stamp(value))
    if isinstance(value, int) and not isinstance(value, bool) and not name.endswith("year"):
        return f"{value:,}"
    return text(value)


def stamp(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def duration(age: timedelta | None) -> str:
    """An age as a person says it: 42 s, 5 min, 3 h 10 min, 2 d 4 h."""
    if age is None:
        return "—"
    seconds = int(age.total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


# --- charts ------------------------------------------------------------------------------------------


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def short(value: float) -> str:
    """An axis tick: 1B, 1.5M, 25k, 300."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def clip(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(
    chart_id: str,
    title: str,
    bars: Sequence[tuple[str, float]],
    value_label: str,
    *,
    total: int | None = None,
) -> str:
    """A horizontal bar chart as inline SVG: one labelled bar per (label, value), an x axis with
    round ticks and its label, the value at the end of each bar, a tooltip per bar."""
    if not bars:
        return f'<p class="empty" id="{chart_id}">No rows to chart.</p>'
    longest = max(len(clip(label)) for label, _ in bars)
    label_w, plot_w, value_w, row_h, top_pad = min(230, max(80, 7 * longest + 12)), 300, 80, 24, 8
    width = label_w + plot_w + value_w
    height = top_pad + row_h * len(bars) + 44
    ticks = nice_ticks(max(max(v for _, v in bars), 0))
    scale = plot_w / ticks[-1] if ticks[-1] else 0
    shown = len(bars) if total is None else total
    summary = (
        f"{len(bars)} bars of {value_label}"
        + (f", the first {len(bars)} of {shown} rows" if shown > len(bars) else "")
        + "; largest "
        + ", ".join(f"{label} {number(v)}" for label, v in sorted(bars, key=lambda b: -b[1])[:3])
    )
    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{chart_id}-title">{text(title)}</title>',
        f'<desc id="{chart_id}-desc">{text(summary)}</desc>',
    ]
    axis_y = top_pad + row_h * len(bars)
    for tick in ticks:
        x = label_w + tick * scale
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad - 4}" y2="{axis_y}"/>'
            f'<text class="tick" x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle">'
            f"{text(short(tick))}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{label_w}" x2="{label_w + plot_w}" y1="{axis_y}" y2="{axis_y}"/>'
        f'<text class="axis-label" x="{label_w + plot_w / 2}" y="{axis_y + 36}" '
        f'text-anchor="middle">{text(value_label)}</text>'
    )
    for position, (label, value) in enumerate(bars):
        y = top_pad + row_h * position
        bar_w = max(value, 0) * scale
        shown_value = number(value)
        parts.append(
            f'<g class="bar"><title>{text(label)}: {text(shown_value)}</title>'
            f'<text class="label" x="{label_w - 8}" y="{y + row_h / 2 + 4}" text-anchor="end">'
            f"{text(clip(label))}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w:.1f}" height="{row_h - 8}" rx="3"/>'
            f'<text class="value" x="{label_w + bar_w + 6:.1f}" y="{y + row_h / 2 + 4}">'
            f"{text(shown_value)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def number(value: float) -> str:
    """A bar's value: 12,000 or 1,234.5."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


def chart_columns(answer: Answer) -> tuple[list[int], int] | None:
    """(label columns, value column) of an answer: the value is its last numeric column that is not
    a year; the label, the others. None when no column is numeric."""
    numeric = [
        i
        for i, name in enumerate(answer.columns)
        if not name.endswith("year")
        and any(row[i] is not None for row in answer.rows)
        and all(row[i] is None or is_number(row[i]) for row in answer.rows)
    ]
    if not numeric:
        return None
    value = numeric[-1]
    return [i for i in range(len(answer.columns)) if i != value], value


def answer_chart(answer: Answer, chart_id: str) -> str:
    columns = chart_columns(answer)
    if columns is None:
        return f'<p class="empty" id="{chart_id}">Nothing numeric to chart.</p>'
    labels, value = columns
    bars = [
        (" · ".join("NULL" if row[i] is None else str(row[i]) for i in labels), float(row[value] or 0))
        for row in answer.rows[:CHART_BARS]
    ]
    return bar_chart(chart_id, answer.title, bars, answer.columns[value], total=len(answer.rows))


# --- tables ------------------------------------------------------------------------------------------


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str, *, attrs: str = "") -> str:
    if not rows:
        return f'<p class="empty">{text(caption)}: no rows.</p>'
    numeric = [
        any(is_number(r[i]) for r in rows) and all(r[i] is None or is_number(r[i]) for r in rows)
        for i in range(len(columns))
    ]
    head = "".join(
        f'<th scope="col"{" class=num" if numeric[i] else ""}>{text(c)}</th>' for i, c in enumerate(columns)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if numeric[i] else ''}>{cell(columns[i], v)}</td>" for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="table-wrap" tabindex="0"><table{attrs}><caption>{text(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


# --- the page ----------------------------------------------------------------------------------------


def answer_section(answer: Answer) -> str:
    chart_id = f"chart-{answer.table}"
    more = (
        f" The chart shows the first {CHART_BARS} of {len(answer.rows):,} rows; the table lists all."
        if len(answer.rows) > CHART_BARS
        else ""
    )
    return (
        f'<section class="card answer" id="{text(answer.table)}" data-question="{text(answer.table)}">'
        f"<header><h2>{text(answer.title)}</h2>"
        f'<p class="source"><code>gold.{text(answer.table)}</code> · {len(answer.rows):,} '
        f"row{'s' if len(answer.rows) != 1 else ''}.{more}</p></header>"
        f'<div class="pair"><figure class="figure">{answer_chart(answer, chart_id)}</figure>'
        + table(
            answer.columns, answer.rows, f"gold.{answer.table}", attrs=f' data-table="{text(answer.table)}"'
        )
        + "</div></section>"
    )


def badge(status: str) -> str:
    return f'<span class="badge {text(status)}">{text(status)}</span>'


def freshness_rows(fresh: Sequence[Freshness]) -> str:
    rows = "".join(
        f"<tr><td><code>bronze.{text(f.table)}</code></td><td class=num>{f.rows:,}</td>"
        f"<td>{text(stamp(f.latest_ingested_at))}</td><td class=num>{text(duration(f.age))}</td>"
        f"<td>{badge(f.status)}</td></tr>"
        for f in fresh
    )
    return (
        '<div class="table-wrap" tabindex="0"><table><caption>Freshness of each bronze table</caption>'
        "<thead><tr><th scope=col>table</th><th scope=col class=num>rows</th>"
        "<th scope=col>latest _ingested_at</th><th scope=col class=num>age</th><th scope=col>status</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def build_block(health: Health) -> str:
    build = health.build
    loaded = f"gold.posts last loaded at {text(stamp(health.gold_loaded_at))}."
    if build is None:
        return (
            f"<p>{loaded} No build record in the warehouse (<code>pinpipe_meta.warehouse_builds</code>): "
            "it was built by another tool (e.g. the Airflow DAG's dbt tasks) or an older pinpipe, so the "
            "bronze versions it read are unknown.</p>"
        )
    outcome = "succeeded" if build.exit_code == 0 else f"failed (exit {build.exit_code})"
    took = (build.finished_at - build.started_at).total_seconds()
    rows = []
    for name, (start, end) in sorted(build.versions.items()):
        now = health.current_versions.get(name)
        read = "—" if start is None else (f"v{start}" if start == end else f"v{start} or v{end}")
        moved = now is not None and now != end
        rows.append(
            f"<tr><td><code>bronze.{text(name)}</code></td><td class=num>{text(read)}</td>"
            f"<td class=num>{'—' if now is None else f'v{now}'}</td>"
            f"<td>{badge('newer data' if moved else 'current')}</td></tr>"
        )
    return (
        f"<p>Gold was built by <code>dbt {text(build.command)}</code>, which {outcome}, finishing at "
        f"<strong>{text(stamp(build.finished_at))}</strong> after {took:.1f} s. {loaded}</p>"
        '<div class="table-wrap" tabindex="0"><table><caption>Bronze Delta versions gold was built from'
        "</caption><thead><tr><th scope=col>table</th><th scope=col class=num>version read</th>"
        "<th scope=col class=num>version now</th><th scope=col>since</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def health_section(health: Health) -> str:
    layer_bars = [
        (f"{c.layer} · {c.table.removeprefix('stg_pinterest__')}", float(c.rows)) for c in health.layers
    ]
    layers = bar_chart("chart-layers", "Rows per table, by layer", layer_bars, "rows")
    quarantine = bar_chart(
        "chart-quarantine",
        "Quarantined records by reason",
        [(r, float(n)) for r, n in health.quarantine_by_reason],
        "records",
    )
    lost = list(health.lost_values)
    lost_chart = bar_chart(
        "chart-lost",
        "Values lost in cleaning, by column",
        [
            (f"{v.model.removeprefix('stg_pinterest__')} · {v.column}", float(v.values))
            for v in lost
            if v.values
        ],
        "values turned NULL",
    )
    if not any(v.values for v in lost):
        lost_chart = '<p class="empty good" id="chart-lost">No value was lost in cleaning.</p>'
    if not health.quarantine_by_reason:
        quarantine = '<p class="empty good" id="chart-quarantine">Nothing was quarantined.</p>'
    return (
        '<section class="card" id="health"><header><h2>Run health</h2>'
        '<p class="source">How much reached each layer, what was refused or lost on the way, how fresh '
        "the sources are, and which bronze versions gold was built from.</p></header>"
        '<h3 id="build">Build</h3>'
        + build_block(health)
        + '<h3 id="freshness">Source freshness</h3><p class="note">dbt\'s source freshness: the batch '
        "tables warn after 26 h and fail after 3 days without a new delivery.</p>"
        + freshness_rows(health.freshness)
        + '<h3 id="layers">Rows per layer</h3><div class="pair even"><figure class="figure">'
        + layers
        + "</figure>"
        + table(
            ("layer", "table", "rows"), [(c.layer, c.table, c.rows) for c in health.layers], "Rows per layer"
        )
        + '</div><h3 id="quarantine">Quarantined records</h3><p class="note">Deliveries the bronze loader '
        "refused (not JSON, no integer index), from <code>gold.quarantine_summary</code>.</p>"
        '<div class="pair"><figure class="figure">'
        + quarantine
        + "</figure>"
        + table(health.quarantine_columns, health.quarantine_rows, "gold.quarantine_summary")
        + '</div><h3 id="lost">Values lost in cleaning</h3><p class="note">Values present in bronze (not a '
        "source placeholder) that cleaning turned into NULL in silver, per analysed column, as dbt's "
        "<code>no_values_lost_in_cleaning</code> warnings count them, here over every row; <code>ind</code>"
        ": deliveries whose index is not a post's.</p>"
        '<div class="pair"><figure class="figure">'
        + lost_chart
        + "</figure>"
        + table(
            ("silver model", "column", "values lost"),
            [(v.model, v.column, v.values) for v in lost],
            "Values lost in cleaning",
        )
        + "</div></section>"
    )


def render_html(report: Report) -> str:
    """The whole page."""
    settings, health, answers = report.settings, report.health, report.answers
    built = health.build.finished_at if health.build else health.gold_loaded_at
    bronze_rows = sum(
        c.rows for c in health.layers if c.layer == "bronze" and c.table in ("pin", "geo", "user")
    )
    quarantined = sum(n for _, n in health.quarantine_by_reason)
    lost = sum(v.values for v in health.lost_values)
    ages = [f.age for f in health.freshness if f.table in ("pin", "geo", "user") and f.age is not None]
    stale = any(f.status in ("warn", "error") for f in health.freshness)
    cards = [
        ("posts in gold", f"{answers.posts:,}", "complete pin + geo + user, one per index", ""),
        ("bronze deliveries", f"{bronze_rows:,}", "pin, geo and user records, every delivery", ""),
        ("quarantined", f"{quarantined:,}", "records the loader refused", "warn" if quarantined else "good"),
        ("values lost", f"{lost:,}", "turned NULL by cleaning", "warn" if lost else "good"),
        (
            "newest delivery",
            duration(min(ages)) + " ago" if ages else "—",
            "age of the latest bronze record",
            "warn" if stale else "good",
        ),
    ]
    stats = "".join(
        f'<div class="stat {kind}"><span class="stat-label">{text(label)}</span>'
        f'<span class="stat-value">{text(value)}</span><span class="stat-note">{text(note)}</span></div>'
        for label, value, note, kind in cards
    )
    nav = "".join(
        f'<li><a href="#{text(a.table)}">{text(a.title.split(" ", 1)[0])}</a></li>' for a in answers.answers
    )
    meta = [
        ("data folder", str(settings.data_dir)),
        ("warehouse", str(settings.warehouse)),
        ("lake", str(settings.lake)),
        ("gold built", stamp(built)),
        ("report generated", stamp(report.generated_at)),
    ]
    meta_html = "".join(f"<div><dt>{text(k)}</dt><dd>{text(v)}</dd></div>" for k, v in meta)
    sections = "".join(answer_section(a) for a in answers.answers)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
img-src data:; base-uri 'none'; form-action 'none'">
<meta name="generator" content="pinpipe {text(__version__)}">
<title>pinpipe report · {text(stamp(built))}</title>
<style>{CSS}</style>
</head>
<body>
<header class="top">
<div class="wrap">
<p class="brand"><span class="logo" aria-hidden="true">◆</span> pinpipe</p>
<h1>Gold answers and run health</h1>
<dl class="meta">{meta_html}</dl>
</div>
</header>
<nav class="toc" aria-label="Sections"><div class="wrap">
<ul>{nav}<li><a href="#health">Health</a></li></ul>
</div></nav>
<main class="wrap">
<section class="stats" aria-label="Summary">{stats}</section>
{sections}
{health_section(health)}
</main>
<footer class="wrap"><p>Generated by pinpipe {text(__version__)} from <code>{text(settings.warehouse)}</code>
(read-only). Answers' semantics: docs/data-contract.md. Regenerate with
<code>pinpipe report --html PATH</code>.</p></footer>
</body>
</html>
"""


def write_html(report: Report, path: Path) -> Path:
    """Write the page to ``path`` atomically (a temporary file beside it, then a rename)."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(render_html(report))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1c2330;--muted:#5b6576;--line:#e3e6eb;--bar:#e60023;
--bar-soft:#fde3e7;--good:#1a7f4b;--good-bg:#e3f4ea;--warn:#9a5b00;--warn-bg:#fff1d6;--bad:#b42318;
--bad-bg:#fde4e1;--accent:#e60023;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0f1217;--card:#171b22;--ink:#e8ebf0;--muted:#9aa4b2;
--line:#2a303a;--bar:#ff5a6e;--bar-soft:#3a1f25;--good:#5fd39a;--good-bg:#133325;--warn:#f0b44c;
--warn-bg:#3a2c10;--bad:#ff8a7a;--bad-bg:#3d1a16}}
*{box-sizing:border-box}
html{scroll-behavior:smooth}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.wrap{max-width:1240px;margin:0 auto;padding:0 24px}
.top{background:linear-gradient(135deg,#2b0a12,#6d0718 60%,#e60023);color:#fff;padding:28px 0 24px}
.brand{margin:0;font-weight:700;letter-spacing:.04em;text-transform:uppercase;font-size:13px;opacity:.85}
.logo{color:#ffd1d8}
h1{margin:4px 0 16px;font-size:28px;line-height:1.2}
.meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:8px 24px;margin:0}
.meta div{min-width:0}
.meta dt{font-size:12px;text-transform:uppercase;letter-spacing:.05em;opacity:.75}
.meta dd{margin:0;font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.toc{position:sticky;top:0;z-index:2;background:var(--card);border-bottom:1px solid var(--line)}
.toc ul{display:flex;gap:4px;margin:0;padding:8px 0;list-style:none;overflow-x:auto}
.toc a{display:block;padding:4px 10px;border-radius:999px;color:var(--ink);text-decoration:none;
font-weight:600;font-size:13px;white-space:nowrap}
.toc a:hover,.toc a:focus{background:var(--bar-soft);color:var(--accent)}
main.wrap{padding-top:24px;padding-bottom:8px}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:12px;margin-bottom:20px}
.stat{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px;
display:flex;flex-direction:column}
.stat-label{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.stat-value{font-size:26px;font-weight:700;font-variant-numeric:tabular-nums}
.stat-note{font-size:12px;color:var(--muted)}
.stat.good .stat-value{color:var(--good)}.stat.warn .stat-value{color:var(--warn)}
.card{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:20px 22px;
margin-bottom:20px;scroll-margin-top:56px}
.card h2{margin:0;font-size:19px}
.card h3{margin:22px 0 6px;font-size:16px;scroll-margin-top:56px}
.source,.note{margin:4px 0 12px;color:var(--muted);font-size:13px}
.pair{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:20px;align-items:start}

.pair.even{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
@media (max-width:900px){.pair,.pair.even{grid-template-columns:1fr}.wrap{padding:0 14px}h1{font-size:22px}}
.figure{margin:0;min-width:0}
.chart{width:100%;height:auto;display:block;font-size:12px}
.chart rect{fill:var(--bar)}
.chart .bar:hover rect{opacity:.75}
.chart .label{fill:var(--ink)}
.chart .value{fill:var(--muted);font-variant-numeric:tabular-nums}
.chart .tick{fill:var(--muted);font-size:11px}
.chart .axis-label{fill:var(--muted);font-size:12px;font-weight:600}
.chart .grid{stroke:var(--line);stroke-width:1}
.chart .axis{stroke:var(--muted);stroke-width:1}
.table-wrap{max-height:460px;overflow:auto;border:1px solid var(--line);border-radius:10px}
.table-wrap:focus{outline:2px solid var(--accent);outline-offset:2px}
table{border-collapse:collapse;width:100%;font-size:13px}
caption{text-align:left;padding:8px 10px;font-weight:600;color:var(--muted);font-size:12px}
th,td{padding:6px 10px;border-top:1px solid var(--line);text-align:left;vertical-align:top;
overflow-wrap:break-word}
th{white-space:nowrap}
th{position:sticky;top:0;background:var(--card);font-size:12px;text-transform:uppercase;
letter-spacing:.04em;color:var(--muted);box-shadow:0 1px 0 var(--line)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:color-mix(in srgb,var(--bg) 55%,transparent)}
.null{color:var(--muted)}
.empty{margin:8px 0;padding:16px;border:1px dashed var(--line);border-radius:10px;color:var(--muted)}
.empty.good{color:var(--good);background:var(--good-bg);border-color:transparent}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;
background:var(--line);color:var(--ink)}
.badge.fresh,.badge.current{background:var(--good-bg);color:var(--good)}
.badge.warn,.badge.newer{background:var(--warn-bg);color:var(--warn)}
.badge.error{background:var(--bad-bg);color:var(--bad)}
footer{color:var(--muted);font-size:13px;padding-bottom:32px}
@media print{.toc{display:none}.card{break-inside:avoid}.table-wrap{max-height:none}}
"""
