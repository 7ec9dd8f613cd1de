"""What happens to a user's other credentials when their password changes."""

import sqlalchemy as sa
from flask_security import password_changed, password_reset

from ..extensions import db
from ..models import ApiToken, utcnow


def revoke_api_tokens(sender, user, **_):
    """A new password ends every API token: whoever learned the old one may have made some (issue 21).

    Flask-Security changes ``fs_uniquifier`` on a reset, which ends sessions; API tokens are ours
    and need this. Committed here, so the revocation holds whoever changed the password.
    """
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def connect_signals():
    password_changed.connect(revoke_api_tokens, weak=False)
    password_reset.connect(revoke_api_tokens, weak=False)
