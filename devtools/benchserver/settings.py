"""Settings of the bench's server only: the product's settings, with the bench URLconf that adds
the bare baseline endpoint beside the product's routes. Never a product process's settings."""

from financing.settings import *  # noqa: F403

ROOT_URLCONF = "devtools.benchserver.urls"
