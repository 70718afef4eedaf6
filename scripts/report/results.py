"""``docs/results.md``, written by the benchmarks: each benchmark replaces its own section
(:mod:`stateful_rl.docs_sections`) with the table it printed, the command that produced it,
the date and the machine's CPU count. Every benchmark takes ``--results-md PATH`` (default
``docs/results.md``, relative to the current directory: run benchmarks from the repository
root) and ``--no-results-md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from stateful_rl.docs_sections import write_section

DEFAULT_PATH = Path("docs/results.md")


def add_results_arguments(parser: argparse.ArgumentParser) -> None:
    """``--results-md PATH`` and ``--no-results-md`` (sets ``args.results_md`` to None)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--results-md", type=Path, default=DEFAULT_PATH, metavar="PATH",
        help=f"replace this benchmark's section of this markdown file (default {DEFAULT_PATH})",
    )  # fmt: skip
    group.add_argument(
        "--no-results-md", dest="results_md", action="store_const", const=None,
        help="print only; write no results file",
    )  # fmt: skip


def command_line() -> str:
    """The command that is running, as a user would type it: ``python -m MODULE ARGS`` for a
    module, or the ``stateful-rl bench NAME`` program name the CLI sets."""
    program = sys.argv[0]
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if program.endswith(".py"):
        program = f"python -m {spec.name}" if spec is not None else f"python {program}"
    return " ".join([program, *map(shlex.quote, sys.argv[1:])])


def write_results(path: Path | None, key: str, title: str, text: str) -> None:
    """Replace section ``key`` of ``path`` (nothing if None) with a ``title`` heading, the
    command line, today's date, the CPU count, and ``text`` (markdown)."""
    if path is None:
        return
    stamp = f"`{command_line()}` · {datetime.date.today().isoformat()} · {os.cpu_count()} CPUs"
    write_section(path, key, f"### {title}\n{stamp}\n\n{text.strip()}")
    print(f"wrote section {key!r} of {path}", file=sys.stderr)


class _Tee(io.StringIO):
    """Keeps what is printed and passes it on to ``stream``."""

    def __init__(self, stream: io.TextIOBase) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text)
        return super().write(text)

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def recorded(path: Path | None, key: str, title: str) -> Iterator[None]:
    """Print as usual inside the block; if it ends without an error, what it printed becomes
    section ``key`` (see :func:`write_results`)."""
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        yield
    write_results(path, key, title, tee.getvalue())
