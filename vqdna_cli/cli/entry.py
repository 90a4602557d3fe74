"""The `vqdna` command's entry point. The CLI's modules (Typer, every command's options) take a
moment to load: a Ctrl-C then is one line and exit 130, as it is later, not a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from vqdna_cli.cli.app import main as run
    except KeyboardInterrupt:
        sys.stderr.write("vqdna: error: interrupted\n")
        sys.exit(130)
    run()
