"""Figures on perfkit's admin pages: ``{% load perfkit_format %}``."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(ratio: float | None) -> str:
    """A ratio (0 to 1) as a percentage with one decimal that never rounds to a lie.

    ``0`` is "0%" and only zero is; a tiny non-zero share is "<0.1%", and a
    share just short of all is ">99.9%", never "100%". None is a dash.
    """
    if ratio is None:
        return "–"
    value = ratio * 100
    if value <= 0:
        return "0%"
    if value >= 100:
        return "100%"
    if value < 0.05:
        return "<0.1%"
    if value >= 99.95:
        return ">99.9%"
    return f"{value:.1f}%"
