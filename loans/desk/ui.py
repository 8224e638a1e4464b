"""The borrow desk in the UI shell: navigation entries and home-dashboard tiles.
Imported from DeskConfig.ready()."""

from __future__ import annotations

from django.urls import reverse

from financing.dashboard.registry import NavItem, Tile, register_nav, register_tile


def _open_requests(user, now):
    from loans.desk.models import OPEN_STATUSES, BorrowRequest

    open_qs = BorrowRequest.objects.filter(status__in=OPEN_STATUSES)
    n = open_qs.count()
    late = open_qs.filter(first_response_at__isnull=True, sla_due_at__lte=now).count()
    return {
        "value": n,
        "detail": "open borrow requests" + (f" · {late} past SLA" if late else ""),
        "tone": "bad" if late else ("warn" if n else "ok"),
        "url": reverse("desk:queue"),
    }


def _sla_breaches(user, now):
    from loans.desk.models import BorrowRequest, RequestStatus

    late = BorrowRequest.objects.filter(
        status=RequestStatus.SUBMITTED, first_response_at__isnull=True, sla_due_at__lte=now
    ).count()
    return {
        "value": late,
        "detail": "borrow requests past their first-response SLA",
        "tone": "bad" if late else "ok",
        "url": reverse("desk:queue"),
    }


def _my_desk_open(user, now):
    from loans.desk.models import OPEN_STATUSES, BorrowRequest

    mine = BorrowRequest.objects.filter(desk_id=user.desk_id, status__in=OPEN_STATUSES)
    n = mine.count()
    return {
        "value": n,
        "detail": "of your desk's borrow requests are open",
        "tone": "warn" if n else "neutral",
        "url": reverse("desk:portal"),
    }


# The portal is the trading desks'; the queue, the list and the inventory are for staff
# ("loans.view" is every staff role). Trading users reach their own list from the portal.
register_nav(NavItem("Borrow desk", "Portal", "desk:portal", "borrow.submit", order=10))
register_nav(NavItem("Borrow desk", "Queue", "desk:queue", "loans.view", order=20))
register_nav(NavItem("Borrow desk", "Requests", "desk:requests", "loans.view", order=30))
register_nav(NavItem("Borrow desk", "Inventory", "desk:inventory", "loans.view", order=40))
register_tile(Tile("desk.open", "Borrow requests", "borrow.work", _open_requests, order=40))
register_tile(Tile("desk.sla", "Borrow SLA breaches", "borrow.work", _sla_breaches, order=41))
register_tile(Tile("desk.mine", "Our borrow requests", "borrow.submit", _my_desk_open, order=40))
