"""Developer tools: the benchmark (`manage.py bench`), synthetic books at scale
(`seed_synthetic`), the demo book (`seed_demo`) and price drills (`price_tick`).

Never imported by a web or worker process: the AppConfig's ready() imports nothing, and the
bench groups and demo seeders register themselves when a command imports `devtools.bench` or
`devtools.demo` (tests/devtools/test_not_loaded.py holds that). Code here may import every
app; no product module imports devtools."""
