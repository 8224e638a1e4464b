"""The dashboards' one template-tag library (`{% load fd %}`): how figures read on a page."""

from __future__ import annotations

from django import template

from financing.dashboard.tables import display
from financing.money import format_amount

register = template.Library()


@register.filter
def join_if_list(value):
    """Lists as "a, b"; everything else as the tables show it (UTC times, plain decimals)."""
    return display(value)


@register.filter
def amt(value) -> str:
    """An exact decimal without exponent or trailing zeros."""
    return format_amount(value)
