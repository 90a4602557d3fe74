"""Generate the man pages in man/ from the Typer app, so they cannot drift from --help.

    python scripts/make_man.py            # write man/vqdna.1 and man/vqdna-<command>.1
    python scripts/make_man.py --check    # exit 1 if man/ differs from what would be written
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import typer.main

from vqdna_cli import __version__
from vqdna_cli.cli.app import app
from vqdna_cli.cli.handling import HUNG_UP, INTERRUPTED, TERMINATED
from vqdna_cli.errors import InputError, ModelError, OutputError, UsageError, VqdnaError

MAN_DIR = Path(__file__).resolve().parent.parent / "man"
DATE = "2026-11"  # fixed, so regenerating gives identical files; bump with releases


# The same on every page: the codes come from the error classes, so they cannot drift.
EXIT_STATUS = [
    ("0", "Success (also when the reader of standard output goes away early, as with | head)."),
    (str(VqdnaError.exit_code), "An error the one-line message explains that none of the codes below covers, "
                                "such as torchrun starting more processes on a machine than it has GPUs, or a "
                                "training run whose loss stopped being a number (it diverged)."),
    (str(UsageError.exit_code), "A usage error: an unknown or missing option or a bad option value, found by the "
                                "command-line parser or by vqdna; or an input error: input that is missing, "
                                "unreadable or malformed (the message names the record and position)."),
    (str(ModelError.exit_code), "A weights directory (or task head) that is missing, corrupted or incompatible."),
    (str(OutputError.exit_code), "An output that cannot or must not be written (it exists without --force, "
                                 "or its folder is missing)."),
    (str(HUNG_UP), "Hung up (SIGHUP: its terminal or ssh session closed), as with Ctrl-C; a run under nohup, "
                   "screen or tmux goes on."),
    (str(INTERRUPTED), "Interrupted (Ctrl-C); no partial output is left behind (training keeps its checkpoint "
                       "and log, for --resume)."),
    (str(TERMINATED), "Terminated (kill, SIGTERM), as with Ctrl-C: no partial output is left behind (training keeps "
                      "its checkpoint and log, for --resume)."),
]
assert InputError.exit_code == UsageError.exit_code, "EXIT_STATUS describes them together"
ENVIRONMENT = [
    ("VQDNA_WEIGHTS", "The weights directory used when --model is not given (default: the weights shipped "
                      "with vqdna)."),
    ("VQDNA_DATA", "Where the real data lives for the test suite's data tests and scripts/train_weights.sh "
                   "(default: ../shared/data beside the repository); the commands themselves do not read it."),
]


def _definitions(title: str, items: list[tuple[str, str]]) -> list[str]:
    lines = [f".SH {title}"]
    for term, text in items:
        lines += [".TP", f"\\fB{_escape(term)}\\fR", _escape(text)]
    return lines


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("-", "\\-").replace("'", "\\(aq")


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in (text or "").strip().split("\n\n") if p.strip()]


def _option_lines(command, ctx) -> list[str]:
    lines = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        lines += [".TP", f"\\fB{_escape(names)}\\fR", _escape(help_text)]
    return lines


def _page(name: str, command, ctx, subcommands: dict) -> str:
    paragraphs = _paragraphs(command.help or "")
    summary = paragraphs[0] if paragraphs else name
    lines = [
        f'.TH "{name.upper()}" "1" "{DATE}" "vqdna {__version__}" "vqdna manual"',
        ".SH NAME", f"{_escape(name)} \\- {_escape(summary)}",
        ".SH SYNOPSIS", f"\\fB{_escape(name.replace('-', ' '))}\\fR {_escape(' '.join(command.collect_usage_pieces(ctx)))}",
    ]
    description = [p for p in paragraphs[1:] if not p.startswith("Example:")]
    if description:
        lines.append(".SH DESCRIPTION")
        for paragraph in description:
            lines += [".PP", _escape(paragraph)]
    if subcommands:
        lines.append(".SH COMMANDS")
        for sub_name, sub in subcommands.items():
            lines += [".TP", f"\\fB{_escape(sub_name)}\\fR", _escape(sub.get_short_help_str(1000))]  # whole: a man page has room
    options = _option_lines(command, ctx)
    if options:
        lines += [".SH OPTIONS", *options]
    examples = [p[len("Example:"):].strip() for p in paragraphs if p.startswith("Example:")]
    if examples:
        lines.append(".SH EXAMPLES")
        for example in examples:
            lines += [".PP", ".nf", _escape(example), ".fi"]
    lines += _definitions("EXIT STATUS", EXIT_STATUS) + _definitions("ENVIRONMENT", ENVIRONMENT)
    see_also = "the README of the vqdna repository" if name == "vqdna" else "\\fBvqdna\\fR(1)"
    lines += [".SH SEE ALSO", see_also, ""]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    root = typer.main.get_command(app)
    out = {}

    def visit(name: str, command, parent) -> None:
        # The command's own Context class: Typer may bundle its own copy of click.
        # context_settings (the root's -h beside --help) reach the subcommands through `parent`
        ctx = command.context_class(command, info_name=name.split("-")[-1], parent=parent,
                                    **(command.context_settings or {}))
        subcommands = dict(sorted(getattr(command, "commands", {}).items()))
        out[f"{name}.1"] = _page(name, command, ctx, subcommands)
        for sub_name, sub in subcommands.items():
            visit(f"{name}-{sub_name}", sub, ctx)

    visit("vqdna", root, None)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    generated = pages()
    if args.check:
        stale = [n for n, text in generated.items() if not (MAN_DIR / n).is_file() or (MAN_DIR / n).read_text() != text]
        if stale:
            print(f"man pages out of date: {', '.join(stale)}; run python scripts/make_man.py", file=sys.stderr)
            return 1
        return 0
    MAN_DIR.mkdir(exist_ok=True)
    for name, text in generated.items():
        (MAN_DIR / name).write_text(text)
    print(f"wrote {len(generated)} pages to {MAN_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
