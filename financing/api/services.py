from __future__ import annotations

from datetime import datetime

from financing.api.models import IdempotencyKey


def idempotency_keys_purge(*, older_than: datetime) -> int:
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=older_than).delete()
    return deleted
