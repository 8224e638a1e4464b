from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from financing.accounts.roles import can
from financing.dashboard.registry import nav_items


def navigation(request):
    """The navigation a user's role allows, grouped by section."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    sections: dict[str, list[dict]] = {}
    path = request.path
    for item in nav_items():
        if not can(user, item.capability):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        sections.setdefault(item.section, []).append(
            {
                "label": item.label,
                "url": url,
                "active": (path.startswith(url) and url != "/") or path == url,
            }
        )
    return {"nav_sections": sections}
