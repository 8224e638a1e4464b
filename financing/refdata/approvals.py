"""Approval actions of reference data."""

from __future__ import annotations

from datetime import date

from financing.accounts.roles import Role
from financing.approvals.registry import ApprovalAction, register


def _apply_kyc_change(*, request, checker, now):
    from financing.refdata.models import Counterparty
    from financing.refdata.services import counterparty_kyc_set

    payload = request.payload
    cp = Counterparty.objects.get(pk=request.target_id)
    expires = payload.get("kyc_expires_on")
    counterparty_kyc_set(
        actor=checker,
        counterparty=cp,
        kyc_status=payload["kyc_status"],
        kyc_expires_on=date.fromisoformat(expires) if expires else None,
        today=now.date(),
        reason=f"KYC change approved (approval #{request.pk})",
    )
    return {"counterparty": cp.code, "kyc_status": payload["kyc_status"]}


register(
    ApprovalAction(
        name="counterparty.kyc_change",
        description="Change a counterparty's KYC status or expiry",
        default_roles=(Role.COMPLIANCE,),
        apply=_apply_kyc_change,
    )
)
