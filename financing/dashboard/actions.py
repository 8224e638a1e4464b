"""The one shape of a dashboard action: a table of actions, each a form, the capability it
needs, a label and the one service call it makes; the page shows the forms the user may use,
and a POST validates the form, calls the service and says what happened in a message.

A role that lacks an action's capability gets the 403 page (as for any page it may not open);
bad input and a service's refusal come back as an error message on the object's page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.shortcuts import redirect
from django.views import View

from financing import clock
from financing.accounts.mixins import CapabilityRequiredMixin
from financing.accounts.roles import can
from financing.dashboard.display import form_errors
from financing.errors import DomainError


def _always(obj, user) -> bool:
    return True


@dataclass(frozen=True)
class Action:
    form: type[forms.Form]
    #: What the user's role needs to take the action.
    capability: str
    label: str
    #: `run(user, obj, cleaned_data, now) -> message`: the one service call, and what to say.
    run: Callable[[Any, Any, dict, Any], str]
    #: Whether the action applies to the object as it stands (its status, its terms).
    applies: Callable[[Any, Any], bool] = _always
    #: The form's field prefix on the page: None for the action's name, "" for none.
    prefix: str | None = None

    def prefix_for(self, name: str) -> str | None:
        return name if self.prefix is None else (self.prefix or None)


def available_actions(
    actions: dict[str, Action],
    obj,
    user,
    *,
    url: Callable[[str], str],
    initial: dict | None = None,
    prepare=None,
) -> list[dict]:
    """The forms a page shows (templates/dashboard/_actions.html): the actions that apply to
    `obj` and that `user` may take, each posting to `url(name)`. `prepare(name, form, obj)`
    may adjust a form (choices that depend on the object)."""
    shown = []
    for name, action in actions.items():
        if not action.applies(obj, user) or not can(user, action.capability):
            continue
        form = action.form(initial=initial or {}, prefix=action.prefix_for(name))
        if prepare is not None:
            prepare(name, form, obj)
        shown.append({"name": name, "label": action.label, "form": form, "url": url(name)})
    return shown


class ActionView(CapabilityRequiredMixin, View):
    """POST .../<key>/<action>/ runs one entry of `actions` on the object the URL's key names
    (its pk, or a code) and goes back to its page; a page-level action (a form that creates
    something) has no key, and a view that serves one action names it in `action_name`.
    Subclasses name `capability` (to reach the view) and `actions`, and implement
    `back_url(obj)` (and `get_object(**key)` when there is a key); `prepare_form` adjusts a
    bound form, `error_text` words a service's refusal."""

    actions: dict[str, Action] = {}
    action_name: str = ""

    def get_object(self, **key):
        raise ImproperlyConfigured(f"{type(self).__name__} must define get_object(**key).")

    def back_url(self, obj) -> str:
        raise ImproperlyConfigured(f"{type(self).__name__} must define back_url(obj).")

    def prepare_form(self, name: str, form: forms.Form, obj) -> None:
        return None

    def error_text(self, exc: DomainError) -> str:
        return exc.message

    def post(self, request, action: str | None = None, **key):
        obj = self.get_object(**key) if key else None
        back = redirect(self.back_url(obj))
        name = action or self.action_name
        chosen = self.actions.get(name)
        if chosen is None:
            messages.error(request, "Unknown action.")
            return back
        if not can(request.user, chosen.capability):
            raise PermissionDenied(f"Your role does not allow: {chosen.label.lower()}.")
        form = chosen.form(request.POST, request.FILES, prefix=chosen.prefix_for(name))
        self.prepare_form(name, form, obj)
        if not form.is_valid():
            messages.error(request, f"{chosen.label}: {form_errors(form)}")
            return back
        try:
            text = chosen.run(request.user, obj, form.cleaned_data, clock.now())
        except DomainError as exc:
            messages.error(request, f"{chosen.label}: {self.error_text(exc)}")
        else:
            messages.success(request, text)
        return back
