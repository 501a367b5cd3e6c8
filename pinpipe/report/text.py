"""The report's text formats: text (the compact view the main job prints), csv, json and markdown.

* ``text``: :func:`pinpipe.warehouse.reader.gold_report`, the first ``rows`` rows of each answer.
* ``json``: one object keyed by gold table, each ``{"title", "columns", "rows"}`` (rows as arrays;
  timestamps as ISO text); ASCII-only, so no control character of the data reaches a terminal.
* ``csv``: with one question, that table as plain CSV (a header row, then the rows); with several,
  one block per question, each a row ``gold.<table>``, the header row and the rows, blocks separated
  by an empty line. Values exactly as stored (the CLI escapes control characters on a terminal only).
* ``markdown``: a heading and a table per question; ``|``, ``<``, ``>``, ``&`` and control
  characters escaped, so no cell breaks the table or becomes HTML.

The machine formats hold every row unless ``rows`` limits them.
"""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pinpipe.report.data import Answer, Answers
from pinpipe.warehouse.reader import printable

FORMATS = ("text", "csv", "json", "markdown")


def plain(value: Any) -> Any:
    """A value as JSON has it: numbers, text, null; timestamps and dates as ISO text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _rows(answer: Answer, rows: int | None) -> tuple[tuple[Any, ...], ...]:
    return answer.rows if rows is None else answer.rows[:rows]


def render_json(answers: Answers, rows: int | None = None) -> str:
    """One object keyed by gold table: title, columns, rows."""
    document = {
        a.table: {
            "title": a.title,
            "columns": list(a.columns),
            "rows": [[plain(v) for v in row] for row in _rows(a, rows)],
        }
        for a in answers.answers
    }
    return json.dumps(document, indent=2)


def render_csv(answers: Answers, rows: int | None = None) -> str:
    """One table as plain CSV, or one block per question (see the module's description)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    single = len(answers.answers) == 1
    for number, answer in enumerate(answers.answers):
        if not single:
            if number:
                out.write("\n")
            writer.writerow([f"gold.{answer.table}"])
        writer.writerow(answer.columns)
        writer.writerows(["" if v is None else plain(v) for v in row] for row in _rows(answer, rows))
    return out.getvalue().rstrip("\n")


def _markdown_cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = printable(str(plain(value)))
    return html.escape(text, quote=False).replace("|", "\\|")


def render_markdown(answers: Answers, rows: int | None = None) -> str:
    """A heading and a table per question."""
    lines = [f"# Gold answers\n\n{answers.posts:,} posts in `gold.posts` ({printable(answers.warehouse)})."]
    for answer in answers.answers:
        shown = _rows(answer, rows)
        more = f" (first {len(shown)} of {len(answer.rows)})" if len(shown) < len(answer.rows) else ""
        lines.append(f"\n## {answer.title}\n\n`gold.{answer.table}`{more}\n")
        lines.append("| " + " | ".join(answer.columns) + " |")
        lines.append(
            "|" + "|".join("---:" if _numeric(answer, i) else "---" for i in range(len(answer.columns))) + "|"
        )
        lines.extend("| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in shown)
    return "\n".join(lines)


def _numeric(answer: Answer, column: int) -> bool:
    values = [row[column] for row in answer.rows if row[column] is not None]
    return bool(values) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in values
    )
