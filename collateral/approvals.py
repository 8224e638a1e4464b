"""The collateral app's maker-checker actions: manual prices and collateral releases."""

from __future__ import annotations

from financing.accounts.roles import Role
from financing.approvals.registry import ApprovalAction, register


def _manual_price(*, request, checker, now):
    from collateral.services import price_manual_apply

    snapshot = price_manual_apply(approval=request, checker=checker, now=now)
    return {
        "price": snapshot.pk,
        "asset": snapshot.asset.symbol,
        "price_usd": str(snapshot.price_usd),
    }


def _release(*, request, checker, now):
    from collateral.services import collateral_release_apply

    movement = collateral_release_apply(approval=request, checker=checker, now=now)
    return {"movement": movement.pk, "quantity": str(-movement.quantity)}


register(
    ApprovalAction(
        name="price.manual",
        description="A price entered by hand (not from a feed)",
        default_roles=(Role.RISK, Role.ADMIN),
        apply=_manual_price,
    )
)
register(
    ApprovalAction(
        name="collateral.release",
        description="Return collateral to the counterparty (or to the firm, for posted collateral)",
        default_roles=(Role.RISK, Role.OPS, Role.ADMIN),
        apply=_release,
    )
)
