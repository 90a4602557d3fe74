"""Merge per-shard vqdna outputs into the file one unsharded run would have written.

Arrays are concatenated in shard order and offset arrays rebuilt from the per-record counts;
the metadata is the first shard's with the totals and the original input. Written with the
CLI's own deterministic writer, same members in the same order and the same compression, so
a merged tokens file is byte-identical to an unsharded run's and md5 checks keep working.
"""

import json
import zipfile

import numpy as np

from vqdna_cli.io.writers import TokensNpz, atomic_file, write_npz


def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        return {name: npz[name] for name in npz.files}


def _rebuild_offsets(offsets: list[np.ndarray]) -> np.ndarray:
    """Ragged offsets (each shard's starting at 0) of the concatenated arrays."""
    counts = np.concatenate([np.diff(o) for o in offsets])
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _merge_npz(paths: list[str], output: str, input_name: str, offsets: set[str], totals: tuple[str, ...],
               quick: tuple[str, ...] = ()) -> None:
    shards = [_load(path) for path in paths]
    names = list(shards[0])
    if any(list(shard) != names for shard in shards):
        raise SystemExit(f"cannot merge {', '.join(paths)}: the shards hold different arrays (different options?)")
    metadata = [json.loads(str(shard["metadata"])) for shard in shards]
    merged_metadata = {**metadata[0], "input": input_name, **{key: sum(m[key] for m in metadata) for key in totals}}
    arrays = {name: _rebuild_offsets([s[name] for s in shards]) if name in offsets else np.concatenate([s[name] for s in shards])
              for name in names if name != "metadata"}
    with zipfile.ZipFile(paths[0]) as archive:
        compress = archive.infolist()[0].compress_type == zipfile.ZIP_DEFLATED  # keeps `tokenize --no-compress`
    write_npz(output, arrays, merged_metadata, compress, quick)


def merge_tokens(paths: list[str], output: str, input_name: str) -> None:
    """`vqdna tokenize` shards -> one tokens `.npz`; `input_name` is the unsharded input path."""
    _merge_npz(paths, output, input_name, offsets={"offsets"}, totals=("records", "tokens"), quick=TokensNpz.QUICK)


def merge_embeddings(paths: list[str], output: str, input_name: str) -> None:
    """`vqdna embed` shards -> one embeddings `.npz` (with `--per-token` arrays when present)."""
    _merge_npz(paths, output, input_name, offsets={"window_offsets", "token_offsets"}, totals=("records", "windows"))


def merge_tsv(paths: list[str], output: str) -> None:
    """`vqdna classify` shards -> one table: the head (any `##` lines of --header-comments,
    then the header) once, then the rows.

    Shards of one run have the same head; different ones (say TSV and BED) are refused here
    rather than written as a mixed table.
    """
    tables = [open(path).read().splitlines(keepends=True) for path in paths]
    size = _head_size(tables[0])
    head = tables[0][:size]
    if any(table[:size] != head for table in tables):
        raise SystemExit(f"cannot merge {', '.join(paths)}: their comment or header lines differ "
                         "(mixed TSV and BED? set classify_format to tsv or bed)")
    with atomic_file(output, "w") as out:
        out.writelines(head)
        for table in tables:
            out.writelines(table[size:])


def _head_size(table: list[str]) -> int:
    """Lines before the rows: the `##` comment lines, then the header."""
    comments = next((i for i, line in enumerate(table) if not line.startswith("##")), len(table))
    return min(comments + 1, len(table))


if "snakemake" in globals():  # run by Snakemake's `script:` directive
    inputs, output, kind = list(snakemake.input), snakemake.output[0], snakemake.params.kind  # noqa: F821
    if kind == "classify":
        merge_tsv(inputs, output)
    else:
        {"tokens": merge_tokens, "embeddings": merge_embeddings}[kind](inputs, output, snakemake.params.input_name)  # noqa: F821
