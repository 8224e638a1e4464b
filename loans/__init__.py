"""The loan book: lend and borrow loans, rates, repayments, recalls, defaults and daily interest accrual (domain.md: Loans; issue 3)."""
