"""The idle timeout of a model stream: one timer per idle period, not one per token."""

import asyncio


class IdleWatchdog:
    """Cancels the reading task when it has waited ``idle`` seconds for one line.

    ``asyncio.timeout`` per line scheduled (and cancelled) a timer for every token: with a
    thousand streams, a fifth of the event loop's time (profiled). This arms one timer per
    idle period: each line only stamps ``last``; when the timer fires early it re-arms.
    """

    __slots__ = ("fired", "handle", "idle", "last", "loop", "task", "waiting")

    def __init__(self, idle: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.idle = idle
        self.last = self.loop.time()
        self.waiting = False
        self.fired = False
        self.handle = self.loop.call_at(self.last + idle, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        if self.waiting and now - self.last >= self.idle and self.task is not None:
            self.fired = True
            self.task.cancel()
            return
        # Not waiting (the consumer holds the stream) or a line came since: look again later.
        start = self.last if self.waiting else now
        self.handle = self.loop.call_at(start + self.idle, self._check)

    def absorb(self) -> None:
        """The cancellation was this watchdog's own: the task is not being cancelled."""
        if self.task is not None:
            self.task.uncancel()

    def close(self) -> None:
        self.handle.cancel()
