from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "financing.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from financing.celery import app, ensure_filesystem_broker_dirs
        from financing.jobs import builtin, health, ui  # noqa: F401  (registrations)

        ensure_filesystem_broker_dirs()
        # The Celery app sits below jobs and never reads the registry: jobs hands it the beat
        # schedule once the app is finalized, when every app's ready() has registered its jobs.
        app.on_after_finalize.connect(
            _install_beat_schedule, weak=False, dispatch_uid="jobs-beat-schedule"
        )


def _install_beat_schedule(sender, **kwargs) -> None:
    from financing.jobs.registry import beat_schedule

    sender.conf.beat_schedule = beat_schedule()
