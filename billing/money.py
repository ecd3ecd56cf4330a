"""Money as integers: minor units (cents), never floats.

Prorations and overage are computed with integer arithmetic and rounded **half up** to the
minor unit, each line on its own (the invoice total is the sum of its rounded lines):

- a proration of ``price`` over the unused part of a period is
  ``round_half_up(price * remaining_seconds / period_seconds)``, with whole seconds;
- overage is ``round_half_up(tokens * price_per_1k / 1000)``.
"""

import calendar
import datetime as dt

from billing.models import PlanInterval


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up (away from zero for halves), in integers."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return sign * quotient


def prorate(
    *, price_minor: int, period_start: dt.datetime, period_end: dt.datetime, at: dt.datetime
) -> int:
    """The part of ``price_minor`` that covers ``[at, period_end)`` of the period."""
    total = int((period_end - period_start).total_seconds())
    if total <= 0:
        return 0
    remaining = int((period_end - at).total_seconds())
    remaining = max(0, min(remaining, total))
    return round_half_up(price_minor * remaining, total)


def overage_amount(*, tokens: int, price_per_1k_minor: int) -> int:
    return round_half_up(max(0, tokens) * price_per_1k_minor, 1000)


def add_interval(start: dt.datetime, interval: str, count: int = 1) -> dt.datetime:
    """``start`` plus whole months or years; the day is clamped to the month's last day
    (31 January + 1 month = 28/29 February)."""
    months = count * (12 if interval == PlanInterval.YEAR else 1)
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def format_minor(amount_minor: int, currency: str) -> str:
    """``1234, "EUR"`` -> ``"12.34 EUR"`` (two decimals; zero-decimal currencies as they are)."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return f"{amount_minor} {currency.upper()}"
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{whole}.{cents:02d} {currency.upper()}"


# Currencies whose minor unit is the unit itself (Stripe's list, the common ones).
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})
