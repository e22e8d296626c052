"""The one Markdown table writer of the report (the tables and the claim verdicts both use it).

A table is a header row, a separator row (``---`` left-aligned or ``:-:`` centred, per column) and one row per
record; a ``|`` inside a body cell is escaped as ``\\|`` and a newline becomes a space, so a cell never breaks the
table.
"""

from __future__ import annotations

from typing import Sequence

ALIGN = {"left": "---", "center": ":-:"}


def md_table(header: Sequence[str], rows: Sequence[Sequence], align: Sequence[str] | None = None) -> str:
    """Markdown table of ``rows`` under ``header``; ``align`` is "left" or "center" per column (all left if None)."""
    align = list(align) if align is not None else ["left"] * len(header)
    if len(align) != len(header):
        raise ValueError(f"md_table: {len(align)} alignments for {len(header)} columns")
    esc = [[str(c).replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(ALIGN[a] for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    return "\n".join(lines)
