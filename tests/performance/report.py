"""One table for a ``make bench`` run: every figure a benchmark measured, with its ratio.

A benchmark records each figure as it measures it::

    from tests.performance.report import record

    record("rest", "users/me on gunicorn", 1630.0, "req/s", ratio=0.81)
    record("rest", "users/me on gunicorn p99", 21.4, "ms")

``ratio`` is the figure against the baseline the benchmark measured in the same run (say what
the baseline is in ``figure`` or ``note``); leave it ``None`` when the figure has none. The
``pytest_terminal_summary`` hook in ``tests/performance/conftest.py`` prints all recorded rows as
one table at the end of the session, in the order they were recorded, whether the benchmarks
passed or failed. Figures live only in this process: nothing is written to disk.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    benchmark: str
    figure: str
    value: float
    unit: str
    ratio: float | None = None
    note: str = ""


_FIGURES: list[Figure] = []


def record(
    benchmark: str,
    figure: str,
    value: float,
    unit: str,
    ratio: float | None = None,
    note: str = "",
) -> None:
    """Add one measured figure (and its ratio to the same run's baseline) to the session table."""
    _FIGURES.append(Figure(benchmark, figure, float(value), unit, ratio, note))


def figures() -> list[Figure]:
    """The figures recorded so far, in order."""
    return list(_FIGURES)


def _format_value(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Figure] | None = None) -> str:
    """The figures as a fixed-width text table (empty string when nothing was recorded)."""
    rows = figures() if rows is None else rows
    if not rows:
        return ""
    header = ("benchmark", "figure", "value", "unit", "ratio", "note")
    cells = [
        (
            row.benchmark,
            row.figure,
            _format_value(row.value),
            row.unit,
            "" if row.ratio is None else f"{row.ratio:.2f}",
            row.note,
        )
        for row in rows
    ]
    widths = [max(len(header[i]), *(len(c[i]) for c in cells)) for i in range(len(header))]
    right = {2, 4}  # numbers line up on the right

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(c) for c in cells)])
