"""`vqdna mutations` on real SARS-CoV-2 data from ../shared/data (or $VQDNA_DATA).

Skipped, with the reason, when the data is missing; the bcftools comparison also skips
when bcftools is not installed (Debian/Ubuntu: `apt-get install bcftools`).
"""

from __future__ import annotations

import csv
import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vqdna_cli import api
from vqdna_cli.options import MutationsOptions, RunOptions
from vqdna_cli.mutations.variants import Reference, normalise

ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path | None:
    for candidate in (os.environ.get("VQDNA_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "sarscov2").is_dir():
            return Path(candidate) / "sarscov2"
    return None


DATA = _data_dir()
pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(DATA is None, reason="no real data: set VQDNA_DATA or provide ../shared/data (sarscov2/)"),
]

CHROM = "NC_045512.2"
EVALUATED = (100, 29_700)  # genome ends are often unsequenced
DELETION_SLACK = 10  # a deletion in a repeat may be placed anywhere in it


def _rows(tsv: Path) -> list[dict]:
    lines = [line for line in tsv.read_text().splitlines() if not line.startswith("# ")]
    return list(csv.DictReader(lines, delimiter="\t"))


def test_omicron_reads_insertion_and_deletion_agree_with_bcftools(tmp_path):
    reference = DATA / "reference" / "NC_045512.2.fasta"
    bam = DATA / "reads" / "omicron_s_3ins_9del.bam"
    out = tmp_path / "reads"
    api.mutations([str(bam)], out, MutationsOptions(reference, annotation=DATA / "reference" / "genes.gff", plot=False),
                  RunOptions(threads=2))
    ours = {(int(r["pos"]), r["ref"], r["alt"]): r for r in _rows(out / "variants.tsv")}
    # Omicron's 9-base insertion after 22,204 (ins214EPE) and the deletion of 22,194-22,196.
    insertion, deletion = (22204, "T", "TGAGCCAGAA"), (22193, "AATT", "A")
    assert insertion in ours and deletion in ours
    assert ours[insertion]["protein"] == "S:ins214EPE"
    assert ours[deletion]["change"] == "del22194-22196"
    assert float(ours[deletion]["allele_frequency"]) > 0.5

    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not installed (apt-get install bcftools): the comparison was skipped")
    pileup = subprocess.run(["bcftools", "mpileup", "-f", str(reference), str(bam)], capture_output=True, check=True)
    called = subprocess.run(["bcftools", "call", "-mv"], input=pileup.stdout, capture_output=True, check=True)
    sequence = Reference.load(reference).sequences[CHROM]
    theirs = set()
    for line in called.stdout.decode().splitlines():
        if line.startswith("#"):
            continue
        chrom, pos, _, ref, alts = line.split("\t")[:5]
        for alt in alts.split(","):
            site = normalise(sequence, chrom, int(pos) - 1, ref, alt)  # bcftools keeps extra context bases
            theirs.add((site.pos, site.ref, site.alt))
    assert theirs == set(ours), f"bcftools: {sorted(theirs)}; vqdna: {sorted(ours)}"


def _lineage_mutations() -> dict[str, list[str]]:
    with gzip.open(DATA / "lineages" / "nextclade_2023-04-18_pango_leaves.mutations.tsv.gz", "rt") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        return {row["pango"]: row["nuc_changes_vs_ref"].split(",") if row["nuc_changes_vs_ref"] else []
                for row in reader}


def defining_mutation_recall(calls_by_genome: dict[str, list], lineage_of: dict[str, str]) -> dict:
    """Recall of each genome's lineage-defining mutations (substitutions by position and
    base; a run of deleted bases counts when a deletion is called within DELETION_SLACK
    bases), and precision of the calls (a call is expected when it is one of them)."""
    mutations = _lineage_mutations()
    found = total = expected_calls = all_calls = 0
    missed = []
    for genome, calls in calls_by_genome.items():
        sites = [c.site for c in calls if EVALUATED[0] <= c.site.pos <= EVALUATED[1]]
        substitutions = {(s.pos, s.alt) for s in sites if s.kind == "snv"}
        deletions = [(s.start0 + 1, s.end0) for s in sites if s.kind == "deletion"]
        wanted, deleted = set(), []
        for change in mutations[lineage_of[genome]]:
            ref, pos, alt = re.fullmatch(r"([ACGT])(\d+)([ACGT-])", change).groups()
            if EVALUATED[0] <= int(pos) <= EVALUATED[1]:
                (deleted.append(int(pos)) if alt == "-" else wanted.add((int(pos), alt)))
        runs: list[list[int]] = []
        for pos in sorted(deleted):
            if runs and pos == runs[-1][1] + 1:
                runs[-1][1] = pos
            else:
                runs.append([pos, pos])

        def near(start, end, run):
            return start <= run[1] + DELETION_SLACK and end >= run[0] - DELETION_SLACK

        hits = [w for w in wanted if w in substitutions] + [r for r in runs if any(near(s, e, r) for s, e in deletions)]
        missed += [f"{genome}:{w}" for w in wanted if w not in substitutions]
        missed += [f"{genome}:del{r}" for r in runs if not any(near(s, e, r) for s, e in deletions)]
        found += len(hits)
        total += len(wanted) + len(runs)
        expected_calls += sum(1 for s in sites if (s.kind == "snv" and (s.pos, s.alt) in wanted)
                              or (s.kind == "deletion" and any(near(s.start0 + 1, s.end0, r) for r in runs)))
        all_calls += len(sites)
    return {"recall": found / total, "found": found, "defining": total, "precision": expected_calls / all_calls,
            "calls": all_calls, "missed": missed}


def test_representative_genomes_carry_their_lineages_defining_mutations():
    """The 15 representative genomes (Alpha ... XBB.1.5) against their Pango lineage's
    mutations (Nextclade 2023-04-18 tree). Precision is not asserted: real genomes carry
    private mutations beyond their lineage's (printed with -s)."""
    from vqdna_cli.mutations.align import GenomeAligner, read_genomes

    fasta = DATA / "genomes" / "representative_real_genomes.fasta"
    # Each header names the lineage: ">OU167955 variant=Alpha pango=B.1.1.7 clade=20I".
    lineage_of = {}
    for line in fasta.read_text().splitlines():
        if line.startswith(">"):
            name, *fields = line[1:].split()
            lineage_of[name] = dict(f.split("=", 1) for f in fields)["pango"]
    aligner = GenomeAligner(Reference.load(DATA / "reference" / "NC_045512.2.fasta"))
    calls = {record.name: aligner.call(record, str(fasta)).calls for record in read_genomes(str(fasta))}
    assert len(calls) == 15
    result = defining_mutation_recall(calls, lineage_of)
    print(f"recall {result['recall']:.4f} ({result['found']}/{result['defining']}), precision "
          f"{result['precision']:.4f} of {result['calls']} calls; missed: {result['missed']}")
    assert result["recall"] >= 0.99, result["missed"]


def test_substitutions_at_the_genome_ends_match_nextclade():
    """Nextclade's reconstructed sequence of every Pango lineage (2023-04-18 tree) carries its
    lineage's substitutions; those within 30 bases of either end of the reference (A1G,
    T2C, ...) sit where minimap2 clips a mismatch off the alignment. Each one called there
    must be Nextclade's, and nearly all of Nextclade's must be called."""
    from vqdna_cli.mutations.align import GenomeAligner, read_genomes

    reference = Reference.load(DATA / "reference" / "MN908947.fasta")
    length = len(next(iter(reference.sequences.values())))
    with gzip.open(DATA / "lineages" / "nextclade_2023-04-18_pango_leaves.mutations.tsv.gz", "rt") as handle:
        truth = {row["name"]: {m for m in row["nuc_changes_vs_ref"].split(",") if re.fullmatch(r"[ACGT]\d+[ACGT]", m)}
                 for row in csv.DictReader(handle, delimiter="\t")}

    def at_an_end(label: str) -> bool:
        position = int(label[1:-1])
        return position <= 30 or position > length - 30

    aligner = GenomeAligner(reference)
    expected = called = right = 0
    for record in read_genomes(str(DATA / "lineages" / "nextclade_2023-04-18_pango_leaves.fasta.gz")):
        theirs = {m for m in truth[record.name] if at_an_end(m)}
        ours = {c.site.label() for c in aligner.call(record, "leaves").calls if c.site.kind == "snv"}
        ours = {label for label in ours if at_an_end(label)}
        expected += len(theirs)
        called += len(ours)
        right += len(ours & theirs)
    print(f"end substitutions: {right} of Nextclade's {expected} called; {called} calls")
    assert expected > 500  # the set holds what it is meant to test
    assert right == called  # no call at an end that Nextclade does not make
    assert right >= 0.95 * expected
