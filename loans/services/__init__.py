"""Every write to the loan book. The API, the pages, commands and seeders all come here.

Booking, rate changes and write-offs wait for a checker (loans/approvals.py applies them).
Anything that changes a loan's rate or principal schedule takes the accrual lock, rebuilds the
loan's terms and, when dated on or before the last accrued day, marks the loan for restatement:
the next accrual run books adjusting rows naming the cause.

By concern: booking.py (book, approve, refuse), rates.py (rate changes), repayments.py
(principal repaid, interest settled), lifecycle.py (the transition service, recall, default,
liquidation, write-off, close, overdue), terms.py (derived terms, the principal ledger,
restatement marks); _common.py holds the row lock, the event row and the input checks.
"""

from financing.errors import Conflict, Forbidden, InvalidInput  # noqa: F401
from loans.models import MAX_TENOR_DAYS  # noqa: F401
from loans.services._common import (  # noqa: F401
    MAX_BACKDATE_DAYS,
    MAX_FORWARD_DAYS,
    MAX_RATE,
    Kind,
)
from loans.services.booking import (  # noqa: F401
    MARGIN_FIELDS,
    loan_book,
    loan_book_approved,
    loan_book_refused,
)
from loans.services.lifecycle import (  # noqa: F401
    loan_close,
    loan_default,
    loan_liquidate,
    loan_recall,
    loan_transition,
    loan_write_off_apply,
    loan_write_off_request,
    loans_flag_overdue,
)
from loans.services.rates import (  # noqa: F401
    loan_rate_change_apply,
    loan_rate_change_request,
)
from loans.services.repayments import (  # noqa: F401
    interest_unsettled_before,
    loan_interest_settle,
    loan_repay,
)
from loans.services.terms import principal_on, terms_rebuild  # noqa: F401
