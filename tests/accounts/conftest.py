"""Fixtures for the accounts tests: a controllable clock and users with MFA."""

import time
from datetime import UTC, datetime

import pytest
import time_machine

from accounts import mfa
from core.actor import Actor
from tests.accounts.helpers import totp_now


@pytest.fixture
def clock():
    """Frozen time that tests move explicitly (TOTP steps, token expiry, lock-out)."""
    # Real "now" (tokens issued by other fixtures stay valid), moved to the start of a TOTP
    # step so that 30-second shifts land on predictable steps.
    start = (int(time.time()) // 30 + 1) * 30 + 1
    with time_machine.travel(datetime.fromtimestamp(start, tz=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def mfa_user(user, password, clock):
    """``user`` with confirmed TOTP; returns (user, secret, backup_codes). Step 0 is used."""
    setup = mfa.mfa_enable(actor=Actor(user=user), password=password)
    codes = mfa.mfa_confirm(
        actor=Actor(user=user), code=totp_now(setup["secret"]), password=password
    )
    clock.shift(30)  # the next code is a fresh one
    return user, setup["secret"], codes
