"""The loan book in the UI shell: navigation entries and home-dashboard tiles."""

from __future__ import annotations

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile


def _live_loans(user, now):
    from loans.selectors import loan_book_counts

    c = loan_book_counts()
    return {
        "value": c["live"],
        "detail": f"loans on the book · {c['pending']} pending approval",
        "tone": "neutral",
        "url": reverse("loans:book") + "?status=active",
    }


def _overdue(user, now):
    from loans.models import LIVE_STATUSES, Loan

    n = Loan.objects.filter(status__in=LIVE_STATUSES, is_overdue=True).count()
    return {
        "value": n,
        "detail": "overdue loans (past maturity or recall due date)",
        "tone": "bad" if n else "ok",
        "url": reverse("loans:book") + "?is_overdue=true",
    }


def _accrual(user, now):
    from loans.models import AccrualRun

    last = AccrualRun.objects.order_by("-started_at", "-id").first()
    if last is None:
        return {
            "value": "never",
            "detail": "interest accrual has not run",
            "tone": "warn",
            "url": reverse("loans:accrual-runs"),
        }
    behind = (now.date() - last.through).days - 1
    return {
        "value": str(last.through),
        "detail": "interest accrued through" + (f" · {behind} days behind" if behind > 0 else ""),
        "tone": "bad" if behind > 1 else ("warn" if behind == 1 else "ok"),
        "url": reverse("loans:accrual-runs"),
    }


register_nav(NavItem("Loans", "Loan book", "loans:book", "loans.view", order=10))
register_nav(NavItem("Loans", "Book a loan", "loans:new", "loans.book", order=20))
register_nav(NavItem("Loans", "Accrual runs", "loans:accrual-runs", "loans.view", order=30))
register_tile(Tile("loans.live", "Loan book", "loans.view", _live_loans, order=20))
register_tile(Tile("loans.overdue", "Overdue loans", "loans.view", _overdue, order=21))
register_tile(Tile("loans.accrual", "Interest accrual", "loans.view", _accrual, order=22))
