"""`mutations`: variants against a reference and what each does to the HRQ tokens."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from vqdna_cli.api._common import NO_PROGRESS, keeps_global_state, load_runner
from vqdna_cli.options import MutationsOptions, RunOptions, expect, expect_callable, one_or_more


@keeps_global_state
def mutations(inputs: list[str] | str, output_dir: Path, options: MutationsOptions, run: RunOptions = RunOptions(), *,
              force: bool = False, progress=NO_PROGRESS, on_stage=lambda label, total=None: None) -> dict:
    """Variants of genomes (FASTA), reads (BAM/CRAM) or VCFs against `options.reference`, and
    what each does to the HRQ tokens, into `output_dir` (see `vqdna_cli.mutations`). Returns
    counts, the lineage scores, and `notices` (e.g. a plot skipped) for the caller to show.
    `vcf` adds variants.vcf; `vcf_gz` variants.vcf.gz (bgzip) and its tabix index instead.
    `progress` takes the bases of the inputs as they are called; `on_stage(label, total)` the
    name of each scoring pass that follows and its amount (bases or tokens; None: not counted),
    which `progress` then counts."""
    from vqdna_cli.mutations.pipeline import run as run_pipeline

    expect("options", options, MutationsOptions), expect("run", run, RunOptions)
    expect("output_dir", output_dir, (str, PathLike)), expect("force", force, bool)
    expect_callable("progress", progress), expect_callable("on_stage", on_stage)
    return run_pipeline(list(one_or_more(inputs, "inputs")), Path(output_dir), options, runner_factory=lambda: load_runner(run),
                        batch_tokens=run.tokens_per_batch(), force=force, progress=progress, on_stage=on_stage)
