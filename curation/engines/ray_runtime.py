"""Ray as an optional dependency: importing it, a session to run in, and user errors coming back as one line.

Ray is the ``ray`` extra (``pip install 'curation[ray]'``); everything else in the package works
without it. `session` uses the Ray the caller already started, or starts (or joins, with an
address) one for its duration. An error a task raises on bad input (`CurationError`) reaches the
driver wrapped in Ray's own exception types; `user_errors` unwraps it, so ``--engine ray`` prints
the same one line as the local engine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from curation.errors import CurationError

INSTALL_HINT = "pip install 'curation[ray]'"
#: Parse-task retries after a worker dies (Ray Data's stages keep Ray Data's policy: retry until done).
MAX_RETRIES = 3


def require_ray():
    """The ``ray`` module with Ray Data, or a `CurationError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise CurationError(
            f"the ray engine needs Ray Data, which is not installed: install it with {INSTALL_HINT}"
        ) from None
    return ray


@contextmanager
def session(
    address: str | None = None, *, num_cpus: int | None = None, progress: bool = False
) -> Iterator[object]:
    """Run inside Ray: the one already initialised, else a local instance (or the cluster at ``address``).

    A Ray this function starts is shut down on exit. Its tasks get ``POLARS_MAX_THREADS`` = 1 (one
    task per CPU is Ray's unit; Polars in every task using every core would oversubscribe the node;
    ``$CURATION_RAY_POLARS_THREADS`` overrides it) and ``CURATION_WORKERS`` = 1 (no helper
    processes of `curation.rowmap` per task, for the same reason). ``progress`` shows Ray Data's
    progress bars.
    """
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        options: dict = {
            "address": address,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            "runtime_env": {"env_vars": {
                "POLARS_MAX_THREADS": os.environ.get("CURATION_RAY_POLARS_THREADS", "1"),
                "CURATION_WORKERS": "1",
            }},  # fmt: skip
        }
        if address is None and num_cpus is not None:
            options["num_cpus"] = num_cpus
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray instance"
            raise CurationError(f"cannot start or reach Ray at {where}: {str(exc).splitlines()[0]}") from None
        started = True
    context = ray.data.DataContext.get_current()
    quiet = [name for name in ("enable_progress_bars", "print_on_execution_start") if hasattr(context, name)]
    saved = {name: getattr(context, name) for name in quiet}
    for name in quiet:
        setattr(context, name, progress)
    logger = logging.getLogger("ray.data")
    saved_level = logger.level
    if not progress:
        logger.setLevel(logging.WARNING)
    try:
        yield ray
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
        logger.setLevel(saved_level)
        if started:
            ray.shutdown()


def find_user_error(exc: BaseException) -> CurationError | None:
    """The `CurationError` a task raised, found through Ray's wrappers (``cause``, ``__cause__``)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, CurationError) and type(error).__module__.startswith("curation"):
            return error
        for attr in ("cause", "__cause__", "__context__"):
            nested = getattr(error, attr, None)
            if isinstance(nested, BaseException):
                stack.append(nested)
    return None


@contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise a task's `CurationError` as itself (one clean line), anything else unchanged."""
    try:
        yield
    except Exception as exc:
        found = find_user_error(exc)
        if found is None or found is exc:
            raise
        raise found.with_traceback(None) from None
