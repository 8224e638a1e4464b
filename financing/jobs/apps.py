from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "financing.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from financing.celery import ensure_filesystem_broker_dirs
        from financing.jobs import builtin  # noqa: F401  (registers the platform's jobs)

        ensure_filesystem_broker_dirs()
