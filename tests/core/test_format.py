"""The figures perfkit's admin templates print (template filters)."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from perfkit.templatetags.perfkit_format import percent


@pytest.mark.parametrize(
    ("ratio", "shown"),
    [
        (0, "0%"),
        (0.003, "0.3%"),  # was "0%" (a whole-percent widthratio)
        (0.0004, "<0.1%"),  # non-zero never reads as zero
        (0.0005, "0.1%"),
        (0.667, "66.7%"),
        (0.9996, ">99.9%"),  # not all of them
        (1, "100%"),
        (None, "–"),
    ],
)
def test_percent_tells_zero_from_a_small_share(ratio: float | None, shown: str) -> None:
    assert percent(ratio) == shown


def test_percent_is_a_template_filter() -> None:
    rendered = Template("{% load perfkit_format %}{{ rate|percent }}").render(
        Context({"rate": 3 / 1000})
    )
    assert rendered == "0.3%"
