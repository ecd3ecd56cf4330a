"""Benchmarks' shared hook: one table of every recorded figure at the end of the session."""

from tests.performance import report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    text = report.table()
    if text:
        terminalreporter.section("benchmark figures (ratios against baselines of the same run)")
        terminalreporter.write_line(text)
