"""Demo loans: a small, realistic book with history (seed_demo, idempotent by external_ref)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from devtools.demo.registry import Seeder, register_seeder
from financing import clock

# ref, direction, counterparty, asset, principal, rate, day count, term, start (days ago),
# tenor days (fixed) or notice days (open), approve?
LOANS = [
    ("DEMO-001", "lend", "GALAXY", "BTC", "125", "0.055", "ACT/365F", "open", 75, 2, True),
    (
        "DEMO-002",
        "lend",
        "WINTERMUTE",
        "USDC",
        "15000000",
        "0.095",
        "ACT/360",
        "fixed",
        60,
        90,
        True,
    ),
    ("DEMO-003", "borrow", "KRAKEN", "ETH", "2400", "0.038", "ACT/ACT-ISDA", "open", 45, 1, True),
    ("DEMO-004", "lend", "JUMP", "SOL", "85000", "0.072", "30E/360", "fixed", 40, 35, True),
    ("DEMO-005", "lend", "WINTERMUTE", "BTC", "40", "0.061", "ACT/365F", "open", 20, 3, True),
    ("DEMO-006", "borrow", "GALAXY", "USDT", "5000000", "0.082", "ACT/360", "open", 12, 0, True),
    ("DEMO-007", "lend", "KRAKEN", "ETH", "900", "0.045", "ACT/365F", "open", 2, 2, False),
]


def seed_loans(*, now=None) -> str:
    from financing.accounts.models import User
    from financing.approvals.services import approval_approve
    from financing.refdata.models import Asset, Counterparty
    from loans import services
    from loans.accrual import accruals_book_through
    from loans.models import Loan, LoanStatus

    now = now or clock.now()
    today = now.date()
    ops = User.objects.get(username="ops")
    risk = User.objects.get(username="risk")
    made = 0
    for ref, direction, cp, asset, principal, rate, dc, term, ago, n, approve in LOANS:
        if Loan.objects.filter(external_ref=ref).exists():
            continue
        counterparty = Counterparty.objects.get(code=cp)
        if counterparty.kyc_status != "approved" or (
            counterparty.kyc_expires_on and counterparty.kyc_expires_on < today
        ):
            continue
        start = today - timedelta(days=ago)
        loan = services.loan_book(
            actor=ops,
            now=now,
            counterparty=counterparty,
            direction=direction,
            asset=Asset.objects.get(symbol=asset),
            principal=Decimal(principal),
            rate=Decimal(rate),
            day_count=dc,
            term=term,
            start_date=start,
            maturity_date=start + timedelta(days=n) if term == "fixed" else None,
            recall_notice_days=n if term == "open" else None,
            external_ref=ref,
            margin={
                "initial_ltv": Decimal("0.65"),
                "call_ltv": Decimal("0.75"),
                "liquidation_ltv": Decimal("0.85"),
                "release_ltv": Decimal("0.5"),
                "cure_hours": 24,
            }
            if direction == "lend"
            else {},
            reason="demo book",
        )
        if approve:
            approval_approve(approval_id=loan.approval_id, checker=risk, now=now)
        made += 1
    if made:
        yesterday = today - timedelta(days=1)
        accruals_book_through(through=yesterday, now=now, trigger="demo")
        first = Loan.objects.filter(external_ref="DEMO-001", status=LoanStatus.ACTIVE).first()
        if first:
            # A repayment, an interest settlement and a back-dated rate change (restated).
            services.loan_repay(
                actor=ops,
                loan=first,
                amount=Decimal("25"),
                on=today - timedelta(days=30),
                now=now,
                reason="partial return",
            )
            approval = services.loan_rate_change_request(
                actor=ops,
                loan=first,
                rate=Decimal("0.06"),
                effective_date=today - timedelta(days=20),
                now=now,
                reason="repriced with the counterparty from the 1st of the period",
            )
            approval_approve(approval_id=approval.pk, checker=risk, now=now)
            accruals_book_through(through=yesterday, now=now, trigger="demo")
            services.loan_interest_settle(
                actor=ops,
                loan=first,
                on=today - timedelta(days=10),
                now=now,
                reason="monthly interest",
            )
        fifth = Loan.objects.filter(external_ref="DEMO-005", status=LoanStatus.ACTIVE).first()
        if fifth:
            services.loan_recall(actor=ops, loan=fifth, now=now, reason="inventory needed back")
        services.loans_flag_overdue(now=now)
        # One rate change waiting for a checker, for the approvals inbox.
        third = Loan.objects.filter(external_ref="DEMO-003", status=LoanStatus.ACTIVE).first()
        if third:
            services.loan_rate_change_request(
                actor=ops,
                loan=third,
                rate=Decimal("0.041"),
                effective_date=today,
                now=now,
                reason="counterparty asks to reprice",
            )
    return f"{made} demo loans booked"


register_seeder(Seeder("loans", 40, seed_loans))
