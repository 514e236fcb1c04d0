"""Standard output that holds only a command's result (``run --json``, ``plan --json``).

Scripts print: native scripts (``gcc --version``, pip), and ``customize.py`` hooks with
``print``. When a command's output is a document for another program, nothing else may reach
standard output, so while the command works, file descriptor 1 is a duplicate of 2 (the
processes it starts inherit that) and Python's ``sys.stdout`` is ``sys.stderr``; the result
is written to the original standard output.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

from .main import Context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TextIO

__all__ = ["json_stdout"]


def _writes_to_fd1(stream: TextIO) -> bool:
    try:
        return stream.fileno() == 1
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: a StringIO
        return False


@contextlib.contextmanager
def json_stdout(ctx: Context) -> Iterator[Context]:
    """While the body runs, send whatever is written to standard output to standard error;
    the context it gets writes its ``out`` to the original standard output."""
    for stream in (ctx.out, sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output to speak of: nothing to keep apart
        yield ctx
        return
    try:
        os.dup2(2, 1)
    except OSError:  # no standard error: leave standard output as it is
        os.close(saved)
        yield ctx
        return
    out: TextIO = ctx.out
    if _writes_to_fd1(ctx.out):
        out = io.TextIOWrapper(
            io.FileIO(os.dup(saved), "w"),
            line_buffering=True,
            encoding=getattr(ctx.out, "encoding", None) or "utf-8",
            errors=getattr(ctx.out, "errors", None) or "strict",
        )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield Context(out, ctx.err, ctx.reporter)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        if out is not ctx.out:
            out.close()
        os.dup2(saved, 1)
        os.close(saved)
