"""One failure lock-out for every door that checks a password or a code.

API login, email-code login, MFA verify, the admin console login, and the password/code
re-checks of signed-in users (password change, MFA disable, new backup codes) all run their
check inside :func:`credential_attempt`. Two budgets, both in the shared cache:

* per account, strict: after ``LOGIN_LOCKOUT_THRESHOLD`` failures within
  ``LOGIN_LOCKOUT_SECONDS`` the account is locked for ``LOGIN_LOCKOUT_SECONDS``, even for the
  right password (429 ``LOCKED_OUT`` with ``Retry-After``);
* per client IP, soft: after ``LOGIN_IP_FAILURE_THRESHOLD`` failures within the window the IP
  is slowed down, not locked: one check per delay that doubles with each further failure
  (1, 2, 4 ... up to ``LOGIN_IP_MAX_DELAY_SECONDS``); others get 429 ``SLOW_DOWN``. One
  client behind an office NAT can so slow its neighbours down, never shut them out.

Atomic under parallel bursts: a place is *reserved* (``add`` + ``incr``) before the password
or code is checked, and given back when the check succeeds, so at most the threshold of
checks run in a window however many requests arrive at once. Checking first and counting the
failure afterwards - what django-axes does - lets every request of a burst through the check.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from accounts import counters
from accounts.blocked import LOCKOUT_KEY_PREFIX, _digest, throttle_index_record
from config.exceptions import RateLimitedError

# Caps the doubling of the per-IP delay (2**16 s is far past any sane maximum).
_MAX_DELAY_EXPONENT = 16


def _account_key(account: str) -> str:
    return f"{LOCKOUT_KEY_PREFIX}account:{_digest(account)}"


def _ip_key(ip: str) -> str:
    return f"{LOCKOUT_KEY_PREFIX}ip:{ip}"


def _window() -> int:
    return int(settings.LOGIN_LOCKOUT_SECONDS)


def _refuse(code: str, message: str, retry_after: int) -> RateLimitedError:
    return RateLimitedError(
        f"{message} Try again in {retry_after} seconds.",
        code=code,
        details={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def _locked(retry_after: int) -> RateLimitedError:
    return _refuse("LOCKED_OUT", "Too many failed attempts.", retry_after)


def _ip_delay(excess: int) -> int:
    """The pause after the ``excess``-th check past the per-IP threshold (0 = at it)."""
    cap = max(1, int(settings.LOGIN_IP_MAX_DELAY_SECONDS))
    return min(cap, 2 ** min(max(0, excess), _MAX_DELAY_EXPONENT))


@dataclass
class CredentialAttempt:
    """The places one check holds; :meth:`fail` keeps them as failures."""

    account_key: str | None
    account_count: int
    ip_key: str | None
    failed: bool = False

    def fail(self) -> bool:
        """Count this check as a failure; returns whether it locked the account."""
        self.failed = True
        if self.account_key is None:
            return False
        if self.account_count < int(settings.LOGIN_LOCKOUT_THRESHOLD):
            return False
        window = _window()
        # The counter is left alone: clearing it would hand its places to checks already
        # past the lock test. Its window (opened by the first failure) ends before the lock.
        counters.flag_set(f"{self.account_key}:until", seconds=window)
        throttle_index_record(
            key=f"{self.account_key}:until",
            scope="login_lockout",
            ident=self.account_key.rsplit(":", 1)[-1],
            window=window,
            lock=True,
            count=self.account_count,
        )
        return True

    def release(self) -> None:
        """Give the places back: the check succeeded (or never ran)."""
        for key in (self.account_key, self.ip_key):
            if key is not None:
                counters.window_release(key)


def _ip_reserve(ip: str, window: int) -> str:
    """Take the IP's place for one check, or raise 429 ``SLOW_DOWN``; returns the key."""
    key = _ip_key(ip)
    threshold = max(1, int(settings.LOGIN_IP_FAILURE_THRESHOLD))
    count = counters.window_hit(key, window=window)
    if count < threshold:
        return key
    # From the threshold on, a check needs the gate, which one caller at a time takes (add)
    # and which stays closed for the delay: a burst stops at exactly the threshold.
    gate = f"{key}:gate"
    if counters.flag_take(gate, seconds=_ip_delay(count - threshold)):
        return key
    counters.window_release(key)
    throttle_index_record(key=key, scope="login_ip_failures", ident=ip, window=window)
    retry_after = max(1, counters.flag_retry_after(gate))
    raise _refuse("SLOW_DOWN", "Too many failed attempts from your network.", retry_after)


@contextmanager
def credential_attempt(*, account: str | None, ip: str | None) -> Iterator[CredentialAttempt]:
    """Run one password or code check under the lock-out rules.

    Raises 429 before the check when the account is locked or the IP must wait. Inside the
    block call ``attempt.fail()`` when the check fails; otherwise the places are given back.
    """
    window = _window()
    account_key = None
    account_count = 0
    if account:
        account_key = _account_key(account)
        retry_after = counters.flag_retry_after(f"{account_key}:until")
        if retry_after:
            raise _locked(retry_after)
        admitted, account_count = counters.window_admit(
            account_key, limit=int(settings.LOGIN_LOCKOUT_THRESHOLD), window=window
        )
        if not admitted:
            # Every place is taken by failures or by checks still running.
            raise _locked(counters.window_retry_after(account_key, window=window))
    try:
        ip_key = _ip_reserve(ip, window) if ip else None
    except RateLimitedError:
        if account_key is not None:
            counters.window_release(account_key)
        raise
    attempt = CredentialAttempt(account_key=account_key, account_count=account_count, ip_key=ip_key)
    try:
        yield attempt
    finally:
        if not attempt.failed:
            attempt.release()


def lockout_reset(*, account: str | None) -> None:
    """A successful login clears the account's failure count (not the IP's)."""
    if account:
        counters.window_clear(_account_key(account))


def lockout_clear(*, account: str | None = None, ip: str | None = None) -> int:
    """Admin unblock: lift the account lock and the IP slow-down, clear their counts.

    Returns how many locks or slow-downs were in force.
    """
    lifted = 0
    if account:
        key = _account_key(account)
        lifted += int(counters.flag_clear(f"{key}:until"))
        counters.window_clear(key)
    if ip:
        key = _ip_key(ip)
        slowed = counters.window_count(key) >= int(settings.LOGIN_IP_FAILURE_THRESHOLD)
        lifted += int(counters.flag_clear(f"{key}:gate") or slowed)
        counters.window_clear(key)
    return lifted
