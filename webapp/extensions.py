"""The extension objects, created unbound here and bound to an app in ``create_app``."""

from flask import current_app
from flask_caching import Cache
from flask_mail import Mail
from flask_migrate import Migrate
from flask_security import Security
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .securitymail import QueuedMailUtil


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same on every database."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
mail = Mail()
csrf = CSRFProtect()
security = Security(mail_util_cls=QueuedMailUtil)
cache = Cache()


def get_storage():
    """The storage backend of the current app."""
    return current_app.extensions["storage"]
