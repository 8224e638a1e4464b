"""loans.hooks: the loan book tells registered listeners that a booking was refused."""

from __future__ import annotations

from financing.approvals.services import approval_reject
from loans import hooks


def test_a_registered_listener_hears_of_a_refused_loan_and_an_unregistered_one_does_not(
    book, checker, now
):
    heard: list[dict] = []
    gone: list[dict] = []

    def listener(**kwargs):
        heard.append(kwargs)

    def removed(**kwargs):
        gone.append(kwargs)

    hooks.register_loan_refused(listener)
    hooks.register_loan_refused(listener)  # idempotent: heard once
    hooks.register_loan_refused(removed)
    hooks.unregister_loan_refused(removed)
    try:
        loan = book(approve=False)
        approval_reject(approval_id=loan.approval_id, checker=checker, now=now, reason="no")
    finally:
        hooks.unregister_loan_refused(listener)
    assert gone == []
    assert len(heard) == 1
    call = heard[0]
    assert call["loan"].pk == loan.pk and call["loan"].status == "rejected"
    assert call["actor"] == checker and call["now"] == now
    assert call["why"] == "booking rejected"
    assert listener not in hooks.loan_refused_listeners()


def test_register_loan_refused_is_usable_as_a_decorator():
    @hooks.register_loan_refused
    def listener(**kwargs):
        return None

    try:
        assert listener in hooks.loan_refused_listeners()
        assert hooks.loan_refused_listeners().count(listener) == 1
    finally:
        hooks.unregister_loan_refused(listener)
