"""Merge per-shard vqdna outputs into the file one unsharded run would have written.

Arrays are concatenated in shard order, a piece at a time (a genome's shards are not held in
memory), and offset arrays rebuilt from the per-record counts; the metadata is the first
shard's with the totals and the original input. Written with the CLI's own deterministic
writer, same members in the same order and the same compression, so a merged tokens file
is byte-identical to an unsharded run's and md5 checks keep working.
"""

import json
import zipfile

import numpy as np

from vqdna_cli.io.tokens_npz import TokensNpz
from vqdna_cli.io.writers import ArrayStream, atomic_file, table_output, write_npz


# Bytes of one shard's array read at a time: merging a genome's shards holds no more than this
# of their arrays at once, not the whole output.
PIECE_BYTES = 8 << 20


def _headers(path: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's shape and type, read from its `.npy` header alone."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as stored:
                shape, fortran_order, dtype = _read_header(stored)
            if fortran_order:
                raise SystemExit(f"cannot merge {path}: {member} is not in C order (not written by vqdna)")
            headers[member.removesuffix(".npy")] = (shape, dtype)
    return headers


def _read_header(stored) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(stored)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(stored)


def _pieces(paths: list[str], name: str, dtype: np.dtype):
    """The values of array `name` of every shard in turn, a piece at a time, as `dtype` (wider
    than a shard's own where the shards differ: longer IDs, or positions past 2**32)."""
    for path in paths:
        with zipfile.ZipFile(path) as archive, archive.open(f"{name}.npy") as stored:
            _, _, own = _read_header(stored)
            step = max(1, PIECE_BYTES // own.itemsize) * own.itemsize
            while data := stored.read(step):
                yield data if own == dtype else _widen(np.frombuffer(data, dtype=own), dtype, name)


def _widen(values: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """`values` as the merged array's type; an aligned read's base off the reference is the
    largest value of `positions`' type, in the narrower type as in the wider one."""
    widened = values.astype(dtype)
    if name == "positions":
        widened[values == np.iinfo(values.dtype).max] = np.iinfo(dtype).max
    return widened


def _rebuild_offsets(offsets: list[np.ndarray]) -> np.ndarray:
    """Ragged offsets (each shard's starting at 0) of the concatenated arrays."""
    counts = np.concatenate([np.diff(o) for o in offsets])
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _merge_npz(paths: list[str], output: str, input_name: str, offsets: set[str], totals: tuple[str, ...],
               quick: tuple[str, ...] = ()) -> None:
    """Offsets are rebuilt in memory (8 bytes a record); every other array is streamed from
    the shards into the output."""
    headers = [_headers(path) for path in paths]
    names = list(headers[0])
    if any(list(header) != names for header in headers):
        raise SystemExit(f"cannot merge {', '.join(paths)}: the shards hold different arrays (different options?)")
    metadata = [json.loads(str(_load_one(path, "metadata"))) for path in paths]
    made_alike = [{k: v for k, v in m.items() if k not in ("input", *totals)} for m in metadata]
    if any(m != made_alike[0] for m in made_alike):  # another model, --rc on one shard, ...
        differ = sorted({k for m in made_alike for k in m if m.get(k) != made_alike[0].get(k)})
        raise SystemExit(f"cannot merge {', '.join(paths)}: the shards were made differently ({', '.join(differ)})")
    merged_metadata = {**metadata[0], "input": input_name, **{key: sum(m[key] for m in metadata) for key in totals}}
    arrays = {}
    for name in names:
        if name == "metadata":
            continue
        if name in offsets:
            arrays[name] = _rebuild_offsets([_load_one(path, name) for path in paths])
            continue
        shapes = [header[name][0] for header in headers]
        if any(shape[1:] != shapes[0][1:] for shape in shapes):
            raise SystemExit(f"cannot merge {', '.join(paths)}: their {name} arrays differ in shape")
        dtype = np.result_type(*(header[name][1] for header in headers))
        shape = (sum(shape[0] for shape in shapes), *shapes[0][1:])
        arrays[name] = ArrayStream(dtype, shape, lambda name=name, dtype=dtype: _pieces(paths, name, dtype))
    with zipfile.ZipFile(paths[0]) as archive:
        compress = archive.infolist()[0].compress_type == zipfile.ZIP_DEFLATED  # keeps `tokenize --no-compress`
    write_npz(output, arrays, merged_metadata, compress, quick)


def _load_one(path: str, name: str) -> np.ndarray:
    with np.load(path) as npz:
        return npz[name]


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
    with atomic_file(output, "w") as out:
        write_merged(out, paths, input_name)


def write_merged(out, paths: list[str], input_name: str | None = None) -> None:
    """The merged table of `merge_tsv` (see there) into the open text stream `out`."""
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
    `output`.json, replaced together by vqdna's own writer, as an unsharded run writes them."""
    merged = merged_sidecar(sidecars, input_name)  # checked before anything is written
    with table_output(output) as (out, sidecar):
        write_merged(out, tables, input_name)
        sidecar.update(merged)


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
