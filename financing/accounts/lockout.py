"""What a locked-out client sees: JSON for the API, the lockout page for people."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render

MESSAGE = "Too many failed logins: this account is locked for a while. The attempts are recorded."


def lockout_response(request, response=None, credentials=None, *args, **kwargs):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": MESSAGE}, status=429)
    return render(request, "accounts/locked_out.html", status=429)
