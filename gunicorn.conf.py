"""gunicorn settings for every way the product is served: the Dockerfile, `make run` and the
bench's server (devtools/bench/server.py) pass this file with -c (gunicorn also reads
./gunicorn.conf.py on its own). Workers, bind address and logging stay on each command line."""

from __future__ import annotations

import gc


def post_worker_init(worker):
    """Once a worker has imported the application, move everything it loaded (about 120,000
    objects: Django, DRF, the apps) out of the garbage collector's sight. Those objects live as
    long as the worker; left in view, every full collection walks all of them in the middle of
    some request, which is what a request's p99 shows (devtools/bench/desk.py)."""
    gc.collect()
    gc.freeze()
