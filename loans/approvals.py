"""The loan book's maker-checker actions: booking, rate changes, write-offs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from financing.accounts.roles import Role
from financing.approvals.registry import ApprovalAction, register


def _book(*, request, checker, now):
    from loans.services import loan_book_approved

    loan = loan_book_approved(
        loan_id=request.payload["loan"], checker=checker, now=now, approval=request
    )
    return {"loan": loan.pk, "status": loan.status}


def _book_rejected(*, request, checker, now):
    from loans.services import loan_book_refused

    loan = loan_book_refused(
        loan_id=request.payload["loan"], actor=checker, now=now, approval=request, withdrawn=False
    )
    return {"loan": loan.pk, "status": loan.status}


def _book_withdrawn(*, request, checker, now):
    from loans.services import loan_book_refused

    loan = loan_book_refused(
        loan_id=request.payload["loan"], actor=checker, now=now, approval=request, withdrawn=True
    )
    return {"loan": loan.pk, "status": loan.status}


def _rate_change(*, request, checker, now):
    from loans.services import loan_rate_change_apply

    p = request.payload
    change = loan_rate_change_apply(
        loan_id=p["loan"],
        rate=Decimal(p["rate"]),
        effective_date=date.fromisoformat(p["effective_date"]),
        checker=checker,
        now=now,
        approval=request,
    )
    return {"loan": p["loan"], "rate_change": change.pk}


def _write_off(*, request, checker, now):
    from loans.services import loan_write_off_apply

    loan = loan_write_off_apply(
        loan_id=request.payload["loan"], checker=checker, now=now, approval=request
    )
    return {"loan": loan.pk, "status": loan.status}


register(
    ApprovalAction(
        name="loan.book",
        description="Book a new loan (lend or borrow)",
        default_roles=(Role.OPS, Role.RISK),
        apply=_book,
        on_reject=_book_rejected,
        on_cancel=_book_withdrawn,
    )
)
register(
    ApprovalAction(
        name="loan.rate_change",
        description="Change a loan's rate from an effective date (back-dated changes restate)",
        default_roles=(Role.OPS, Role.RISK),
        apply=_rate_change,
    )
)
register(
    ApprovalAction(
        name="loan.write_off",
        description="Write off a defaulted loan's outstanding principal",
        default_roles=(Role.RISK, Role.ADMIN),
        apply=_write_off,
    )
)
