"""Python functions per value (HTML -> Markdown, langdetect) over a column, on every core.

These are the only checks that run Python per row: Polars cannot run them, and one process uses
one core. ``map_values`` cuts the values into small pieces. Helper processes take pieces from the
front, this process takes them from the back, until they meet; so a helper that is still
starting never delays a batch, and the result is the same list, in order, whatever ran where.
The functions must be pure and importable by name (module-level functions, or
``functools.partial`` of them).

A helper is ``python -m curation.rowmap`` talking pickles over its stdin/stdout: not a
``multiprocessing`` pool, which would re-import the caller's ``__main__`` script in each worker
(or fork this process with its Polars threads mid-flight). Helpers start once per process, in the
background, and exit when this process does.

``CURATION_WORKERS``: processes to use in all, this one included (default: the CPUs this process
may run on; 1 turns the helpers off).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

try:
    import fcntl
except ImportError:  # Windows: no helpers (select() cannot wait on pipes there)
    fcntl = None

WORKERS_ENV = "CURATION_WORKERS"
#: At most this many values per piece: a piece (a pickle of a few strings, ~0.1 ms there and
#: back) costs little next to converting them (~1 ms a value, langdetect ~3 ms).
PIECE_VALUES = 16
#: Pieces sent to a helper ahead of its replies.
IN_FLIGHT = 2
#: Pipe size asked for (Linux), so that the pieces in flight fit.
PIPE_BYTES = 2**20
#: Pieces per process at least, so that the two ends meet close to the middle.
PIECES_PER_PROCESS = 4
_HEADER = struct.Struct("<Q")


def worker_count() -> int:
    """Processes to use, this one included (``CURATION_WORKERS`` or the CPUs available; 1 on Windows)."""
    if fcntl is None:
        return 1
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            return max(int(value), 1)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} must be a whole number, not {value!r}") from None
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# --------------------------------------------------------------------------- the helper's side


def _send(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:  # an unbuffered pipe may take part of it
        view = view[stream.write(view) :]
    stream.flush()


def _read_exact(stream, size: int) -> bytes:
    data = bytearray(size)
    view, got = memoryview(data), 0
    while got < size:
        count = stream.readinto(view[got:])
        if not count:
            raise EOFError("the other side closed the pipe")
        got += count
    return bytes(data)


def _receive(stream):
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return pickle.loads(_read_exact(stream, size))


def _serve() -> None:
    """A helper's loop: ``(function, values)`` in, ``("ok", results)`` or ``("error", exception)`` out."""
    import signal
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle; it closes our pipe
    warnings.simplefilter("ignore")  # the caller's terminal is not the place (e.g. bs4's hints)
    # The converters this package hands out, ready before the first piece arrives.
    import curation.text.html_markdown  # noqa: F401
    from curation.text.langdetect_batch import profiles

    profiles()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the pipe
    _send(replies, "ready")
    while True:
        try:
            function, values = _receive(requests)
        except EOFError:
            return
        try:
            reply = ("ok", [function(value) for value in values])
        except BaseException as error:  # noqa: BLE001 - handed back and raised by the caller
            reply = ("error", error)
        _send(replies, reply)


# --------------------------------------------------------------------------- the caller's side


class _Helper:
    """One helper process; ``ready`` is set once it has imported the converters."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.busy = threading.Lock()  # one caller at a time on its pipes
        self.alive = True
        self.values_done = 0  # values it converted (for timings and tests)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "curation.rowmap"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # unbuffered: a reply is there when select says so, not in a read-ahead buffer
            # A helper does no linear algebra: one BLAS thread, not numpy's pool spinning up at import
            # (0.15 s of CPU measured, taken from the cheap filters that run meanwhile).
            env={"OPENBLAS_NUM_THREADS": "1", **os.environ, WORKERS_ENV: "1", "PYTHONPATH": _python_path()},
        )
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room for the pieces in flight, so a send never waits
            for stream in (self.process.stdin, self.process.stdout):
                with contextlib.suppress(OSError):
                    fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        threading.Thread(target=self._wait_ready, name="rowmap-start", daemon=True).start()

    def _wait_ready(self) -> None:
        global _start_failed
        try:
            self.alive = _receive(self.process.stdout) == "ready"
        except (EOFError, OSError, pickle.UnpicklingError):
            self.alive = False
        if not self.alive:
            _start_failed = True  # it cannot start here (its error is on stderr): do not try again
        self.ready.set()

    def has_reply(self) -> bool:
        return bool(select.select([self.process.stdout], [], [], 0)[0])

    def close(self) -> None:
        self.alive = False
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


def _python_path() -> str:
    """The folder this package is imported from first, so ``-m curation.rowmap`` finds the same code."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])


_helpers: list[_Helper] = []
_owner: int | None = None  # the pid that started them (a forked child must start its own)
_lock = threading.Lock()
_start_failed = False  # a helper died before it was ready: this process runs everything itself


def warm_up() -> list[_Helper]:
    """Start the helpers now if they are not running (e.g. while cheap filters run); returns them."""
    global _helpers, _owner
    with _lock:
        if _owner != os.getpid():
            _helpers, _owner = [], os.getpid()
        wanted = 0 if _start_failed else worker_count() - 1
        _helpers = [h for h in _helpers if h.alive]
        while len(_helpers) < wanted:
            _helpers.append(_Helper())
        return list(_helpers)


def shutdown() -> None:
    """Stop the helpers (they also stop when this process exits)."""
    global _helpers
    if _owner == os.getpid():
        for helper in _helpers:
            helper.close()
    _helpers = []


atexit.register(shutdown)


def _picklable(function: Callable) -> bool:
    try:
        pickle.dumps(function)
    except Exception:  # noqa: BLE001 - a lambda or a local function: it runs here
        return False
    return True


class _Batch:
    """One ``map_values`` call: pieces left, pieces in flight per helper, results by start."""

    def __init__(self, function: Callable, values: Sequence, helpers: list[_Helper]):
        self.function = function
        size = max(1, min(PIECE_VALUES, len(values) // (PIECES_PER_PROCESS * (len(helpers) + 1))))
        self.pieces = collections.deque((i, values[i : i + size]) for i in range(0, len(values), size))
        self.helpers = helpers
        self.sent: dict[_Helper, collections.deque] = {h: collections.deque() for h in helpers}
        self.results: dict[int, list] = {}
        self.error: BaseException | None = None

    def pump(self, wait: bool = False) -> None:
        """Read the replies that are there (with ``wait``, first wait for one), and keep each helper
        ``IN_FLIGHT`` pieces ahead."""
        if wait:
            select.select([h.process.stdout for h in self.helpers if h.alive and self.sent[h]], [], [])
        for helper in self.helpers:
            sent = self.sent[helper]
            while helper.alive and sent and helper.has_reply():
                try:
                    status, payload = _receive(helper.process.stdout)
                except (EOFError, OSError, pickle.UnpicklingError):
                    self._lost(helper)
                    break
                start, _ = sent.popleft()
                if status == "error":
                    self.error = self.error or payload
                else:
                    self.results[start] = payload
                    helper.values_done += len(payload)
            while helper.alive and self.error is None and len(sent) < IN_FLIGHT and self.pieces:
                piece = self.pieces.popleft()
                sent.append(piece)
                try:
                    _send(helper.process.stdin, (self.function, list(piece[1])))
                except OSError:
                    self._lost(helper)

    def _lost(self, helper: _Helper) -> None:
        """A helper died: its pieces in flight come back here."""
        helper.alive = False
        self.pieces.extendleft(reversed(self.sent[helper]))
        self.sent[helper].clear()

    def in_flight(self) -> bool:
        return any(self.sent[h] for h in self.helpers if h.alive)

    def run(self) -> list:
        # This process takes its first piece before the helpers get theirs: with few pieces, the
        # helpers' pieces in flight would otherwise be all of them, and this process would only wait.
        mine = self.pieces.pop() if self.pieces else None
        self.pump()
        while True:
            if mine is None and self.pieces and self.error is None:
                mine = self.pieces.pop()  # from the back; helpers take from the front
            if mine is not None:
                (start, chunk), mine = mine, None
                try:
                    out = []
                    for value in chunk:
                        out.append(self.function(value))
                        self.pump()  # between values: a helper never waits long for its next piece
                    self.results[start] = out
                except Exception as error:  # noqa: BLE001 - raised below, once the helpers are in step
                    self.error = error
            elif self.in_flight():
                self.pump(wait=True)  # the rest is with the helpers (or replies to read after an error)
            else:
                break
        if self.error is not None:
            raise self.error
        return [value for start in sorted(self.results) for value in self.results[start]]


def map_values(function: Callable, values: Sequence) -> list:
    """``[function(v) for v in values]``, shared with the helper processes when there are several values.

    This process converts values from the back and, between two values, reads the helpers'
    replies and sends them the next pieces from the front: one thread, so no helper waits for
    this process's GIL.
    """
    helpers = warm_up() if len(values) > 1 and _picklable(function) else []
    ready = [h for h in helpers if h.ready.is_set() and h.alive and h.busy.acquire(blocking=False)]
    if not ready:  # none yet (still starting: the next batch finds them), or all serving another call
        return [function(value) for value in values]
    batch = _Batch(function, values, ready)
    try:
        return batch.run()
    except BaseException:
        for helper in ready:
            if batch.sent[helper]:  # replies still due: out of step with its pipe, not used again
                helper.alive = False
                helper.process.kill()
        raise
    finally:
        for helper in ready:
            helper.busy.release()


if __name__ == "__main__":
    _serve()
