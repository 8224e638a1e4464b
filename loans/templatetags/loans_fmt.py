"""Amounts on loan pages: exact decimals without exponent or trailing zeros."""

from django import template

from financing.money import format_amount

register = template.Library()


@register.filter
def amt(value) -> str:
    return format_amount(value)
