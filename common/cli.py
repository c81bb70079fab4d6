"""Running a command: a user's error becomes one line and exit status 2, Ctrl-C says how to go on."""

from __future__ import annotations

import sys
from collections.abc import Callable

from common.errors import UserError


def run_cli(main: Callable[[list[str]], object],
            on_interrupt: str = "interrupted; run the same command with --resume to continue") -> None:
    """Call ``main(argv)``; user errors become one ``error:`` line and exit status 2, Ctrl-C prints
    ``on_interrupt`` (how to continue) and exits 130."""
    try:
        main(sys.argv[1:])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(on_interrupt, file=sys.stderr)
        sys.exit(130)
