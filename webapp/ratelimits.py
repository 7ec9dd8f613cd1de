"""Rate limits on the account views that guess passwords, send emails or mint API tokens.

Each group of views shares one budget per client address (``RATELIMIT_*`` settings, e.g.
``"10/minute;100/hour"``), counted in ``RATELIMIT_STORAGE_URI`` (memory for one process,
Redis when several web processes must agree). Only POSTs count: reading a form is free.
Going over answers 429 with ``Retry-After``. When the store is down the limits fail open
(``RATELIMIT_SWALLOW_ERRORS``): a Redis outage must not lock everyone out of their account.

The limits wrap the views already registered (Flask-Security's are not ours to decorate),
so this table is the one place that says what is limited.
"""

from flask import current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user

#: Limited per signed-in user (a search by file keeps a worker busy), whichever address they come from.
PER_USER_VIEWS = {
    "RATELIMIT_SIMILAR_SEARCH": ("similar.search", "api.similar_search"),
}
#: Limited per client address, counting only requests that drew a picture (a cache miss costs the web tier CPU).
DRAWING_VIEWS = {
    "RATELIMIT_SLICES": ("images.slices_png",),
}
LIMITED_VIEWS = {
    "RATELIMIT_LOGIN": ("security.login", "security.verify", "security.change_password"),
    "RATELIMIT_REGISTER": ("security.register", "security.send_confirmation"),
    "RATELIMIT_RESET": ("security.forgot_password", "security.reset_password"),
    "RATELIMIT_TOKENS": ("accounts.tokens",),
    "RATELIMIT_REPORTS": ("reports.report_image", "reports.report_collection"),
}


def limit_from_settings(setting):
    """The limit string read at request time, so a test or an operator can change it on a running app."""
    return lambda: current_app.config[setting]


def drew_a_picture(response):
    """Whether the on-demand slice was drawn for this request rather than read from the kept ones."""
    return response.headers.get("X-Slices-Cache") == "miss"


def user_or_address():
    """The caller's user (API token or session), else their address."""
    user = g.get("api_user") or (current_user if current_user.is_authenticated else None)
    return f"user:{user.id}" if user is not None else get_remote_address()


def init_rate_limits(app):
    """Bind a limiter of this app's own (Flask-Limiter keeps per-app state) and wrap the limited views."""
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    for setting, endpoints in LIMITED_VIEWS.items():
        budget = limiter.shared_limit(limit_from_settings(setting), scope=setting.lower(), methods=["POST"])
        for endpoint in endpoints:
            app.view_functions[endpoint] = budget(app.view_functions[endpoint])
    for setting, endpoints in PER_USER_VIEWS.items():
        budget = limiter.shared_limit(limit_from_settings(setting), scope=setting.lower(), methods=["POST"],
                                      key_func=user_or_address)
        for endpoint in endpoints:
            app.view_functions[endpoint] = budget(app.view_functions[endpoint])
    for setting, endpoints in DRAWING_VIEWS.items():
        budget = limiter.shared_limit(limit_from_settings(setting), scope=setting.lower(), methods=["GET"],
                                      deduct_when=drew_a_picture)
        for endpoint in endpoints:
            app.view_functions[endpoint] = budget(app.view_functions[endpoint])
    app.extensions["rate_limiter"] = limiter
