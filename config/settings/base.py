"""Settings shared by every environment.

Every value comes from the environment (django-environ) and has a default that serves the
embedded mode: SQLite, in-memory channel layer and cache, Qdrant Edge in-process, offline AI
provider and eager Celery, all data under ``DATA_DIR``. Setting ``DATABASE_URL``,
``REDIS_URL``, ``QDRANT_URL`` and the AI provider variables switches to the scaled mode.
"""

from datetime import timedelta
from pathlib import Path

import redis.exceptions
from django.core.exceptions import ImproperlyConfigured

from config import __version__
from config.settings.environment import BASE_DIR, env
from config.settings.secret import embedded_secret_key

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

PROJECT_NAME = env.str("PROJECT_NAME", default="AI Chat")

# --- Core -----------------------------------------------------------------------------------
# Off unless asked for (`make dev`): debug pages show settings, tracebacks and the URL map.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# No constant key anywhere: without DJANGO_SECRET_KEY the embedded mode generates one into
# DATA_DIR on first start (production.py refuses to start without a real one).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or embedded_secret_key(DATA_DIR)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "accounts.admin_apps.ConsoleAdminConfig",  # django.contrib.admin with the MFA console site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "django_otp",
    "accounts.otp_overrides",  # before the plugins: replaces their addstatictoken command
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_structlog",
    "ops",
    "accounts",
    "tenants",
    "ai",
    "metering",
    "billing",
    "documents",
    "chat",
    "finetuning",
]

MIDDLEWARE = [
    "config.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's native psycopg 3 pool; persistent connections must stay off with it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=1),
        "max_size": env.int("DATABASE_POOL_MAX", default=10),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE avoids lock-upgrade deadlocks
    # between the ASGI threads and eager Celery tasks. Connections persist: opening one costs
    # a millisecond (init pragmas, functions) and closing the last one checkpoints the WAL,
    # on every thread hop of a WebSocket otherwise. A per-request thread's connection goes
    # with its thread.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=300)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False

# Threads that run the sync middleware chain and views under the ASGI server (config.asgi_handler):
# each keeps its database connection; a slow sync request holds one of them.
ASGI_SYNC_THREADS = env.int("ASGI_SYNC_THREADS", default=8)

# --- Redis: cache, channel layer, Celery ----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# A command that meets a connection Redis closed (a restart, a failover, an outage that ended)
# is retried once on a fresh connection, so service resumes with the first request after Redis
# is back instead of failing once per stale pooled connection.
REDIS_RETRY_ON_ERROR = [redis.exceptions.ConnectionError]

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.SharedPoolRedisCache",  # one pool and client per process
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="aichat"),
            "TIMEOUT": 300,
            # Fail fast when Redis is down instead of hanging a request. The pool is bounded:
            # a process that needs more connections than REDIS_CACHE_MAX_CONNECTIONS waits up
            # to REDIS_CACHE_POOL_TIMEOUT seconds for one, then answers 503
            # SERVICE_UNAVAILABLE (an error frame on a socket), never an unbounded pile of
            # connections or a hang. Each thread that touches the cache holds at most one.
            "OPTIONS": {
                "pool_class": "redis.BlockingConnectionPool",
                "max_connections": env.int("REDIS_CACHE_MAX_CONNECTIONS", default=50),
                "timeout": env.float("REDIS_CACHE_POOL_TIMEOUT", default=2.0),
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
                "retry_on_error": REDIS_RETRY_ON_ERROR,
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CACHE_KEY_PREFIX", default="aichat") + ":asgi",
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "aichat-embedded",
            "TIMEOUT": 300,
        }
    }
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Several deployments (or test runs) sharing one Redis keep apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
DJANGO_STRUCTLOG_CELERY_ENABLED = True

# --- Auth and passwords ---------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
PASSWORD_MIN_LENGTH = env.int("PASSWORD_MIN_LENGTH", default=8)
PASSWORD_REQUIRE_UPPERCASE = env.bool("PASSWORD_REQUIRE_UPPERCASE", default=False)
PASSWORD_REQUIRE_LOWERCASE = env.bool("PASSWORD_REQUIRE_LOWERCASE", default=False)
PASSWORD_REQUIRE_NUMBERS = env.bool("PASSWORD_REQUIRE_NUMBERS", default=False)
PASSWORD_REQUIRE_SYMBOLS = env.bool("PASSWORD_REQUIRE_SYMBOLS", default=False)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

DEFAULT_ADMIN_EMAIL = env.str("DEFAULT_ADMIN_EMAIL", default="admin@example.com")
DEFAULT_ADMIN_PASSWORD = env.str("DEFAULT_ADMIN_PASSWORD", default="")

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Under Daphne in embedded mode nothing runs collectstatic: let WhiteNoise find app assets.
WHITENOISE_USE_FINDERS = True

# --- Request limits -------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
# Paths (regular expressions) whose bodies may reach DOCUMENT_MAX_UPLOAD_BYTES plus multipart
# overhead; every other body is capped at DATA_UPLOAD_MAX_MEMORY_SIZE before it is buffered
# (config.asgi_middleware, config.middleware).
LARGE_BODY_PATHS = [r"^/api/v1/documents/?$", r"^/api/v1/train/upload/?$"]

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    # accounts' classes, each followed by the resolution of the organization (X-Tenant-ID).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.TenantAccessTokenAuthentication",
        "tenants.authentication.TenantApiKeyAuthentication",
        # The console's session, only for the HTML browsable API (with CSRF); JSON clients
        # always authenticate with a token or an API key.
        "tenants.authentication.TenantBrowsableApiSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON only; the document upload (multipart) and the OAuth2 password form of auth/login
    # (form-encoded) name their own parsers.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.DefaultPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="120/min"),
        "user": env.str("THROTTLE_USER", default="600/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
API_MAX_PAGE_SIZE = 100

SPECTACULAR_SETTINGS = {
    "TITLE": f"{PROJECT_NAME} API",
    "DESCRIPTION": "REST API of the self-hostable AI chat backend. Errors use one envelope: "
    "`{success, message, code, details, timestamp, request_id}`.",
    # The same version /health reports.
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "BillingProviderEnum": "billing.models.BillingProvider",
        "RoleEnum": "accounts.models.Role",
        "MemberRoleEnum": "tenants.models.MemberRole",
        "MembershipStatusEnum": "tenants.models.MembershipStatus",
        "FineTuneJobStatusEnum": "finetuning.models.JobStatus",
    },
    # The browsable API's session is for people in a browser, not for API clients.
    "AUTHENTICATION_WHITELIST": [
        "tenants.authentication.TenantAccessTokenAuthentication",
        "tenants.authentication.TenantApiKeyAuthentication",
        "tenants.authentication.TenantBearerApiKeyAuthentication",
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.error_responses_hook",
    ],
}

# --- CORS and security headers --------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api|health)/.*$"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

# --- Observability --------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="console")
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Qdrant and AI (used by the ai app; listed here so the health check can report them) ---
QDRANT_URL = env.str("QDRANT_URL", default="")
QDRANT_HOST = env.str("QDRANT_HOST", default="")
QDRANT_PORT = env.int("QDRANT_PORT", default=6333)
if not QDRANT_URL and QDRANT_HOST:
    QDRANT_URL = f"http://{QDRANT_HOST}:{QDRANT_PORT}"
QDRANT_API_KEY = env.str("QDRANT_API_KEY", default="")
QDRANT_PATH = DATA_DIR / "qdrant"

AZURE_OPENAI_ENDPOINT = env.str("AZURE_OPENAI_ENDPOINT", default="")
AZURE_OPENAI_API_KEY = env.str("AZURE_OPENAI_API_KEY", default="")
AZURE_OPENAI_API_VERSION = env.str("AZURE_OPENAI_API_VERSION", default="2024-10-21")
AZURE_OPENAI_CHAT_DEPLOYMENT = env.str("AZURE_OPENAI_CHAT_DEPLOYMENT", default="gpt-4o")
AZURE_OPENAI_EMBEDDING_DEPLOYMENT = env.str(
    "AZURE_OPENAI_EMBEDDING_DEPLOYMENT", default="text-embedding-3-large"
)
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_CHAT_MODEL = env.str("OPENAI_CHAT_MODEL", default="gpt-4o-mini")
OPENAI_EMBEDDING_MODEL = env.str("OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small")


def _default_provider() -> str:
    if AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY:
        return "azure"
    if OPENAI_BASE_URL or OPENAI_API_KEY:
        return "openai"
    return "offline"


AI_PROVIDER = env.str("AI_PROVIDER", default=_default_provider())
# Optional `dimensions` for text-embedding-3 models; the offline embedder's size.
AI_EMBEDDING_DIMENSIONS = env.int("AI_EMBEDDING_DIMENSIONS", default=None)
OFFLINE_EMBEDDING_DIMENSIONS = env.int("OFFLINE_EMBEDDING_DIMENSIONS", default=1536)
# /health/detailed calls the provider (one short embedding) at most this often per process.
HEALTH_PROVIDER_PROBE_SECONDS = env.int("HEALTH_PROVIDER_PROBE_SECONDS", default=30)

from config.settings.logging import build_logging  # noqa: E402

LOGGING = build_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)

# --- Accounts, MFA and brute-force protection (accounts app) --------------------------------
# (accounts settings)
# Open sign-up; read only through accounts.services.registration_is_open().
REGISTRATION_OPEN = env.bool("REGISTRATION_OPEN", default=True)
# Long passphrases are welcome; the cap only bounds the hashing work per request.
PASSWORD_MAX_LENGTH = env.int("PASSWORD_MAX_LENGTH", default=256)
AUTH_PASSWORD_VALIDATORS += [
    {
        "NAME": "accounts.validators.MaximumLengthValidator",
        "OPTIONS": {"max_length": PASSWORD_MAX_LENGTH},
    },
    {"NAME": "accounts.validators.TrivialPasswordValidator"},
    {"NAME": "accounts.validators.CompositionValidator"},
]
# Roles that must enrol in TOTP before they get a full session (comma-separated).
MFA_REQUIRED_ROLES = env.list("MFA_REQUIRED_ROLES", default=[])
MFA_TOKEN_LIFETIME = timedelta(seconds=env.int("MFA_TOKEN_SECONDS", default=300))
MFA_ENROLLMENT_TOKEN_LIFETIME = timedelta(
    seconds=env.int("MFA_ENROLLMENT_TOKEN_SECONDS", default=900)
)
MFA_BACKUP_CODE_COUNT = 10
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default=PROJECT_NAME)
# django-otp's own per-device back-off would reject a correct code typed within a second of a
# typo; login/MFA throttles and the account/IP lock-out below protect these endpoints instead.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Failed passwords and codes (every door, accounts.lockout): after LOGIN_LOCKOUT_THRESHOLD
# failures of one account within LOGIN_LOCKOUT_SECONDS it is locked for LOGIN_LOCKOUT_SECONDS.
# One client IP is only slowed down (never locked, so a NAT is not shut out): after
# LOGIN_IP_FAILURE_THRESHOLD failures in the window, one check per delay doubling up to
# LOGIN_IP_MAX_DELAY_SECONDS.
LOGIN_LOCKOUT_THRESHOLD = env.int("LOGIN_LOCKOUT_THRESHOLD", default=10)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
LOGIN_IP_FAILURE_THRESHOLD = env.int("LOGIN_IP_FAILURE_THRESHOLD", default=100)
LOGIN_IP_MAX_DELAY_SECONDS = env.int("LOGIN_IP_MAX_DELAY_SECONDS", default=60)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].update(
    {
        "login": env.str("THROTTLE_LOGIN", default="5/min"),
        "login_ip": env.str("THROTTLE_LOGIN_IP", default="20/min"),
        "mfa": env.str("THROTTLE_MFA", default="5/min"),
        "mfa_ip": env.str("THROTTLE_MFA_IP", default="20/min"),
        "register": env.str("THROTTLE_REGISTER", default="10/hour"),
    }
)

# --- Account lifecycle: email, verification, reset, code login, API keys (accounts app) -------
# (accounts lifecycle settings)
# Console email in embedded mode; production reads EMAIL_URL or EMAIL_HOST/... (production.py).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AI Chat <no-reply@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Where links in emails point (verification, reset); empty: the chat page of the address the
# request reached (scheme, host and port). Set it behind a proxy or for another front end.
FRONTEND_URL = env.str("FRONTEND_URL", default="")
REQUIRE_VERIFIED_EMAIL = env.bool("REQUIRE_VERIFIED_EMAIL", default=False)
EMAIL_VERIFY_TIMEOUT = env.int("EMAIL_VERIFY_TIMEOUT", default=3 * 24 * 3600)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
EMAIL_CODE_LOGIN = env.bool("EMAIL_CODE_LOGIN", default=True)
EMAIL_CODE_TIMEOUT = env.int("EMAIL_CODE_TIMEOUT", default=600)
EMAIL_CODE_MAX_ATTEMPTS = env.int("EMAIL_CODE_MAX_ATTEMPTS", default=5)
API_KEYS_MAX_PER_USER = env.int("API_KEYS_MAX_PER_USER", default=20)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].update(
    {
        # Mails sent (forgot password, verification, sign-in codes): per address and per IP.
        "account_email": env.str("THROTTLE_ACCOUNT_EMAIL", default="10/hour"),
        "account_email_ip": env.str("THROTTLE_ACCOUNT_EMAIL_IP", default="30/hour"),
    }
)

# --- Organizations (tenants app): invitations ---------------------------------------------
# How long an invitation's accept link works, and how many invitations (new or resent) one
# organization may send per hour.
INVITATION_TTL_HOURS = env.int("INVITATION_TTL_HOURS", default=72)
INVITATIONS_PER_HOUR = env.int("INVITATIONS_PER_HOUR", default=50)

# --- Chat and model providers (chat and ai apps) --------------------------------------------
# (chat settings)
CHAT_SYSTEM_PROMPT = env.str(
    "CHAT_SYSTEM_PROMPT",
    default="You are a helpful assistant for a team. Answer clearly and concisely. When "
    "reference passages from the user's documents are provided, ground the answer in them and "
    "cite them as [n]; say so when they do not contain the answer.",
)
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", default=3000)
CHAT_MESSAGE_MAX_CHARS = env.int("CHAT_MESSAGE_MAX_CHARS", default=16000)
CHAT_STREAM_PERSIST_INTERVAL = env.float("CHAT_STREAM_PERSIST_INTERVAL", default=0.5)
# Quiet time after which an active answer counts as orphaned (0: derived from the AI timeouts).
CHAT_ORPHAN_SECONDS = env.float("CHAT_ORPHAN_SECONDS", default=0)
# Streaming (chat.generation, chat.streams): deltas coalesced into one frame per window or size;
# the per-message log followers on other workers read (a Redis Stream: length cap, lifetime);
# how long a follower hears nothing before it asks the database; the Redis connections of the
# followers of one process; each running answer's heartbeat.
CHAT_STREAM_COALESCE_MS = env.float("CHAT_STREAM_COALESCE_MS", default=30.0)
CHAT_STREAM_COALESCE_CHARS = env.int("CHAT_STREAM_COALESCE_CHARS", default=256)
CHAT_STREAM_LOG_MAXLEN = env.int("CHAT_STREAM_LOG_MAXLEN", default=5000)
CHAT_STREAM_LOG_TTL = env.int("CHAT_STREAM_LOG_TTL", default=600)
CHAT_STREAM_FOLLOW_IDLE = env.float("CHAT_STREAM_FOLLOW_IDLE", default=5.0)
CHAT_STREAM_REDIS_MAX_CONNECTIONS = env.int("CHAT_STREAM_REDIS_MAX_CONNECTIONS", default=50)
CHAT_STREAM_REDIS_POOL_TIMEOUT = env.float("CHAT_STREAM_REDIS_POOL_TIMEOUT", default=2.0)
CHAT_HEARTBEAT_INTERVAL = env.float("CHAT_HEARTBEAT_INTERVAL", default=2.0)
CHAT_HEARTBEAT_TTL = env.int("CHAT_HEARTBEAT_TTL", default=8)  # whole seconds (cache TTL)
# Threads of an ASGI process for the answers' database work (storing a turn, checkpoints, the
# end), beside the one shared thread of every other database call. 0: that shared thread (the
# only sensible choice on SQLite, which has one writer). On PostgreSQL the turns of many users
# then wait on network round trips side by side instead of in one queue (profiled: at 500
# streams the queue made time to first token a minute); keep it below DATABASE_POOL_MAX.
CHAT_DB_THREADS = env.int(
    "CHAT_DB_THREADS",
    default=(
        max(1, min(8, DATABASES["default"]["OPTIONS"]["pool"]["max_size"] - 2))
        if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        else 0
    ),
)
CHAT_WS_MAX_FRAME_BYTES = env.int("CHAT_WS_MAX_FRAME_BYTES", default=65536)
CHAT_WS_AUTH_TIMEOUT = env.float("CHAT_WS_AUTH_TIMEOUT", default=10.0)
CHAT_WS_MAX_FRAMES_PER_MINUTE = env.int("CHAT_WS_MAX_FRAMES_PER_MINUTE", default=120)
AI_ALLOWED_MODELS = env.list("AI_ALLOWED_MODELS", default=[])
AI_MAX_TOKENS = env.int("AI_MAX_TOKENS", default=2048)
# OpenAI-compatible API (/v1/) and /api/v1/ai/generate*: characters of one request's messages or
# embedding inputs in all; prompts of one batch; batch prompts run at once.
OPENAI_API_MAX_INPUT_CHARS = env.int("OPENAI_API_MAX_INPUT_CHARS", default=200_000)
AI_BATCH_MAX_ITEMS = env.int("AI_BATCH_MAX_ITEMS", default=20)
AI_BATCH_CONCURRENCY = env.int("AI_BATCH_CONCURRENCY", default=4)
# POST /api/v1/ai/models/{key}/load on Ollama: how long the loaded model stays in memory.
AI_MODEL_KEEP_ALIVE = env.str("AI_MODEL_KEEP_ALIVE", default="30m")
AI_REQUEST_TIMEOUT = env.float("AI_REQUEST_TIMEOUT", default=60.0)
AI_MAX_RETRIES = env.int("AI_MAX_RETRIES", default=2)
AI_RETRY_AFTER_CAP = env.float("AI_RETRY_AFTER_CAP", default=20.0)
AI_RETRY_BACKOFF_BASE = env.float("AI_RETRY_BACKOFF_BASE", default=0.5)
AI_STREAM_IDLE_TIMEOUT = env.float("AI_STREAM_IDLE_TIMEOUT", default=30.0)
AI_OFFLINE_TOKEN_DELAY = env.float("AI_OFFLINE_TOKEN_DELAY", default=0.0)
if REDIS_URL:
    # redis-py 8 defaults socket_timeout to 5 s, exactly channels-redis's BZPOPMIN wait, so an
    # idle socket's receive loop died with "Timeout reading"; give the blocking pop headroom.
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        {"address": REDIS_URL, "socket_timeout": 30, "retry_on_error": REDIS_RETRY_ON_ERROR}
    ]

# --- Documents, Qdrant and retrieval (ai app) -----------------------------------------------
# (documents settings)
DOCUMENT_MAX_UPLOAD_BYTES = env.int("DOCUMENT_MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
DOCUMENT_MAX_PAGES = env.int("DOCUMENT_MAX_PAGES", default=500)
# Extracted text is capped too: a small file can still expand to a huge amount of text.
DOCUMENT_MAX_TEXT_CHARS = env.int("DOCUMENT_MAX_TEXT_CHARS", default=10_000_000)
DOCUMENT_MAX_PER_USER = env.int("DOCUMENT_MAX_PER_USER", default=1000)
CHUNK_TOKENS = env.int("CHUNK_TOKENS", default=400)
CHUNK_OVERLAP = env.int("CHUNK_OVERLAP", default=40)
EMBED_BATCH_SIZE = env.int("EMBED_BATCH_SIZE", default=64)
INGEST_TIME_LIMIT = env.int("INGEST_TIME_LIMIT", default=600)  # seconds per document
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=3)
# Bounds sized from the file: a tiny file must not expand into megabytes of work (a PDF whose
# pages all reuse one large content stream). A PDF's parsed page content and extracted text may
# be at most this many times max(file size, 128 KB); text beyond DOCUMENT_MAX_TEXT_CHARS never.
DOCUMENT_EXPANSION_RATIO = env.int("DOCUMENT_EXPANSION_RATIO", default=20)
DOCUMENT_MAX_PAGE_CHARS = env.int("DOCUMENT_MAX_PAGE_CHARS", default=100_000)  # per PDF page
DOCUMENT_MAX_CHUNKS = env.int("DOCUMENT_MAX_CHUNKS", default=10_000)
# CPU seconds one document may use per MB of file (at least 1 MB), never more than the time limit.
INGEST_CPU_SECONDS_PER_MB = env.int("INGEST_CPU_SECONDS_PER_MB", default=30)
# Where ingestion runs: "thread" (an in-process worker thread: embedded mode), "celery" (workers,
# with REDIS_URL), "inline" (in the caller: tests and commands).
INGEST_RUNNER = env.str("INGEST_RUNNER", default="thread" if CELERY_TASK_ALWAYS_EAGER else "celery")
if INGEST_RUNNER not in ("thread", "celery", "inline"):
    raise ImproperlyConfigured("INGEST_RUNNER must be thread, celery or inline.")
# A running ingestion touches its document this often; one untouched for INGEST_STALL_SECONDS
# lost its worker (kill -9, OOM) and is queued again by the periodic sweep.
INGEST_HEARTBEAT_SECONDS = env.int("INGEST_HEARTBEAT_SECONDS", default=5)
INGEST_STALL_SECONDS = env.int("INGEST_STALL_SECONDS", default=30)
# With acks_late a message whose worker died is redelivered after the visibility timeout: it
# must outlast the longest task (the ingest hard limit) and every countdown (email retries).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=INGEST_TIME_LIMIT + 120)
}
RAG_TOP_K = env.int("RAG_TOP_K", default=5)
RAG_MAX_TOP_K = env.int("RAG_MAX_TOP_K", default=50)
# Minimum cosine similarity for the dense half of hybrid search; BM25 matches need a shared term.
RAG_MIN_SCORE = env.float("RAG_MIN_SCORE", default=0.2)
RAG_RRF_K = env.int("RAG_RRF_K", default=60)
SEARCH_QUERY_MAX_CHARS = env.int("SEARCH_QUERY_MAX_CHARS", default=2000)
# "" picks by QDRANT_URL (server via qdrant-client, else embedded Qdrant Edge); "edge" | "client".
QDRANT_BACKEND = env.str("QDRANT_BACKEND", default="")
# qdrant-client without QDRANT_URL: its local mode at this path, or ":memory:" (tests, baseline).
QDRANT_LOCATION = env.str("QDRANT_LOCATION", default="")
QDRANT_COLLECTION_PREFIX = env.str("QDRANT_COLLECTION_PREFIX", default="chunks")
QDRANT_TIMEOUT = env.int("QDRANT_TIMEOUT", default=10)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].update(
    {
        "document_upload": env.str("THROTTLE_DOCUMENT_UPLOAD", default="60/hour"),
        "search": env.str("THROTTLE_SEARCH", default="120/min"),
    }
)

# --- Usage, quotas, flags (ai app) ------------------------------------------------------------
# Token budgets per role (null override on a user's Quota = these). 0 means "no model calls".
QUOTA_DEFAULTS = {
    "admin": {
        "daily_tokens": env.int("QUOTA_ADMIN_DAILY_TOKENS", default=2_000_000),
        "monthly_tokens": env.int("QUOTA_ADMIN_MONTHLY_TOKENS", default=40_000_000),
        "max_concurrent": env.int("QUOTA_ADMIN_MAX_CONCURRENT", default=5),
    },
    "user": {
        "daily_tokens": env.int("QUOTA_USER_DAILY_TOKENS", default=200_000),
        "monthly_tokens": env.int("QUOTA_USER_MONTHLY_TOKENS", default=3_000_000),
        "max_concurrent": env.int("QUOTA_USER_MAX_CONCURRENT", default=3),
    },
    "viewer": {"daily_tokens": 0, "monthly_tokens": 0, "max_concurrent": 0},
}
# A reservation whose generation never settled (a worker died) is released after this long.
QUOTA_RESERVATION_TTL = env.int("QUOTA_RESERVATION_TTL", default=900)
# Feature flags are cached this long (and invalidated on every change).
FEATURE_FLAG_CACHE_SECONDS = env.int("FEATURE_FLAG_CACHE_SECONDS", default=60)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].update(
    {"chat_message": env.str("THROTTLE_CHAT_MESSAGE", default="30/min")}
)

# --- Fine-tuning (finetuning app) -------------------------------------------------------------
# Base models organizations may fine-tune (the provider's names; Azure: its base model names).
FINETUNING_MODELS = env.list(
    "FINETUNING_MODELS",
    default=["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"],
)
# Longest training example per base model in tokens ("model=tokens,..."); others: the default.
FINETUNING_CONTEXT_TOKENS = {
    key: int(value) for key, value in env.dict("FINETUNING_CONTEXT_TOKENS", default={}).items()
}
FINETUNING_DEFAULT_CONTEXT_TOKENS = env.int("FINETUNING_DEFAULT_CONTEXT_TOKENS", default=65_536)
# US dollars per million trained tokens ("model=price,..."), for the cost estimate only.
FINETUNING_PRICES = {
    key: float(value)
    for key, value in env.dict(
        "FINETUNING_PRICES",
        default={
            "gpt-4.1-mini-2025-04-14": "5",
            "gpt-4o-mini-2024-07-18": "3",
            "gpt-4o-2024-08-06": "25",
        },
    ).items()
}
FINETUNING_MIN_EXAMPLES = env.int("FINETUNING_MIN_EXAMPLES", default=10)
# Epochs assumed by estimates when a job leaves them to the provider ("auto").
FINETUNING_DEFAULT_EPOCHS = env.int("FINETUNING_DEFAULT_EPOCHS", default=3)
# Bounds of one uploaded file: a small file must not cause unbounded work.
FINETUNING_MAX_FILE_BYTES = env.int("FINETUNING_MAX_FILE_BYTES", default=20 * 1024 * 1024)
FINETUNING_MAX_LINES = env.int("FINETUNING_MAX_LINES", default=50_000)
FINETUNING_MAX_LINE_CHARS = env.int("FINETUNING_MAX_LINE_CHARS", default=400_000)
FINETUNING_MAX_MESSAGES_PER_EXAMPLE = env.int("FINETUNING_MAX_MESSAGES_PER_EXAMPLE", default=200)
# Problems listed in one answer at most (the count of all of them is always given).
FINETUNING_MAX_PROBLEMS = env.int("FINETUNING_MAX_PROBLEMS", default=200)
FINETUNING_EXPORT_MAX_EXAMPLES = env.int("FINETUNING_EXPORT_MAX_EXAMPLES", default=5000)
# Active jobs are polled this often (seconds); provider errors back off up to the maximum, and
# an upload is given up (upload_failed) after this many failed attempts.
FINETUNING_SYNC_INTERVAL = env.int("FINETUNING_SYNC_INTERVAL", default=60)
FINETUNING_SYNC_MAX_BACKOFF = env.int("FINETUNING_SYNC_MAX_BACKOFF", default=3600)
FINETUNING_UPLOAD_MAX_ATTEMPTS = env.int("FINETUNING_UPLOAD_MAX_ATTEMPTS", default=5)

# --- Periodic maintenance: Celery beat in scaled mode, an in-process timer in embedded mode ----
# Both run this one schedule (config.periodic runs it in the server process without a broker).
MAINTENANCE_INTERVAL = env.int("MAINTENANCE_INTERVAL", default=15)  # seconds; 0 = off
# Deleting a user (accounts.deletion): where the job runs, like INGEST_RUNNER; a job untouched
# for USER_DELETION_STALL_SECONDS lost its worker and is resumed by the periodic maintenance.
USER_DELETION_RUNNER = env.str(
    "USER_DELETION_RUNNER", default="thread" if CELERY_TASK_ALWAYS_EAGER else "celery"
)
if USER_DELETION_RUNNER not in ("thread", "celery", "inline"):
    raise ImproperlyConfigured("USER_DELETION_RUNNER must be thread, celery or inline.")
USER_DELETION_STALL_SECONDS = env.int("USER_DELETION_STALL_SECONDS", default=60)
USER_DELETION_MAX_ATTEMPTS = env.int("USER_DELETION_MAX_ATTEMPTS", default=5)
# Deleting an organization (tenants.deletion): the same kind of job, on its own runner setting;
# it shares USER_DELETION_STALL_SECONDS and USER_DELETION_MAX_ATTEMPTS.
ORGANIZATION_DELETION_RUNNER = env.str("ORGANIZATION_DELETION_RUNNER", default=USER_DELETION_RUNNER)
if ORGANIZATION_DELETION_RUNNER not in ("thread", "celery", "inline"):
    raise ImproperlyConfigured("ORGANIZATION_DELETION_RUNNER must be thread, celery or inline.")
CELERY_BEAT_SCHEDULE = {
    name: {"task": name, "schedule": float(MAINTENANCE_INTERVAL)}
    for name in (
        "chat.recover_orphans",
        "ai.documents_sweep",
        "ai.quota_reservations_expire",
        "accounts.user_deletions_resume",
        "finetuning.jobs_sync",
        # Period closes, the end of past-due grace, webhook events left unprocessed.
        "billing.maintenance",
        "tenants.organization_deletions_resume",
    )
}
# --- Subscriptions and billing (billing app) -------------------------------------------------
# "manual" (offline: invoices issued here, marked paid by a platform admin) or "stripe".
BILLING_PROVIDER = env.str("BILLING_PROVIDER", default="manual")
if BILLING_PROVIDER not in ("manual", "stripe"):
    raise ImproperlyConfigured("BILLING_PROVIDER must be manual or stripe.")
BILLING_INVOICE_PREFIX = env.str("BILLING_INVOICE_PREFIX", default="INV")
BILLING_INVOICE_DUE_DAYS = env.int("BILLING_INVOICE_DUE_DAYS", default=14)
# Days a subscription stays past_due (entitlements kept) before it falls back to the free plan.
BILLING_PAST_DUE_GRACE_DAYS = env.int("BILLING_PAST_DUE_GRACE_DAYS", default=7)
BILLING_SELLER_NAME = env.str("BILLING_SELLER_NAME", default=PROJECT_NAME)
# Where Stripe Checkout and the Billing Portal send the customer back ("" : FRONTEND_URL, else
# the address the request reached).
BILLING_RETURN_URL = env.str("BILLING_RETURN_URL", default="")
BILLING_WEBHOOK_MAX_RETRIES = env.int("BILLING_WEBHOOK_MAX_RETRIES", default=5)
BILLING_WEBHOOK_RETRY_AFTER = env.int("BILLING_WEBHOOK_RETRY_AFTER", default=300)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Another Stripe API address (a test double); empty: Stripe's.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Seconds a signed webhook stays valid (older signatures are refused as replays).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The default throttles, indexed so GET /api/v1/admin/rate-limits can list who is blocked.
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "accounts.throttles.IndexedAnonRateThrottle",
    "accounts.throttles.IndexedUserRateThrottle",
]
