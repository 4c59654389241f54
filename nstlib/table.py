"""One printable table: a list of records that prints as text (``print``, ``repr``) and as HTML in Jupyter.

The package's tables (the architecture table of :mod:`nstlib.analysis`, and the same pattern in the
receptive-field table and the image catalogue) are lists of records with a way to print them. A
subclass says only what differs:

- ``headers``: the column titles;
- :meth:`Table.cells`: one record as a list of strings (one per column);
- optionally ``key`` (the record attribute that ``table["name"]`` looks up), ``right`` (indices of
  right-aligned columns), ``max_width`` (longer cells are cut with "…") and :meth:`Table.footer`
  (a last row, e.g. a total, set off by a rule).

This module imports nothing from nstlib, so every other module can use it.

>>> class Sizes(Table):
...     headers = ("name", "px")
...     right = frozenset({1})
...     def cells(self, record):
...         return [record[0], str(record[1])]
>>> print(Sizes([("conv1_1", 3), ("pool5", 212)]))
name      px
-------  ---
conv1_1    3
pool5    212
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

__all__ = ["Table"]


class Table(list):
    """A list of records that prints as a table; see the module docstring for what a subclass sets."""

    headers: ClassVar[tuple[str, ...]] = ()
    #: the record attribute that ``table["..."]`` matches (None: only integer indices and slices)
    key: ClassVar[str | None] = None
    #: indices of the right-aligned columns (numbers); the others are left-aligned
    right: ClassVar[frozenset[int]] = frozenset()
    #: cells longer than this are cut to it, ending in "…" (text only; None: never)
    max_width: ClassVar[int | None] = None

    def cells(self, record: Any) -> list[str]:
        """The strings shown for one record, one per column of :attr:`headers`."""
        raise NotImplementedError

    def footer(self) -> list[str] | None:
        """A last row (e.g. a total) below a rule, or None."""
        return None

    def __getitem__(self, index):
        if isinstance(index, str) and self.key is not None:
            for record in self:
                if getattr(record, self.key) == index:
                    return record
            names = ", ".join(str(getattr(r, self.key)) for r in self)
            raise KeyError(f"no {self.key} {index!r} in the table; the table has: {names}")
        return super().__getitem__(index)

    def _fit(self, cell: str) -> str:
        w = self.max_width
        return cell if w is None or len(cell) <= w else cell[: w - 1] + "…"

    def __str__(self) -> str:
        body = [[self._fit(c) for c in self.cells(r)] for r in self]
        foot = self.footer()
        rows = [list(self.headers), *body, *([foot] if foot else [])]
        widths = [max(len(row[c]) for row in rows) for c in range(len(self.headers))]

        def line(row: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if i in self.right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        lines = [line(rows[0]), rule, *(line(r) for r in body)]
        if foot:
            lines += [rule, line(foot)]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self.cells(r)) + "</tr>" for r in self)
        foot = self.footer()
        if foot:
            body += "<tr>" + "".join(f"<th>{html.escape(c)}</th>" if c else "<td></td>" for c in foot) + "</tr>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
