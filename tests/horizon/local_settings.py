# Horizon's local_settings.py for the browser test (tests/horizon/browser_test.py):
# scripts/install-horizon.sh copies it into the virtualenv's openstack_dashboard/local/.
# The only service Horizon is told about is Keystone; it finds the Networking API in the
# token's catalog, as in any deployment. Everything else is what a deployment must choose:
# one domain, sessions in signed cookies (no memcached), offline-compressed assets.
import os

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# The test serves Horizon only on loopback, for the few minutes of a run.
SECRET_KEY = os.environ.get("NEUTRINO_HORIZON_SECRET_KEY", "neutrino-horizon-test-only")

OPENSTACK_KEYSTONE_URL = os.environ.get(
    "NEUTRINO_HORIZON_KEYSTONE_URL", "http://127.0.0.1:9696/v3"
)
OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = False

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

COMPRESS_OFFLINE = True
TIME_ZONE = "UTC"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"console": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "console"}},
    "loggers": {
        "horizon": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "openstack_dashboard": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "openstack_auth": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
