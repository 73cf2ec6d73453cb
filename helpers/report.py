"""What every report shares: a pandas table built from its records, shown as that table."""
from __future__ import annotations

import dataclasses
import html

import pandas as pd


class FrameReport:
    """Mixin for report dataclasses holding a list of record dataclasses in ``rows``.

    ``frame`` is a DataFrame with one column per record field; the report shows as that table
    in a notebook (HTML) and as a short line elsewhere.
    """

    rows: list
    record: type
    title: str = ""

    @property
    def frame(self) -> pd.DataFrame:
        columns = [f.name for f in dataclasses.fields(self.record) if f.repr]
        return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in self.rows], columns=columns)

    def _repr_html_(self) -> str:
        table = self.frame.to_html(index=False, border=0, na_rep="", float_format=lambda x: f"{x:.2f}")
        return f"<p><b>{html.escape(self.title)}</b></p>{table}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.title}: {len(self.rows)} rows>"
