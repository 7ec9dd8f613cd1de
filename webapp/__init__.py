"""The neurodrop web application: ``create_app`` builds it in small ``register_*`` steps."""

from pathlib import Path

from flask_security import SQLAlchemyUserDatastore

from .config import Config
from .cookiesession import KeptSignerSessionInterface
from .email import init_outbox
from .extensions import csrf, db, mail, migrate, security
from .numbers import AsciiIntegerConverter
from .processing import celery_init_app
from .storage import storage_from_config
from .streaming_request import StreamingRequest
from .urls import BaseUrlFlask


def create_app(config=None):
    """Build the app from a settings object (default: ``Config()`` from the environment)."""
    settings = config if config is not None else Config()
    if isinstance(settings, type):
        settings = settings()
    app = BaseUrlFlask(__name__, instance_path=getattr(settings, "INSTANCE_DIR", None) or None)
    app.request_class = StreamingRequest
    app.session_interface = KeptSignerSessionInterface()
    app.url_map.converters["int"] = AsciiIntegerConverter
    load_settings(app, settings)
    register_logging(app)
    make_instance_folders(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security(app)
    register_template_helpers(app)
    register_commands(app)
    init_storage(app)
    celery_init_app(app)
    return app


def load_settings(app, settings):
    """Copy the settings (an object or a mapping) into ``app.config`` and check them."""
    if isinstance(settings, dict):
        app.config.update(settings)
    else:
        if hasattr(settings, "check_production"):
            settings.check_production()
        app.config.from_object(settings)
        app.config.update({key: value for key, value in vars(settings).items() if key.isupper()})
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"] + 1024 * 1024


def register_logging(app):
    from .logs import init_logging

    init_logging(app)


def make_instance_folders(app):
    """Create the folders the embedded defaults write into."""
    for key in ("INSTANCE_DIR", "MAIL_OUTBOX_DIR"):
        folder = app.config.get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


def register_extensions(app):
    from .accounts.forms import RegisterForm
    from .dbpool import watch_pool
    from .models import Role, User, render_migration_type
    from .pagecache import init_page_cache
    from .quota import init_quota
    from .securitymail import QueuedForgotPasswordForm, QueuedSendConfirmationForm
    from .sqlite import enable_sqlite_pragmas
    from .viewercopies import init_viewer_copies

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).resolve().parent.parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_type,
    )
    mail.init_app(app)
    init_outbox(app)
    csrf.init_app(app)
    security.init_app(
        app,
        SQLAlchemyUserDatastore(db, User, Role),
        forgot_password_form=QueuedForgotPasswordForm,
        send_confirmation_form=QueuedSendConfirmationForm,
        register_form=RegisterForm,
    )
    end_sessions_on_logout(security)
    init_page_cache(app)
    init_viewer_copies(app)
    init_quota(app)
    with app.app_context():
        enable_sqlite_pragmas(db.engine)
        watch_pool(db.engine)


def end_sessions_on_logout(security):
    """No login tokens from Flask-Security, and a logout that ends the session server-side (``webapp/callers.py``)."""
    from flask_login import user_logged_out

    from .callers import end_sessions_everywhere, refuse_login_tokens

    security.login_manager.request_loader(refuse_login_tokens)
    user_logged_out.connect(end_sessions_everywhere)


def register_blueprints(app):
    from .accounts import bp as accounts_bp
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .bulkedit import bp as bulkedit_bp
    from .collections import bp as collections_bp
    from .images import bp as images_bp
    from .main import bp as main_bp
    from .reports import bp as reports_bp
    from .similar import bp as similar_bp
    from .tus import bp as tus_bp
    from .uploads import bp as uploads_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(accounts_bp, url_prefix="/accounts")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(collections_bp, url_prefix="/collections")
    app.register_blueprint(images_bp, url_prefix="/images")
    app.register_blueprint(uploads_bp, url_prefix="/collections")
    app.register_blueprint(bulkedit_bp, url_prefix="/collections")
    app.register_blueprint(reports_bp)
    app.register_blueprint(similar_bp, url_prefix="/similar")
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(tus_bp, url_prefix="/api/uploads")


def register_errorhandlers(app):
    from .errors import init_error_handlers

    init_error_handlers(app)


def register_security(app):
    """Security headers and CSP, the trusted proxy, and rate limits (after the views they wrap exist)."""
    from .metrics import init_metrics
    from .ratelimits import init_rate_limits
    from .security_headers import init_security_headers, trust_proxy

    trust_proxy(app)
    init_security_headers(app)
    init_rate_limits(app)
    init_metrics(app)


def register_template_helpers(app):
    from .templating import init_templating

    init_templating(app)


def register_commands(app):
    from .commands import accounts_cli, images_cli

    app.cli.add_command(accounts_cli)
    app.cli.add_command(images_cli)


def init_storage(app):
    app.extensions["storage"] = storage_from_config(app.config)
