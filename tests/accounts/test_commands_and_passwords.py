"""create_default_admin and the password policy."""

from io import StringIO

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command

from accounts.models import Role, User
from tests.accounts.helpers import login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _run() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_default_admin", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_default_admin_with_generated_password(settings, api_client):
    settings.DEFAULT_ADMIN_EMAIL = "Boss@Example.com"
    settings.DEFAULT_ADMIN_PASSWORD = ""
    out, _ = _run()
    admin = User.objects.get(email="boss@example.com")
    assert admin.role == Role.ADMIN and admin.is_staff and admin.is_superuser
    password = out.split("Generated password (shown only now): ", 1)[1].strip()
    assert len(password) >= 20
    assert login(api_client, "boss@example.com", password).status_code == 200


def test_default_admin_is_idempotent(settings):
    settings.DEFAULT_ADMIN_EMAIL = "boss@example.com"
    settings.DEFAULT_ADMIN_PASSWORD = "a long and secret passphrase"
    out1, _ = _run()
    out2, _ = _run()
    assert User.objects.filter(email="boss@example.com").count() == 1
    assert "Generated password" not in out1
    assert "already exists" in out2
    assert User.objects.get(email="boss@example.com").check_password("a long and secret passphrase")


def test_default_admin_avoids_username_clash_and_warns_on_weak_password(settings):
    UserFactory(username="boss")
    settings.DEFAULT_ADMIN_EMAIL = "boss@example.com"
    settings.DEFAULT_ADMIN_PASSWORD = "12345678"
    _out, err = _run()
    assert "password policy" in err
    assert User.objects.get(email="boss@example.com").username == "boss-2"


# --- password policy ------------------------------------------------------------------------


def test_default_policy_follows_nist_length_not_composition():
    validate_password("all lowercase words are fine")  # no digits, symbols or capitals needed
    validate_password("ça marche très bien ✓")
    for weak in ("short", "password", "12345678901"):
        with pytest.raises(ValidationError):
            validate_password(weak)


def test_password_similar_to_user_attributes_refused():
    user = User(email="grace.hopper@example.com", username="gracehopper", full_name="Grace Hopper")
    with pytest.raises(ValidationError):
        validate_password("gracehopper", user=user)


def test_password_max_length():
    validate_password("x y z " * 40)  # 240 characters
    with pytest.raises(ValidationError) as exc:
        validate_password("a" * 300)
    assert "too long" in str(exc.value)


def test_composition_rules_switch_on_by_setting(settings):
    settings.PASSWORD_REQUIRE_UPPERCASE = True
    settings.PASSWORD_REQUIRE_NUMBERS = True
    settings.PASSWORD_REQUIRE_SYMBOLS = True
    with pytest.raises(ValidationError) as exc:
        validate_password("lowercase words only")
    message = str(exc.value)
    assert "uppercase" in message and "digit" in message and "symbol" not in message
    validate_password("Lowercase words 4 ever")
    settings.PASSWORD_REQUIRE_LOWERCASE = True
    with pytest.raises(ValidationError):
        validate_password("ALL CAPS 123 HERE")


def test_argon2_is_the_production_hasher():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
