"""Financing Desk: the project and its platform."""

from financing.celery import app as celery_app

__all__ = ["celery_app"]
