"""What the bench's server runs instead of the product's settings and URLconf: the product's
routes plus the bare baseline endpoint (urls.py). Only devtools.bench.server starts it; kept out
of devtools.bench so that loading these settings loads none of the bench's figure groups."""
