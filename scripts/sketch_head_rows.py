"""Add the training-row sample (`train_rows_sketch`) to heads trained before vqdna kept it.

    python scripts/sketch_head_rows.py weights/default

`train evaluate --record` refuses test data that holds rows a head was trained or selected
on, using the digests of a sample of those rows in head.json (vqdna_cli/train/row_sketch.py).
A head trained before that has no sample. This rebuilds a head's rows exactly as `train
finetune` drew them, from what its provenance records (the --train, --valid and --exclude
files, --valid-fraction's seed, --max-train-rows), and writes the sample only when the rebuilt
rows are as many as the provenance counts; a head whose files are not all on this machine,
or whose counts differ, is left as it is and named. The head's weights are untouched.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from vqdna_cli.api.train import head_training_data
from vqdna_cli.checkpoint import record_head_info
from vqdna_cli.errors import VqdnaError
from vqdna_cli.head_info import HeadInfo
from vqdna_cli.options import HeadRows
from vqdna_cli.train.row_sketch import sketch


def rebuilt_rows(provenance: dict) -> HeadRows:
    data, settings = provenance["data"], provenance["settings"]
    valid = data["valid"]
    fraction = None
    if isinstance(valid, str):  # "15% of the training rows (seed 0)"
        fraction = int(re.match(r"(\d+)%", valid)[1]) / 100
    return HeadRows(tuple(data["train"]), valid_files=tuple(valid) if isinstance(valid, list) else (),
                    valid_fraction=fraction, exclude_files=tuple(data["exclude"]),
                    max_train_rows=settings.get("max_train_rows"),
                    either_strand=data.get("copies_on_either_strand", False))


def add_sketch(weights: Path, head_json: Path) -> str:
    import json

    info = HeadInfo.from_json(json.loads(head_json.read_text()), head_json)
    task = head_json.parent.name
    if info.train_rows_sketch is not None:
        return f"{task}: has a sample already"
    provenance = info.provenance or {}
    if "data" not in provenance or "settings" not in provenance:
        return f"{task}: left as is (no training provenance)"
    missing = [f for f in (*provenance["data"]["train"], *provenance["data"]["exclude"]) if not Path(f).is_file()]
    if missing:
        return f"{task}: left as is ({len(missing)} training file(s) not here, e.g. {missing[0]})"
    try:
        rows = head_training_data(rebuilt_rows(provenance), seed=provenance["settings"]["seed"])
    except VqdnaError as error:
        return f"{task}: left as is ({error})"
    counts = (len(rows.rows), len(rows.valid_rows))
    recorded = (provenance["data"]["train_rows"], provenance["data"]["valid_rows"])
    if counts != recorded:
        return f"{task}: left as is (rebuilt {counts} training/validation rows, provenance says {recorded})"
    record_head_info(weights, task, {"train_rows_sketch": sketch(s for s, _ in rows.rows + rows.valid_rows)})
    return f"{task}: sample added (digests of up to 512 of its {counts[0] + counts[1]} rows)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, help="weights folder whose heads/ to update")
    args = parser.parse_args(argv)
    for head_json in sorted(args.weights.glob("heads/*/head.json")):
        print(add_sketch(args.weights, head_json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
