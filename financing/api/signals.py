"""What the API announces. Apps above it listen: audit records a token_issued AuthEvent, the way
it hears Django's user_logged_in."""

from __future__ import annotations

from django.dispatch import Signal

#: POST /api/auth/token/ handed a token out. Sent with request= (the Django request) and user=.
token_issued = Signal()
