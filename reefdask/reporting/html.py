"""Tiny HTML builders for the notebook representations (``_repr_html_``) of reefdask objects.

Self-contained markup as xarray's reprs are: inline styles only, no scripts, no external
CSS, every value HTML-escaped (names come from users' files and may hold ``<``, ``&``).
Builders return strings and nest: :func:`block` wraps a titled object, :func:`table` and
:func:`fields` lay out numbers, :func:`section` folds a part away, :func:`pre` keeps text
as it prints.

Examples
--------
>>> html = table(["class", "F1"], [["reef <1>", 0.8125]])
>>> html.count("<tr>"), "reef &lt;1&gt;</td>" in html, ">0.8125</td>" in html
(2, True, True)
>>> fmt(0.123456), fmt(1234567), fmt(None), fmt(float("nan"))
('0.1235', '1,234,567', '-', '-')
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Markup", "block", "esc", "fields", "fmt", "pre", "section", "swatch", "table"]

_FONT = "font-family:var(--jp-code-font-family,monospace);font-size:12px"
_TABLE = "border-collapse:collapse;margin:2px 0 6px 0"
_HEAD = "padding:1px 8px;text-align:left"
_NUM = "padding:1px 8px;text-align:right"
_TEXT = "padding:1px 8px;text-align:left"


class Markup(str):
    """HTML built already (by these helpers): table cells insert it as it is, unescaped."""

    __slots__ = ()


def esc(value: Any) -> str:
    """``str(value)`` with ``<``, ``>``, ``&`` and quotes escaped (:class:`Markup` passes as it is)."""
    if isinstance(value, Markup):
        return str(value)
    return html.escape(str(value), quote=True)


def swatch(color: str, label: Any) -> Markup:
    """A small colour square before an (escaped) label."""
    square = f'<span style="display:inline-block;width:10px;height:10px;background:{esc(color)}"></span>'
    return Markup(f"{square} {esc(label)}")


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: floats to ``digits`` significant places, ints with separators, - for none/NaN."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"):
        return f"{int(value):,}"
    if isinstance(value, float) or hasattr(value, "dtype"):
        v = float(value)
        return "-" if not math.isfinite(v) else f"{v:.{digits}g}"
    return str(value)


def _is_num(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, int | float) and not isinstance(value, bool))
        or hasattr(value, "dtype")
    )


def _cell(value: Any, head: bool = False) -> str:
    if head:
        return f'<th style="{_HEAD}">{esc(value)}</th>'
    if _is_num(value):
        return f'<td style="{_NUM}">{esc(fmt(value))}</td>'
    return f'<td style="{_TEXT}">{esc(value)}</td>'


def table(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], *, index: bool = False) -> str:
    """A table; numbers right-aligned and formatted with :func:`fmt`; ``index``: first column as headers."""
    out = [f'<table style="{_TABLE}">']
    if header is not None:
        out.append("<tr>" + "".join(_cell(h, head=True) for h in header) + "</tr>")
    for row in rows:
        cells = [_cell(v, head=index and i == 0) for i, v in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def fields(items: Mapping[str, Any]) -> str:
    """A two-column ``name | value`` table (values that are None are left out)."""
    return table(None, ([k, v] for k, v in items.items() if v is not None), index=True)


def pre(text: str) -> str:
    """Text kept as it prints (escaped)."""
    return f"<pre>{esc(text)}</pre>"


def section(title: str, body: str, *, open: bool = True) -> str:
    """A foldable part (``<details>``): ``body`` is HTML already built."""
    state = " open" if open else ""
    return f"<details{state}><summary>{esc(title)}</summary>{body}</details>"


def block(kind: str, title: str, *parts: str) -> str:
    """The outer frame of one object's repr: ``kind`` in bold, then ``title``, then ``parts``."""
    head = f"<div><strong>{esc(kind)}</strong> {esc(title)}</div>"
    return f'<div class="reefdask-repr" style="{_FONT}">{head}{"".join(parts)}</div>'
