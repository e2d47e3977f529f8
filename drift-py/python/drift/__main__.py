"""``python -m drift`` and the ``drift`` console script: the Rust ``drift`` command itself
(``serve``, ``pub``, ``sub``, ``token``, ``bench``, with every option of the binary), run from
the extension module."""

from __future__ import annotations

import signal
import sys

from drift import _drift


def main() -> None:
    # The command handles SIGINT and SIGTERM itself (serve and sub stop
    # cleanly, with status 0); Python's own handler would raise
    # KeyboardInterrupt once it returns.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(_drift.cli(["drift", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
