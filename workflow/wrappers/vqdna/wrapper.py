"""Snakemake wrapper for vqdna: `tokenize`, `embed` or `classify` one input into one output."""

__author__ = "vqdna developers"
__license__ = "MIT"

from snakemake.shell import shell

COMMANDS = ("tokenize", "embed", "classify")

command = snakemake.params.command  # noqa: F821
if command not in COMMANDS:
    raise ValueError(f"params.command must be one of {', '.join(COMMANDS)}, not {command!r}")
extra = snakemake.params.get("extra", "")  # noqa: F821
log = snakemake.log_fmt_shell(stdout=False, stderr=True)  # noqa: F821

shell(
    "vqdna {command} {snakemake.input[0]:q} -o {snakemake.output[0]:q}"
    " --threads {snakemake.threads} {extra} {log}"
)
