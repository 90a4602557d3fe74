"""Merge per-shard vqdna outputs into the file one unsharded run would have written.

Arrays are concatenated in shard order and offset arrays rebuilt from the per-record counts;
the metadata is the first shard's with the totals and the original input. Written with the
CLI's own deterministic writer, same members in the same order and the same compression, so
a merged tokens file is byte-identical to an unsharded run's and md5 checks keep working.
"""

import json
import zipfile

import numpy as np

from vqdna_cli.io.writers import TokensNpz, atomic_file, write_npz, write_sidecar


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
    made_alike = [{k: v for k, v in m.items() if k not in ("input", *totals)} for m in metadata]
    if any(m != made_alike[0] for m in made_alike):  # another model, --rc on one shard, ...
        differ = sorted({k for m in made_alike for k in m if m.get(k) != made_alike[0].get(k)})
        raise SystemExit(f"cannot merge {', '.join(paths)}: the shards were made differently ({', '.join(differ)})")
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


# What differs between the shards of one classify run: the input (each shard's own FASTA),
# replaced by the unsharded one, and the row count, summed. Anything else that differs means
# the shards were not made alike, and is refused.
PER_SHARD = ("input",)
TOTALS = ("rows",)


def merge_tsv(paths: list[str], output: str, input_name: str | None = None) -> None:
    """`vqdna classify` shards -> one table: the head (any `##key=value` lines of
    --header-comments, then the header) once, then the rows.

    The head is the first shard's, with `##input=` set to `input_name` (the unsharded input,
    as one unsharded run records it) and any `##rows=` summed. Apart from those lines, shards
    of one run have the same head; different ones (say TSV and BED) are refused here rather
    than written as a mixed table. Without `input_name`, the heads must be equal throughout.
    """
    tables = [open(path).read().splitlines(keepends=True) for path in paths]
    size = _head_size(tables[0])
    varying = () if input_name is None else PER_SHARD + TOTALS
    heads = [table[:size] for table in tables]
    if any(_comparable(head, varying) != _comparable(heads[0], varying) for head in heads):
        raise SystemExit(f"cannot merge {', '.join(paths)}: their comment or header lines differ "
                         "(mixed TSV and BED? set classify_format to tsv or bed)")
    merged = {}
    if input_name is not None:
        merged["input"] = str(input_name)
        for key in TOTALS:
            values = [_comment(head, key) for head in heads]
            if all(value is not None for value in values):
                merged[key] = str(sum(int(value) for value in values))
    with atomic_file(output, "w") as out:
        out.writelines(_rewrite(heads[0], merged))
        for table in tables:
            out.writelines(table[size:])


def merged_sidecar(paths: list[str], input_name: str) -> dict:
    """The `<shard>.json` sidecars of `vqdna classify` shards -> the sidecar of the merged
    table: the first shard's, with `input` set to `input_name` (the unsharded input) and the
    shards' `rows` summed. Shards whose sidecars differ otherwise are refused."""
    sidecars = [json.loads(open(path).read()) for path in paths]

    def alike(sidecar: dict) -> dict:
        return {key: value for key, value in sidecar.items() if key not in PER_SHARD + TOTALS}

    if any(alike(sidecar) != alike(sidecars[0]) for sidecar in sidecars):
        raise SystemExit(f"cannot merge {', '.join(paths)}: the shards were made with different options")
    return {**sidecars[0], "input": str(input_name),
            **{key: sum(sidecar[key] for sidecar in sidecars) for key in TOTALS if key in sidecars[0]}}


def merge_classify(tables: list[str], sidecars: list[str], output: str, input_name: str) -> None:
    """`vqdna classify` shards and their sidecars -> the table `output` and its sidecar
    `output`.json, written after it with vqdna's own writer, as an unsharded run writes them."""
    sidecar = merged_sidecar(sidecars, input_name)  # checked before anything is written
    merge_tsv(tables, output, input_name)
    write_sidecar(output, sidecar)


def _head_size(table: list[str]) -> int:
    """Lines before the rows: the `##` comment lines, then the header."""
    comments = next((i for i, line in enumerate(table) if not line.startswith("##")), len(table))
    return min(comments + 1, len(table))


def _key(line: str) -> str | None:
    """`##key=value` -> key; None for the header."""
    return line[2:].split("=", 1)[0] if line.startswith("##") and "=" in line else None


def _comment(head: list[str], key: str) -> str | None:
    return next((line[len(key) + 3:].rstrip("\r\n") for line in head if _key(line) == key), None)


def _comparable(head: list[str], varying: tuple[str, ...]) -> list[str]:
    """The head with the values of the `varying` keys blanked."""
    return [f"##{_key(line)}=\n" if _key(line) in varying else line for line in head]


def _rewrite(head: list[str], values: dict[str, str]) -> list[str]:
    return [f"##{_key(line)}={values[_key(line)]}\n" if _key(line) in values else line for line in head]


if "snakemake" in globals():  # run by Snakemake's `script:` directive
    inputs, output, kind = list(snakemake.input), snakemake.output[0], snakemake.params.kind  # noqa: F821
    if kind == "classify":
        if str(snakemake.output.sidecar) != f"{output}.json":  # noqa: F821
            raise SystemExit(f"the sidecar of {output} is {output}.json, not {snakemake.output.sidecar}")  # noqa: F821
        merge_classify(list(snakemake.input.tables), list(snakemake.input.sidecars), output,  # noqa: F821
                       snakemake.params.input_name)  # noqa: F821
    else:
        {"tokens": merge_tokens, "embeddings": merge_embeddings}[kind](inputs, output, snakemake.params.input_name)  # noqa: F821
