"""Reports as HTML in JupyterLab: short digests, human sizes, reused rows marked by colour and text."""
from __future__ import annotations

from helpers.build import join_layers, parse_build_stream
from helpers.display import NEW_BG, REUSED_BG, html_table, human
from helpers.layers import parse_history
from tests.conftest import load


def test_build_report_html_is_compact_and_marks_reuse():
    report = join_layers(parse_build_stream("v2", load("build_v2_after_change")),
                         parse_history("v2", load("history_v2"), load("inspect_v2")))
    page = report._repr_html_()
    digest = report.step("RUN").diff_id
    assert digest not in page.replace(f'title="{digest}"', "")  # shown shortened, full text on hover
    assert digest[:19] + "…" in page
    size = report.step("RUN").size
    assert f">{human(size)}<" in page and str(size) not in page
    assert page.count(REUSED_BG) == 3 and page.count(NEW_BG) == 1
    assert ">cached<" in page and ">rebuilt<" in page
    assert "text-align:left" in page


def test_unknown_values_show_empty_not_none():
    import pandas as pd
    page = html_table("t", pd.DataFrame({"image_id": [None], "size": [None]}))
    assert "None" not in page and "nan" not in page
