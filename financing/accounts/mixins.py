from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied

from financing.accounts.roles import can


class CapabilityRequiredMixin(LoginRequiredMixin):
    """A page names the capability it needs; anonymous users go to the login page, users whose
    role lacks it get a 403 page. `post_capability` guards POSTs when it differs."""

    capability: str = ""
    post_capability: str | None = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        needed = self.capability
        if request.method == "POST" and self.post_capability:
            needed = self.post_capability
        if not needed or not can(request.user, needed):
            raise PermissionDenied("Your role does not allow this page or action.")
        return super().dispatch(request, *args, **kwargs)
