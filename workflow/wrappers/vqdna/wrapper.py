"""Snakemake wrapper for vqdna: `tokenize`, `embed` or `classify` one input into one output."""

__author__ = "vqdna developers"
__license__ = "MIT"

import os
import shlex

from snakemake.shell import shell

COMMANDS = ("tokenize", "embed", "classify")

command = snakemake.params.command  # noqa: F821
if command not in COMMANDS:
    raise ValueError(f"params.command must be one of {', '.join(COMMANDS)}, not {command!r}")
extra = snakemake.params.get("extra", "")  # noqa: F821
# quoted, as the input and output are (log_fmt_shell writes the path bare: a space split it)
log = f"2> {shlex.quote(str(snakemake.log[0]))}" if snakemake.log else ""  # noqa: F821

if command == "classify":
    # `classify -o TABLE` also writes TABLE.json (what made TABLE) and, like the table, refuses
    # to replace one that exists. Snakemake removes a job's declared outputs before running
    # it, so a TABLE.json still here is the stale sidecar of the table it has just removed
    # (one the rule did not declare as an output): it goes too, or every rerun would fail.
    sidecar = f"{snakemake.output[0]}.json"  # noqa: F821
    if os.path.isfile(sidecar) and sidecar not in {str(path) for path in snakemake.input}:  # noqa: F821
        os.remove(sidecar)

shell(
    "vqdna {command} {snakemake.input[0]:q} -o {snakemake.output[0]:q}"
    " --threads {snakemake.threads} {extra} {log}"
)
