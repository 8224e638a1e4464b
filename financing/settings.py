"""Financing Desk settings: one file, every value from the environment (django-environ).

Production mode is DEBUG=false (the default): it refuses to start without a real SECRET_KEY
and is configured to pass `manage.py check --deploy`. `make run` and the test suite set
DEBUG=true. DATABASE_URL selects an external PostgreSQL; without it the embedded `pgserver`
PostgreSQL under var/ is used. SQLite is never used: it stores decimals as floats.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from financing.money import widen_decimal_context

widen_decimal_context()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-insecure-only-for-local-runs-never-in-production-000000000000000"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in production mode (DEBUG=false). "
            "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
    SECRET_KEY = _DEV_SECRET_KEY
if not DEBUG and (
    SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: use at least 50 random characters."
    )

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "simple_history",
    "axes",
    # platform
    "financing.accounts",
    "financing.refdata",
    "financing.audit",
    "financing.approvals",
    "financing.jobs",
    "financing.alerts",
    "financing.api",
    "financing.dashboard",
    # domain, in dependency order (style.md)
    "compliance",
    "treasury",
    "loans",
    "loans.desk",
    "collateral",
    "reconciliation",
    # bench, synthetic books, demo data: only their management commands load them (style.md)
    "devtools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "financing.urls"
WSGI_APPLICATION = "financing.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "financing.dashboard.context_processors.navigation",
            ],
        },
    },
]

# --- database: PostgreSQL only -------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
else:
    from financing.embedded_pg import database_settings

    DATABASES = {"default": database_settings(BASE_DIR)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"].setdefault("OPTIONS", {})
# Server-side parameter binding with prepared statements (psycopg): a statement run twice on
# a connection is prepared there, so PostgreSQL plans it once per connection instead of on
# every call (with persistent connections, CONN_MAX_AGE, the API's hot paths are planned once).
# Behind a PgBouncer in transaction pooling mode set DB_PREPARED_STATEMENTS=false.
if env.bool("DB_PREPARED_STATEMENTS", default=True):
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 2)
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_financing")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth, sessions, lockout ---------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env.bool("TEST_FAST_PASSWORD_HASHER", default=False):
    # Tests only: PBKDF2's deliberate slowness would dominate a suite that makes many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "accounts:login"
# Idle timeout: the session expires SESSION_IDLE_MINUTES after the last request.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one user from one source
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "financing.accounts.lockout.lockout_response"
AXES_VERBOSE = False
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# --- i18n / time: UTC everywhere -----------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static --------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- security (production mode) ------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Bound what anyone can send: large bodies are refused with a 400, never a 500.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# --- email and webhooks --------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="financing-desk@localhost")
ALERT_EMAIL_TO = env.list("ALERT_EMAIL_TO", default=[])
WEBHOOK_URLS = env.list("WEBHOOK_URLS", default=[])
WEBHOOK_SECRET = env.str("WEBHOOK_SECRET", default="")
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Alert delivery (financing.alerts): attempts per email/webhook delivery before it is marked
# failed, the first retry delay (doubling per attempt) and its cap; links in emails and
# webhook bodies are made absolute with ALERT_LINK_BASE_URL (e.g. https://desk.example.com).
ALERT_DELIVERY_MAX_ATTEMPTS = env.int("ALERT_DELIVERY_MAX_ATTEMPTS", default=8)
ALERT_DELIVERY_BACKOFF_SECONDS = env.int("ALERT_DELIVERY_BACKOFF_SECONDS", default=30)
ALERT_DELIVERY_BACKOFF_MAX_SECONDS = env.int("ALERT_DELIVERY_BACKOFF_MAX_SECONDS", default=3600)
ALERT_LINK_BASE_URL = env.str("ALERT_LINK_BASE_URL", default="")

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous request is answered 401 with WWW-Authenticate: Token.
        "financing.audit.authentication.RecordingTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "financing.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": ["financing.api.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "financing.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Financing Desk API",
    "DESCRIPTION": (
        "The REST contract of the Financing Desk. Amounts, rates, haircuts and LTVs travel as "
        "decimal strings; dates are YYYY-MM-DD and times ISO 8601 UTC. Authenticate with "
        "`Authorization: Token <token>` from POST /api/auth/token/."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI's files come from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets sharing a field name across apps get their own schema names.
    "ENUM_NAME_OVERRIDES": {
        "LoanDirectionEnum": "loans.models.Direction",
        "PositionDirectionEnum": "collateral.models.PositionDirection",
        "MovementKindEnum": "collateral.models.CollateralMovement.Kind",
        "MovementRequestKindEnum": "collateral.api.MOVEMENT_REQUEST_KINDS",
        "VenueKindEnum": "financing.refdata.models.VenueKind",
        "CounterpartyKindEnum": "financing.refdata.models.CounterpartyKind",
        "LimitKindEnum": "collateral.models.LimitKind",
    },
}
# Collateral and margin (domain.md): the house default margin terms when no policy applies,
# the price staleness limit, the hysteresis buffer of a margin call, the haircut of an asset
# with none set (1 = not eligible), and the debounced revaluation after new prices.
MARGIN_DEFAULTS = {
    "initial_ltv": env.str("MARGIN_INITIAL_LTV", default="0.65"),
    "warning_ltv": env.str("MARGIN_WARNING_LTV", default="0.70"),
    "call_ltv": env.str("MARGIN_CALL_LTV", default="0.75"),
    "liquidation_ltv": env.str("MARGIN_LIQUIDATION_LTV", default="0.85"),
    "release_ltv": env.str("MARGIN_RELEASE_LTV", default="0.50"),
    "cure_hours": env.int("MARGIN_CURE_HOURS", default=24),
}
PRICE_STALE_MINUTES = env.int("PRICE_STALE_MINUTES", default=15)
#: Borrow desk: a request's first response (allocate, book or reject) is due this many minutes
#: after it is submitted.
BORROW_SLA_MINUTES = env.int("BORROW_SLA_MINUTES", default=15)
MARGIN_HYSTERESIS = env.str("MARGIN_HYSTERESIS", default="0.02")
COLLATERAL_DEFAULT_HAIRCUT = env.str("COLLATERAL_DEFAULT_HAIRCUT", default="1")
REVALUE_ON_PRICES = env.bool("REVALUE_ON_PRICES", default=True)
REVALUE_DEBOUNCE_SECONDS = env.int("REVALUE_DEBOUNCE_SECONDS", default=5)
#: Price feeds the price-pull job reads, separated by commas: "file:/absolute/dir" (JSON/CSV
#: drops) or an http:// or https:// URL (a JSON feed). See README, Price feeds.
PRICE_FEEDS = env.list("PRICE_FEEDS", default=[f"file:{VAR_DIR / 'prices' / 'inbox'}"])
PRICE_FEED_TIMEOUT_SECONDS = env.float("PRICE_FEED_TIMEOUT_SECONDS", default=10.0)

IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=72)

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_FILESYSTEM_DIR = Path(env.str("CELERY_FILESYSTEM_DIR", default=str(VAR_DIR / "celery")))
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_RESULT_EXPIRES = None  # no result backend, so no backend_cleanup task
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "pgserver": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}
