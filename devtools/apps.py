from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    name = "devtools"
    label = "devtools"
    verbose_name = "Developer tools"
    # ready() is left as it is: installed only so its management commands are found; the bench,
    # the synthetic books and the demo load when one of those commands imports them.
