from __future__ import annotations

from django import template

from financing.dashboard.tables import display

register = template.Library()


@register.filter
def join_if_list(value):
    """Lists as "a, b"; everything else as the tables show it (UTC times, plain decimals)."""
    return display(value)
