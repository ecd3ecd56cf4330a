"""create_default_admin and the password policy."""

from io import StringIO

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.models import Role, User
from tests.accounts.helpers import assert_envelope, login
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


def test_default_admin_avoids_username_clash(settings):
    UserFactory(username="boss")
    settings.DEFAULT_ADMIN_EMAIL = "boss@example.com"
    settings.DEFAULT_ADMIN_PASSWORD = "a long and secret passphrase"
    _run()
    assert User.objects.get(email="boss@example.com").username == "boss-2"


@pytest.mark.parametrize("weak", ["12345678", " " * 12, "a" * 256])
def test_default_admin_refuses_a_password_the_policy_refuses(settings, weak):
    settings.DEFAULT_ADMIN_EMAIL = "boss@example.com"
    settings.DEFAULT_ADMIN_PASSWORD = weak
    with pytest.raises(CommandError, match="fails the password policy"):
        _run()
    assert not User.objects.filter(email="boss@example.com").exists()


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


# --- trivial passwords (one repeated character, only whitespace) -----------------------------

TRIVIAL = [" " * 12, "\t \n" * 4, "a" * 256, "A" * 12, "aAaAaAaAaAaA", "7" * 12, "." * 20]


@pytest.mark.parametrize("weak", TRIVIAL)
def test_trivial_passwords_are_refused_with_a_clear_message(weak):
    with pytest.raises(ValidationError) as exc:
        validate_password(weak)
    assert {"password_only_whitespace", "password_repeated_character"} & {
        error.code for error in exc.value.error_list
    }
    message = " ".join(exc.value.messages)
    assert "whitespace" in message or "repeats a single character" in message


def test_passwords_with_spaces_or_repeats_inside_are_fine():
    validate_password("  leading and trailing spaces  ")
    validate_password("aaaaaaaaaaab")
    validate_password("correct horse battery staple")


def test_register_refuses_a_trivial_password(api_client):
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": "lazy@example.com", "username": "lazy", "password": "a" * 256},
        format="json",
    )
    body = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "repeats a single character" in " ".join(body["details"]["password"])
    assert not User.objects.filter(email="lazy@example.com").exists()


def test_password_change_refuses_only_whitespace(user_client, user, password):
    response = user_client.post(
        "/api/v1/users/me/password",
        {"current_password": password, "new_password": " " * 12},
        format="json",
    )
    body = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert "whitespace" in " ".join(body["details"]["password"])
    user.refresh_from_db()
    assert user.check_password(password)


def test_password_reset_refuses_a_repeated_character(api_client, user, password):
    from accounts.lifecycle import password_reset_token

    response = api_client.post(
        "/api/v1/auth/password/reset",
        {"token": password_reset_token(user=user), "new_password": "z" * 40},
        format="json",
    )
    assert "password" in assert_envelope(response, 400, "VALIDATION_ERROR")["details"]
    user.refresh_from_db()
    assert user.check_password(password)


def test_admin_console_forms_refuse_trivial_passwords(user):
    """The console's set-password and add-user forms (Django's, fed by the same validators)."""
    from accounts.admin.users import UserAdmin

    change = UserAdmin.change_password_form(
        user, data={"password1": " " * 12, "password2": " " * 12, "usable_password": "true"}
    )
    assert not change.is_valid()
    assert "whitespace" in str(change.errors)
    add = UserAdmin.add_form(
        data={
            "email": "new@example.com",
            "username": "newbie",
            "full_name": "",
            "role": "user",
            "password1": "b" * 30,
            "password2": "b" * 30,
            "usable_password": "true",
        }
    )
    assert not add.is_valid()
    assert "repeats a single character" in str(add.errors)


def test_createsuperuser_refuses_a_trivial_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "x" * 16)
    with pytest.raises(CommandError, match="repeats a single character"):
        call_command(
            "createsuperuser",
            "--noinput",
            "--email",
            "root@example.com",
            "--username",
            "root",
            stdout=StringIO(),
        )
    assert not User.objects.filter(email="root@example.com").exists()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long and secret passphrase")
    call_command(
        "createsuperuser",
        "--noinput",
        "--email",
        "root@example.com",
        "--username",
        "root",
        stdout=StringIO(),
    )
    assert User.objects.get(email="root@example.com").is_superuser
