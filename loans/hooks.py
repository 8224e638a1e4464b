"""Registries the apps above the loan book register with (style.md: a lower app never imports
a higher one; where it must tell them something, they register here)."""

from __future__ import annotations

from collections.abc import Callable

LoanRefusedListener = Callable[..., object]

_LOAN_REFUSED: list[LoanRefusedListener] = []


def register_loan_refused(fn: LoanRefusedListener) -> LoanRefusedListener:
    """`fn(*, loan, actor, now, why)` is called when a loan's booking is refused or withdrawn,
    inside that transaction. Idempotent; usable as a decorator."""
    if fn not in _LOAN_REFUSED:
        _LOAN_REFUSED.append(fn)
    return fn


def unregister_loan_refused(fn: LoanRefusedListener) -> None:
    if fn in _LOAN_REFUSED:
        _LOAN_REFUSED.remove(fn)


def loan_refused(*, loan, actor, now, why: str) -> None:
    for fn in list(_LOAN_REFUSED):
        fn(loan=loan, actor=actor, now=now, why=why)
