"""Holding back a stop (Ctrl-C, `kill`, a closed terminal) while a pair of files is written.

Weights and checkpoints are a tensors file and the JSON that holds its hash, each replaced
atomically but one after the other: a stop between the two would leave a pair that does not
match, and the earlier pair already gone (a run that cannot be resumed). The stop is acted
on as soon as the pair is complete.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Within the block, a stop signal is noted instead of handled; on leaving it, the first
    one noted is raised again, for the handler that was in place (vqdna's, or the default)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    noted: list[int] = []
    handlers = {stop: signal.getsignal(stop) for stop in STOPS}
    for stop, handler in handlers.items():
        if handler is not signal.SIG_IGN and handler is not None:  # nohup's ignored SIGHUP stays ignored
            signal.signal(stop, lambda signum, frame: noted.append(signum))
    try:
        yield
    finally:
        for stop, handler in handlers.items():
            if handler is not None:
                signal.signal(stop, handler)
        if noted:
            signal.raise_signal(noted[0])
