"""What every report shares: a pandas table built from its records, shown as that table."""
from __future__ import annotations

import dataclasses

import pandas as pd

from .display import html_table


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
        return html_table(self.title, self.frame)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.title}: {len(self.rows)} rows>"
