"""`tokenize`: HRQ token IDs of every record into one ragged `.npz`."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from vqdna_cli.api._common import NO_PROGRESS, keeps_global_state, load_runner, open_records
from vqdna_cli.options import TOKENIZE_BATCH_TOKENS, InputSpec, RunOptions, expect, expect_callable, expect_input


@keeps_global_state
def tokenize(inputs: InputSpec, output: Path, run: RunOptions = RunOptions(), *, compress: bool = True,
             force: bool = False, progress=NO_PROGRESS) -> dict:
    """Read `inputs`, tokenize every record, write `io.tokens_npz.TokensNpz` to `output`."""
    from vqdna_cli.runner import tokenize_records
    from vqdna_cli.io.tokens_npz import TokensNpz
    from vqdna_cli.io.writers import check_output

    expect_input("inputs", inputs), expect("run", run, RunOptions), expect("output", output, (str, PathLike))
    expect("force", force, bool), expect("compress", compress, bool), expect_callable("progress", progress)
    check_output(output, force, inputs.paths, binary=True)
    runner = load_runner(run, transformer=False)
    with TokensNpz(runner.levels, output) as table:
        table.add_all(tokenize_records(runner, open_records(inputs), run.tokens_per_batch(TOKENIZE_BATCH_TOKENS),
                                       progress))
        metadata = {**runner.describe(transformer=False), **inputs.describe(),
                    "encoder_context_bases": runner.model.cfg.encoder.receptive_radius}
        return table.write(output, metadata, compress)
