from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from financing.accounts.roles import can
from financing.dashboard.registry import nav_items


def _active_url(path: str, urls: list[str]) -> str | None:
    """The one item the page belongs to: the longest URL the path starts with, so /audit/
    does not light up beside /audit/auth-events/. The dashboard ("/") only for itself."""
    matches = [url for url in urls if path == url or (url != "/" and path.startswith(url))]
    return max(matches, key=len, default=None)


def navigation(request):
    """The navigation a user's role allows, grouped by section; exactly one item is active."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    allowed: list[tuple[str, str, str]] = []
    for item in nav_items():
        if not can(user, item.capability):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        allowed.append((item.section, item.label, url))
    active = _active_url(request.path, [url for _, _, url in allowed])
    sections: dict[str, list[dict]] = {}
    for section, label, url in allowed:
        sections.setdefault(section, []).append(
            {"label": label, "url": url, "active": url == active}
        )
    return {"nav_sections": sections}
