"""A learner's predictions checked against recorded builds, pushes and histories: blanks asked for, not scored."""
from __future__ import annotations

import pytest

from helpers.errors import BadInput
from helpers.guess import check_guess
from tests.unit.test_journey import build, push


def test_an_empty_guess_asks_for_one_in_one_line():
    for empty in ({}, None, {"RUN": None, "CMD": "", "layers uploaded": None}):
        guesses = check_guess(empty, build("v2", "build_v2_after_change"), push("v2"))
        assert not guesses.rows and guesses.title.startswith("No prediction yet")
        assert "\n" not in guesses.title and guesses._repr_html_().count("<p>") == 1


def test_guesses_are_scored_step_by_step_beside_the_engine():
    guesses = check_guess({"RUN": "cached", "CMD": "rebuilt", "COPY": "rebuilt", "layers uploaded": 1},
                          build("v2", "build_v2_after_change"), push("v2"))
    assert [g.right for g in guesses.rows] == [True, False, True, True]
    assert guesses.title == "your predictions: 3 of 4 right"


def test_a_partly_filled_guess_scores_what_is_there_and_names_the_blanks():
    guesses = check_guess({"RUN": "cached", "COPY": None}, build("v2", "build_v2_after_change"))
    assert [g.what for g in guesses.rows] == ["RUN"] and guesses.blank == ["COPY"]
    assert guesses.title.endswith("(1 left blank: COPY)")


def test_history_and_order_guesses():
    from helpers.layers import parse_history
    from tests.conftest import load
    history = parse_history("v1", load("history_v1"), load("inspect_v1"))
    zero = sum(r.size == 0 for r in history.rows)
    guesses = check_guess({"rows": len(history.rows), "rows with size 0": zero + 1}, history=history)
    assert [g.right for g in guesses.rows] == [True, False]
    good, bad = build("v2", "build_v2_after_change"), build("v1", "build_v1_nocache")
    guesses = check_guess({"fewer rebuilt steps": "COPY last"}, orders={"COPY last": [good], "COPY first": [bad]})
    assert guesses.rows[0].right and "COPY first: 3 steps rebuilt" in guesses.rows[0].why


@pytest.mark.parametrize("guess", [{"RUN": "maybe"}, {"layers uploaded": 1}, {"fewer rebuilt steps": "x"}])
def test_bad_guesses_get_a_clear_error(guess):
    with pytest.raises(BadInput, match="What to do"):
        check_guess(guess, build("v2", "build_v2_after_change"), orders={"a": []} if "fewer" in str(guess) else None)
