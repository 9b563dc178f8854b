"""Graceful stop: on SIGTERM or SIGINT the process says it is not ready (/readyz 503) at once, keeps
serving for the drain period (while load balancers and Kubernetes endpoints stop sending it traffic),
and only then hands the signal to uvicorn, which stops accepting, finishes the requests in flight and
runs the lifespan's shutdown (where the usage writers flush before the database pool closes)."""

from __future__ import annotations

import logging
import signal
import threading
import time

from axops.core.logging import event

log = logging.getLogger("axops.lifecycle")
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Lifecycle:
    """Per process; `draining` is what /readyz reads."""

    def __init__(self) -> None:
        self.draining = False
        self.since: float | None = None
        self._previous: dict[int, object] = {}

    def install(self, drain_seconds: float) -> bool:
        """Wrap the server's signal handlers (uvicorn installs them before the lifespan starts).
        Only the main thread may; elsewhere (a test's server in a thread) nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue
            self._previous[sig] = previous
            signal.signal(sig, self._handler(previous, drain_seconds))
        return bool(self._previous)

    def uninstall(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _handler(self, previous, drain_seconds: float):
        forwarded = threading.Lock()  # the drain timer and a second signal: only one passes it on first

        def forward(sig: int, frame) -> None:
            if forwarded.acquire(blocking=False):
                previous(sig, frame)

        def handle(sig: int, frame) -> None:
            if self.draining or drain_seconds <= 0:  # a second signal, or no drain: stop now
                self.start_draining(sig)
                forwarded.acquire(blocking=False)  # the timer must not pass it on again (Ctrl-C twice: force)
                previous(sig, frame)
                return
            self.start_draining(sig)
            # A timer thread, not the event loop: a signal handler must return at once.
            timer = threading.Timer(drain_seconds, forward, (sig, None))
            timer.daemon = True
            timer.start()

        return handle

    def start_draining(self, sig: int | None = None) -> None:
        if not self.draining:
            self.draining, self.since = True, time.monotonic()
            event(log, "server.draining", logging.INFO, signal=signal.Signals(sig).name if sig else None)


lifecycle = Lifecycle()
