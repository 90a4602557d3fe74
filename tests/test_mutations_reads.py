"""How `vqdna mutations` counts aligned reads (mutations/pileup.py), on BAMs written here:
each fragment once, supplementary alignments and N bases not at all, an indel that reads
place at different anchors of a repeat summed, inserted bases after a substituted one read
as one insertion where they make one, and a file of several samples or a damaged one refused in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pysam
import pytest

from conftest import fasta_text, random_dna
from vqdna_cli.errors import InputError
from vqdna_cli.mutations.pileup import ReadFilters, call_reads
from vqdna_cli.mutations.variants import Reference

CHROM = "c1"
RUN_AT = 1000  # 0-based first base of the A run of "GAAAAAC"
REF = random_dna(RUN_AT, 11).replace("AAAA", "AAAC") + "GAAAAAC" + random_dna(2000, 12).replace("AAAA", "AAAC")
FILTERS = ReadFilters(min_depth=10, min_af=0.2, min_baseq=20)


def read(header, name: str, start: int, edits: dict | None = None, length: int = 100, flag: int = 0,
         rg: str | None = None, quality: int = 30) -> pysam.AlignedSegment:
    """A read of REF from `start`, with `edits` {0-based position: ("S", base) | ("D", n) |
    ("I", bases) inserted after it}."""
    edits = edits or {}
    bases, cigar, at = [], [], start

    def add(op: int, n: int = 1) -> None:
        cigar[-1:] = [(op, cigar[-1][1] + n)] if cigar and cigar[-1][0] == op else cigar[-1:] + [(op, n)]

    while len(bases) < length:
        edit = edits.get(at, ("", ""))
        if edit[0] == "D":
            add(2, edit[1])
            at += edit[1]
            continue
        bases.append(edit[1] if edit[0] == "S" else REF[at])
        add(0)
        if edit[0] == "I":
            bases.append(edit[1])
            add(1, len(edit[1]))
        at += 1
    segment = pysam.AlignedSegment(header)
    segment.query_name, segment.flag, segment.reference_id, segment.reference_start = name, flag, 0, start
    segment.mapping_quality, segment.cigartuples = 60, cigar
    segment.query_sequence = "".join(bases)
    segment.query_qualities = pysam.qualitystring_to_array(chr(quality + 33) * len(segment.query_sequence))
    if rg:
        segment.set_tag("RG", rg)
    return segment


def write_bam(path: Path, make_reads, samples: tuple[str, ...] = ("s1",), index: bool = True) -> str:
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": CHROM, "LN": len(REF)}],
              "RG": [{"ID": f"rg{i}", "SM": name} for i, name in enumerate(samples)]}
    unsorted = f"{path}.unsorted.bam"
    with pysam.AlignmentFile(unsorted, "wb", header=pysam.AlignmentHeader.from_dict(header)) as out:
        for segment in make_reads(out.header):
            out.write(segment)
    pysam.sort("-o", str(path), unsorted)
    os.remove(unsorted)
    if index:
        pysam.index(str(path))
    return str(path)


@pytest.fixture
def reference(tmp_path) -> Reference:
    path = tmp_path / "ref.fa"
    path.write_text(fasta_text({CHROM: REF}))
    return Reference.load(path)


def calls_of(path: str, reference: Reference, filters: ReadFilters = FILTERS) -> dict[str, tuple[int, int]]:
    return {c.site.label(): (c.depth, c.alt_depth) for c in call_reads(path, reference, filters).calls}


def test_an_indel_placed_at_different_anchors_of_a_repeat_is_summed(reference, tmp_path):
    """9 of 20 reads delete one A of AAAAA, 3 at each of three places: one deletion at 45 %,
    where each place alone (15 %) stays below --min-af."""
    def reads(header):
        for i in range(20):
            edits = {RUN_AT + 1 + 2 * (i % 3): ("D", 1)} if i < 9 else {}
            yield read(header, f"r{i}", RUN_AT - 50, edits, rg="rg0")

    found = calls_of(write_bam(tmp_path / "run.bam", reads), reference)
    assert found == {f"del{RUN_AT + 2}": (20, 9)}  # the first A (1-based RUN_AT + 2), after the G


def test_overlapping_mates_and_supplementary_alignments_are_counted_once_or_not_at_all(reference, tmp_path):
    at = 1500
    pair = (0x1 | 0x2 | 0x20 | 0x40, 0x1 | 0x2 | 0x10 | 0x80)

    def reads(header):
        for i in range(6):  # 6 fragments, both mates over the SNV and the deletion after it
            for flag in pair:
                yield read(header, f"p{i}", at - 40, {at: ("S", "A" if REF[at] != "A" else "C"), at + 20: ("D", 3)},
                           flag=flag, rg="rg0")
        for i in range(6):
            yield read(header, f"s{i}", at - 40, rg="rg0")
        for i in range(10):  # supplementary pieces: never counted
            yield read(header, f"x{i}", at - 40, {at: ("S", "A" if REF[at] != "A" else "C")}, flag=0x800, rg="rg0")

    path = write_bam(tmp_path / "pairs.bam", reads)
    for min_baseq in (20, 0):  # with 0, htslib's own overlap handling lets both mates through
        found = calls_of(path, reference, ReadFilters(10, 0.2, min_baseq))
        assert sorted(found.values()) == [(12, 6), (12, 6)], found


@pytest.mark.parametrize("past_anchor", [0, 3])
def test_an_indel_shown_by_one_mate_of_two_overlapping_is_counted(reference, tmp_path, past_anchor):
    """10 pairs whose first mate ends on the deletion's anchor (or 3 bases past it, where an
    aligner would rather mismatch than open a gap), the second mate reading through it and
    showing it; 10 reads of the reference. The fragment was counted by whichever mate htslib
    kept, the one without the deletion 4 times in 10 (alt_depth 6, was 10)."""
    at = 1500
    pair = (0x1 | 0x2 | 0x20 | 0x40, 0x1 | 0x2 | 0x10 | 0x80)

    def reads(header):
        for i in range(10):
            yield read(header, f"p{i}", at - 50, length=51 + past_anchor, flag=pair[0], rg="rg0",
                       quality=30 + i % 2 * 10)
            yield read(header, f"p{i}", at - 30, {at + 1: ("D", 3)}, flag=pair[1], rg="rg0", quality=30)
        for i in range(10):
            yield read(header, f"r{i}", at - 50, rg="rg0")

    found = calls_of(write_bam(tmp_path / "pairs.bam", reads), reference)
    assert found == {f"del{at + 2}-{at + 4}": (20, 10)}, found


def test_min_mapq_leaves_out_reads_mapped_with_low_quality(reference, tmp_path):
    """Ten MAPQ-0 reads (a repeat's other copy, say) carry a SNV that ten MAPQ-60 reads lack:
    counted by default, as samtools mpileup does; left out of depth and support at
    --min-mapq 1."""
    at = 1500
    other = "A" if REF[at] != "A" else "C"

    def reads(header):
        for i in range(10):
            ghost = read(header, f"m{i}", at - 40, {at: ("S", other), at + 10: ("D", 2)}, rg="rg0")
            ghost.mapping_quality = 0
            yield ghost
            yield read(header, f"u{i}", at - 40, rg="rg0")

    path = write_bam(tmp_path / "mapq.bam", reads)
    assert sorted(calls_of(path, reference).values()) == [(20, 10), (20, 10)]
    assert calls_of(path, reference, ReadFilters(10, 0.2, 20, min_mapq=1)) == {}
    strict = call_reads(path, reference, ReadFilters(10, 0.2, 20, min_mapq=1))
    assert strict.covered[CHROM][at] and strict.covered[CHROM].sum() == 100  # the MAPQ-60 reads' span alone


def test_an_insertion_after_a_substituted_base_is_one_event(reference, tmp_path):
    """Reads C A GGT where the reference has C T: the insertion of AGG before the T, as a
    genome's alignment gives it; not T>A plus an insertion shifted across a T they lack."""
    at = next(i for i in range(1600, 1700) if REF[i] == "T" and REF[i - 1] != "T")

    def reads(header):
        for i in range(12):
            segment = read(header, f"r{i}", at - 40, {at: ("I", "GGT")}, rg="rg0")
            bases, qualities = list(segment.query_sequence), segment.query_qualities
            bases[40] = "A"  # the anchor base itself substituted: the reads carry C A GGT
            segment.query_sequence, segment.query_qualities = "".join(bases), qualities
            yield segment

    found = calls_of(write_bam(tmp_path / "ins.bam", reads), reference)
    assert found == {f"ins{at}:AGG": (12, 12)}


def test_n_bases_are_no_evidence_and_no_depth(reference, tmp_path):
    at = 1800

    def reads(header):
        for i in range(5):
            yield read(header, f"a{i}", at - 40, {at: ("S", "A" if REF[at] != "A" else "C")}, rg="rg0")
        for i in range(5):
            yield read(header, f"n{i}", at - 40, {at: ("S", "N")}, rg="rg0")
        for i in range(10):
            yield read(header, f"r{i}", at - 40, rg="rg0")

    found = calls_of(write_bam(tmp_path / "n.bam", reads), reference)
    assert list(found.values()) == [(15, 5)]


def test_a_bam_of_several_samples_is_refused(reference, tmp_path):
    def reads(header):
        for i in range(12):
            yield read(header, f"r{i}", 500, rg=f"rg{i % 2}")

    path = write_bam(tmp_path / "two.bam", reads, samples=("A", "B"))
    with pytest.raises(InputError, match=r"holds reads of 2 samples \(read groups with SM A, B\).*samtools split"):
        call_reads(path, reference, FILTERS)


def test_sample_named_after_the_file_keeps_its_dots(reference, tmp_path):
    path = write_bam(tmp_path / "pt.rep1.bam", lambda header: [read(header, "r", 500)], samples=())
    assert call_reads(path, reference, FILTERS).sample == "pt.rep1"


def test_a_sorted_bam_without_its_index_is_told_to_index(reference, tmp_path, capfd):
    """Only vqdna's line: htslib's own about the index it could not load (a CRAM's, on
    opening the file again to see its order) came before it."""
    path = write_bam(tmp_path / "noidx.bam", lambda header: [read(header, "r", 500, rg="rg0")], index=False)
    cram = tmp_path / "noidx.cram"
    pysam.view("-C", "-T", str(reference.path), "-o", str(cram), path, catch_stdout=False)
    for given in (path, str(cram)):
        with pytest.raises(InputError, match=r"has no index: run `samtools index"):
            call_reads(given, reference, FILTERS)
        assert capfd.readouterr().err == "", given


def test_a_damaged_bam_is_one_line_not_a_traceback(reference, tmp_path):
    path = write_bam(tmp_path / "full.bam", lambda header: [read(header, f"r{i}", 10 * i, rg="rg0") for i in range(250)])
    data = bytearray(Path(path).read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + 200):
        data[i] ^= 0x5A
    damaged = tmp_path / "damaged.bam"
    damaged.write_bytes(bytes(data))
    Path(f"{damaged}.bai").write_bytes(Path(f"{path}.bai").read_bytes())
    with pytest.raises(InputError) as refused:
        call_reads(str(damaged), reference, FILTERS)
    assert "\n" not in str(refused.value)


def test_insertions_holding_n_are_counted_in_a_warning(reference, tmp_path):
    from vqdna_cli.errors import VqdnaWarning

    def reads(header):
        for i in range(12):
            yield read(header, f"r{i}", 1660, {1700: ("I", "ANNA")}, rg="rg0")

    path = write_bam(tmp_path / "insn.bam", reads)
    with pytest.warns(VqdnaWarning, match=r"12 inserted sequences holding N \(or another IUPAC code\) not counted"):
        assert calls_of(path, reference) == {}


def test_reads_aligned_past_the_reference_end_are_cut_there_not_a_traceback(reference, tmp_path):
    """An aligner's read hanging 40 bases off the end of the contig was an IndexError."""
    from vqdna_cli.errors import VqdnaWarning

    start = len(REF) - 60
    snv = len(REF) - 30
    alt = "A" if REF[snv] != "A" else "C"

    def reads(header):
        for i in range(12):
            segment = pysam.AlignedSegment(header)
            segment.query_name, segment.reference_id, segment.reference_start = f"r{i}", 0, start
            segment.mapping_quality, segment.cigartuples = 60, [(0, 100)]
            segment.query_sequence = REF[start:snv] + alt + REF[snv + 1:] + random_dna(40, 300 + i)
            segment.query_qualities = pysam.qualitystring_to_array("I" * 100)
            segment.set_tag("RG", "rg0")
            yield segment

    path = write_bam(tmp_path / "past_end.bam", reads)
    with pytest.warns(VqdnaWarning, match=r"past_end.bam: reads aligned past the end of c1 in the reference"):
        found = calls_of(path, reference)
    assert found == {f"{REF[snv]}{snv + 1}{alt}": (12, 12)}


@pytest.mark.parametrize("order", ["unknown", "queryname"])
def test_a_sorted_indexed_bam_whose_header_says_unknown_order_is_read(reference, tmp_path, order):
    """`SO:unknown` (as many tools write) was refused as "sorted by unknown"; samtools reads
    such a file when it is indexed. A header that says queryname is still refused."""
    def reads(header):
        for i in range(12):
            yield read(header, f"r{i}", 1450 + i, {1500: ("S", "A" if REF[1500] != "A" else "C")}, rg="rg0")

    sorted_bam = write_bam(tmp_path / "sorted.bam", reads, index=False)
    relabelled = tmp_path / f"{order}.bam"
    with pysam.AlignmentFile(sorted_bam) as source:
        header = source.header.to_dict()
        header["HD"]["SO"] = order
        with pysam.AlignmentFile(str(relabelled), "wb", header=header) as out:
            for segment in source:
                out.write(segment)
    pysam.index(str(relabelled))
    if order == "queryname":
        with pytest.raises(InputError, match="is sorted by queryname, not by coordinate"):
            calls_of(str(relabelled), reference)
    else:
        assert list(calls_of(str(relabelled), reference).values()) == [(12, 12)]


def test_a_sample_without_the_call_gets_its_reads_depth_and_af_in_the_vcf(reference, tmp_path):
    """GT 0 says the sample's reads cover the site; DP and AF say how many and how many of them
    carry the ALT allele (here below --min-af), as bcftools writes them, instead of '.'."""
    from vqdna_cli import api
    from vqdna_cli.options import MutationsOptions, RunOptions

    at, alt = 1500, "A" if REF[1500] != "A" else "C"

    def carriers(count: int):
        def reads(header):
            for i in range(20):
                yield read(header, f"r{i}", at - 50, {at: ("S", alt)} if i < count else {}, rg="rg0")
        return reads

    high = write_bam(tmp_path / "high.bam", carriers(12), samples=("high",))
    low = write_bam(tmp_path / "low.bam", carriers(2), samples=("low",))
    api.mutations([high, low], tmp_path / "out", MutationsOptions(reference.path, vcf=True, plot=False), RunOptions(threads=1))
    with pysam.VariantFile(str(tmp_path / "out" / "variants.vcf")) as vcf:
        records = [r for r in vcf if r.pos == at + 1]
    assert len(records) == 1 and records[0].alts == (alt,)
    carrier, below = records[0].samples["high"], records[0].samples["low"]
    assert (carrier["GT"], carrier["DP"]) == ((1,), 20) and carrier["AF"][0] == pytest.approx(0.6)
    assert (below["GT"], below["DP"]) == ((0,), 20) and below["AF"][0] == pytest.approx(0.1)


@pytest.mark.parametrize("same, as_rna", [(True, False), (True, True), (False, False), (False, True)])
def test_a_header_md5_of_another_sequence_is_warned_of(reference, tmp_path, same, as_rna):
    """@SQ M5 (as `samtools dict` writes it) names the sequence the reads were aligned to: a
    reference of the same name and length but another sequence gets a warning. An RNA
    reference (U for T), hashed as written, is the same sequence."""
    import hashlib
    import warnings as warnings_module

    from vqdna_cli.errors import VqdnaWarning
    from vqdna_cli.mutations.pileup import open_checked

    sequence = REF if same else REF[:100] + ("A" if REF[100] != "A" else "C") + REF[101:]
    md5 = hashlib.md5((sequence.replace("T", "U") if as_rna else sequence).encode()).hexdigest()
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": CHROM, "LN": len(REF), "M5": md5}]}
    path = tmp_path / "m5.bam"
    with pysam.AlignmentFile(str(path), "wb", header=pysam.AlignmentHeader.from_dict(header)) as out:
        for i in range(3):
            out.write(read(out.header, f"r{i}", 200))
    pysam.index(str(path))
    with warnings_module.catch_warnings(record=True) as caught:
        warnings_module.simplefilter("always")
        open_checked(str(path), reference).close()
    said = [str(w.message) for w in caught if issubclass(w.category, VqdnaWarning)]
    if same:
        assert said == []
    else:
        assert len(said) == 1 and "another sequence of that name and length" in said[0]


def test_reads_that_delete_a_site_are_its_depth_where_the_sample_makes_no_call(reference, tmp_path):
    """A sample whose reads all delete the base of another sample's SNV: its DP there counts
    them, the depth its own calls are made on (as where it makes a call), and its AF is 0,
    none carrying the ALT; a contig that the BAM has no reads on is DP 0."""
    from vqdna_cli import api
    from vqdna_cli.options import MutationsOptions, RunOptions

    at, alt = 1500, "A" if REF[1500] != "A" else "C"

    def substituting(header):
        for i in range(20):
            yield read(header, f"s{i}", at - 50, {at: ("S", alt)})

    def deleting(header):
        for i in range(20):
            yield read(header, f"d{i}", at - 50, {at - 1: ("D", 3)})

    snv = write_bam(tmp_path / "snv.bam", substituting, samples=("snv",))
    deletion = write_bam(tmp_path / "del.bam", deleting, samples=("del",))
    other = tmp_path / "other.fa"  # a genome of a second contig, which neither BAM has
    reference_path = tmp_path / "two.fa"
    second = random_dna(500, 5)
    reference_path.write_text(fasta_text({CHROM: REF, "c2": second}))
    other.write_text(fasta_text({"c2": second[:250] + ("A" if second[250] != "A" else "C") + second[251:]}))
    api.mutations([snv, deletion, str(other)], tmp_path / "out", MutationsOptions(reference_path, vcf=True, plot=False),
                  RunOptions(threads=1))
    with pysam.VariantFile(str(tmp_path / "out" / "variants.vcf")) as vcf:
        records = {(r.chrom, r.pos): r for r in vcf}
    deleted = records[(CHROM, at + 1)].samples["del"]
    assert deleted["DP"] == 20 and deleted["AF"] == (0.0,)
    for name in ("snv", "del"):
        assert records[("c2", 251)].samples[name]["DP"] == 0
