"""Up-front checks of the command lines' arguments (rsc.train, rsc.eval, rsc.results): a bad value
is one usage line (exit 2) before any work, not a traceback after minutes of it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable


def require(p: argparse.ArgumentParser, checks: Iterable[tuple[bool, str]]) -> None:
    """p.error with the message of the first check that does not hold."""
    for ok, message in checks:
        if not ok:
            p.error(message)


def files(*paths) -> list[tuple[bool, str]]:
    return [(Path(f).is_file(), f"{f}: no such file") for f in paths if f]


def smoothing(args, *names: str) -> list[tuple[bool, str]]:
    """Checks of the named pass counts (>= 1), alpha in (0, 1) and threads >= 0."""
    out = [(getattr(args, n) >= 1, f"--{n.replace('_', '-')} must be >= 1, got "
                                    f"{getattr(args, n)}") for n in names]
    out.append((0 < args.alpha < 1, f"--alpha must lie in (0, 1), got {args.alpha}"))
    out.append((args.threads >= 0, f"--threads must be >= 0 (0: all), got {args.threads}"))
    return out
