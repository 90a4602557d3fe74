"""Fill the conda recipe's source checksum from the release sdist (run once per release).

    python -m build --sdist && python scripts/release_recipe.py dist/vqdna-0.1.0.tar.gz

recipe/meta.yaml carries an all-zeros SHA-256 until a release exists (conda-build refuses
it, so an unfilled recipe never builds); this writes the sdist's SHA-256 in its place,
after checking that the sdist is the recipe's version. Upload that same file to PyPI: the
recipe's source URL is its PyPI address.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

RECIPE = Path(__file__).resolve().parent.parent / "recipe" / "meta.yaml"
PLACEHOLDER = "0" * 64
SHA_LINE = re.compile(r'^({%\s*set\s+sha256\s*=\s*")([0-9a-f]{64})("\s*%})$', re.M)


def fill(sdist: Path, recipe: Path = RECIPE) -> str:
    """Write `sdist`'s SHA-256 into `recipe`; returns it. Refuses another version's sdist."""
    text = recipe.read_text()
    version = re.search(r'{%\s*set\s+version\s*=\s*"([^"]+)"\s*%}', text)[1]
    if sdist.name != f"vqdna-{version}.tar.gz":
        raise SystemExit(f"{sdist.name} is not the recipe's release (vqdna-{version}.tar.gz)")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if not SHA_LINE.search(text):
        raise SystemExit(f"{recipe} has no `{{% set sha256 = \"...\" %}}` line")
    recipe.write_text(SHA_LINE.sub(lambda m: m[1] + digest + m[3], text, count=1))
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help="the release sdist, dist/vqdna-VERSION.tar.gz")
    args = parser.parse_args(argv)
    print(f"sha256 {fill(args.sdist)} -> {RECIPE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
