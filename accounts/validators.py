"""Password validators on top of Django's: a length cap, a refusal of trivial passwords (one
repeated character, only whitespace) and the optional seed-001 composition rules
(``PASSWORD_REQUIRE_*``, all off by default following NIST SP 800-63B)."""

import unicodedata
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError


class MaximumLengthValidator:
    """Refuse absurdly long passwords: hashing cost grows with length (request-size DoS)."""

    def __init__(self, max_length: int = 256) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                f"This password is too long. It must contain at most {self.max_length} characters.",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password can contain at most {self.max_length} characters."


class TrivialPasswordValidator:
    """Refuse passwords made only of whitespace or of one character repeated.

    Twelve spaces or 256 times "a" pass a length rule and no dictionary lists them all, yet
    they are the first guesses of any attacker. Case is ignored ("aAaA" is one letter).
    """

    def validate(self, password: str, user: Any = None) -> None:
        if not password:
            return  # the minimum length rule speaks for empty passwords
        if password.isspace():
            raise ValidationError(
                "This password is only whitespace. Choose one with letters, digits or symbols.",
                code="password_only_whitespace",
            )
        if len(set(password.casefold())) == 1:
            raise ValidationError(
                "This password repeats a single character. Choose a less predictable one.",
                code="password_repeated_character",
            )

    def get_help_text(self) -> str:
        return "Your password cannot be only whitespace or one character repeated."


def _is_symbol(char: str) -> bool:
    # Any printable non-letter, non-digit character counts, Unicode punctuation included.
    return not char.isalnum() and unicodedata.category(char)[0] in {"P", "S", "Z"}


class CompositionValidator:
    """The composition rules of seed 001, each switched on by its own setting.

    Read at validation time (not at import) so an operator or a test can toggle them.
    """

    RULES: tuple[tuple[str, str, Any], ...] = (
        ("PASSWORD_REQUIRE_UPPERCASE", "an uppercase letter", str.isupper),
        ("PASSWORD_REQUIRE_LOWERCASE", "a lowercase letter", str.islower),
        ("PASSWORD_REQUIRE_NUMBERS", "a digit", str.isdigit),
        ("PASSWORD_REQUIRE_SYMBOLS", "a symbol", _is_symbol),
    )

    def _active(self) -> list[tuple[str, Any]]:
        return [(label, test) for name, label, test in self.RULES if getattr(settings, name, False)]

    def validate(self, password: str, user: Any = None) -> None:
        missing = [label for label, test in self._active() if not any(map(test, password))]
        if missing:
            raise ValidationError(
                "This password must contain " + ", ".join(missing) + ".",
                code="password_composition",
            )

    def get_help_text(self) -> str:
        labels = [label for label, _ in self._active()]
        return ("Your password must contain " + ", ".join(labels) + ".") if labels else ""
