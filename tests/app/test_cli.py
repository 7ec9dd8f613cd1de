"""The command-line contracts of DESIGN.md."""

from webapp.models import ApiToken, User


def test_accounts_create_and_token(app, runner):
    result = runner.invoke(args=["accounts", "create", "cli@example.org", "--password", "pw-pw-pw-pw", "--admin"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = User.query.filter_by(email="cli@example.org").one()
        assert user.active and user.confirmed_at is not None and user.has_role("admin")

    again = runner.invoke(args=["accounts", "create", "cli@example.org", "--password", "x"])
    assert again.exit_code != 0 and "exists already" in again.output

    token = runner.invoke(args=["accounts", "token", "cli@example.org"])
    assert token.exit_code == 0
    secret = token.output.strip()
    assert len(secret) == 40 and "\n" not in secret
    with app.app_context():
        assert ApiToken.find_active(secret).user.email == "cli@example.org"

    unknown = runner.invoke(args=["accounts", "token", "nobody@example.org"])
    assert unknown.exit_code != 0


def test_created_user_can_log_in(app, runner, client, accounts):
    runner.invoke(args=["accounts", "create", "cli@example.org", "--password", "pw-pw-pw-pw"])
    assert accounts.login("cli@example.org", "pw-pw-pw-pw").status_code == 302


def test_images_reprocess_needs_ids_or_all(runner):
    assert runner.invoke(args=["images", "reprocess"]).exit_code != 0
    assert "no image with id 99" in runner.invoke(args=["images", "reprocess", "99"]).output
