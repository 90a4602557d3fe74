"""VCF/BCF input (pysam); vcf_out writes the VCF of the report.

Input: every ALT allele a sample carries (any non-zero allele in its GT) is a call for that
sample, and a sample whose GT is called (0, or another ALT) at a record is known to lack the
record's other alleles there (over its REF and each allele's normalised span); a sites-only
VCF is one sample named after the file. Skipped, each with a warning that counts them:
records whose FILTER is set and not PASS, records whose samples have no GT, carried ALT
alleles without definite bases (`<DEL>`, `*`, N and the other IUPAC codes) or equal to REF,
and substitutions of a reference base that is N. A GT naming an ALT the record does not have is refused. A
multi-base substitution is read as its single-base ones, a substituted base followed by an indel as the two
(variants.atoms). Depth and
allele frequency come from FORMAT (INFO for a sites-only VCF): AD, else AO and RO, else DP
and AF (AF alone is kept as the frequency), each read as the number it says even where the
header declares no type or another one. REF must be the reference's bases at POS: a VCF made against another reference is
refused.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field

import pysam

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.mutations.variants import Call, Reference, atoms, file_sample, normalise
from vqdna_cli.mutations.vcf_faults import header_fault, open_detail, record_error, where

# What pysam raises for a file htslib cannot open or parse: NotImplementedError comes from
# seeking in plain gzip, which is refused before opening, but kept here so that no other
# such file gives a traceback.
_PYSAM_ERRORS = (OSError, ValueError, NotImplementedError)
_EXAMPLES = 3


@dataclass
class VcfSample:
    name: str
    calls: list[Call]
    # 0-based positions, per contig, of the records at which the sample's GT is called: there
    # it is known to lack every allele it does not carry (its GT 0 stays 0 in variants.vcf).
    called: dict[str, set[int]] = field(default_factory=dict)


@dataclass
class _Skipped:
    """What read_vcf passes over by design, counted for the warnings that say so."""
    without_bases: Counter = field(default_factory=Counter)  # carried ALTs: <DEL>, *, N, R ...
    at_ambiguous_reference: int = 0  # carried substitutions of a reference N (or R ...)
    filtered: int = 0  # records that failed a FILTER
    filters: Counter = field(default_factory=Counter)  # ... by the FILTER names they failed
    without_genotype: int = 0  # records whose FORMAT has no GT
    same_as_reference: int = 0  # carried ALTs that change nothing (ALT equal to REF)
    repeated: int = 0  # a sample's calls of a variant an earlier record already gave it (the first kept)


def read_vcf(path: str, reference: Reference) -> list[VcfSample]:
    variants = _open(path)
    has_samples = bool(variants.header.samples)
    samples = {name: VcfSample(name, []) for name in (list(variants.header.samples) or [file_sample(path, (".vcf.gz", ".vcf.bgz", ".vcf", ".bcf"))])}
    found: dict[str, dict] = {name: {} for name in samples}
    skipped = _Skipped()
    with variants:
        for number, record in enumerate(_records(variants, path), start=1):
            failed = [name for name in record.filter.keys() if name != "PASS"]
            if failed and "PASS" not in record.filter.keys():
                skipped.filtered += 1
                skipped.filters.update(failed)
                continue
            _check_position(record, reference, path, number)
            if has_samples and "GT" not in record.format.keys():
                skipped.without_genotype += 1
                continue
            # GT of each sample, read from pysam once per record: a wide VCF has thousands
            genotypes = {name: record.samples[name].get("GT") or () for name in record.samples} if has_samples else {}
            _check_genotypes(record, genotypes, path, number)
            _read_record(record, reference.sequences[record.chrom], samples, genotypes, found, skipped)
    _warn_skipped(path, skipped)
    for name, sample in samples.items():
        sample.calls = sorted(found[name].values(), key=lambda c: c.site)
    return list(samples.values())


def _check_position(record, reference: Reference, path: str, number: int) -> None:
    """The record's contig is the reference's, and REF is the reference's bases at POS."""
    reference.check_contig(record.chrom, path)
    if record.pos < 1:  # htslib reads POS 0; the REF check would blame the reference
        raise InputError(f"{path}{where(path, number)}: POS {record.pos} at {record.chrom}: POS must be 1 "
                         "or more (VCF positions are 1-based)")
    expected = reference.sequences[record.chrom][record.pos - 1 : record.pos - 1 + len(record.ref)]
    if record.ref.upper() != expected:
        raise InputError(f"{path}: REF {record.ref} at {record.chrom}:{record.pos} disagrees with the "
                         f"reference {reference.path} ({expected or 'past its end'}): the VCF was made "
                         "against another reference")


def _read_record(record, sequence: str, samples: dict[str, VcfSample], genotypes: dict[str, tuple], found: dict,
                 skipped: _Skipped) -> None:
    """The calls of one record into `found` (sample -> {site: Call}), and where each sample's
    GT (`genotypes`; none for a sites-only VCF) is called, over the record's REF and over its
    alleles' normalised (left-shifted) spans."""
    spans = [(record.pos - 1, record.pos - 1 + len(record.ref))]
    for index, alt in enumerate(record.alts or (), start=1):
        if alt == ".":
            continue
        carriers = {}
        for name in samples:
            support = _support(record, name, genotypes.get(name), index)
            if support is not None:
                carriers[name] = support
        if not set(alt.upper()) <= set("ACGT"):
            if carriers:  # an allele no sample carries (gVCF's <*>) is no loss
                skipped.without_bases[alt] += 1
            continue
        site = normalise(sequence, record.chrom, record.pos - 1, record.ref, alt)
        if len(site.ref) == len(site.alt) and site.ref == site.alt:
            skipped.same_as_reference += bool(carriers)
            continue
        spans.append((site.pos - 1, site.pos - 1 + len(site.ref)))
        site_info = _site_info(record, index)
        for part in atoms(site, sequence):
            if len(part.ref) == len(part.alt) and not set(part.ref) <= set("ACGT"):
                # as for genomes and reads: no substitution of a base the reference leaves open
                skipped.at_ambiguous_reference += bool(carriers)
                continue
            for name, (depth, alt_depth, frequency) in carriers.items():
                if part in found[name]:
                    skipped.repeated += 1
                    continue
                found[name][part] = Call(name, part, depth=depth, alt_depth=alt_depth, stated_frequency=frequency,
                                         site_info=site_info)
    for name, genotype in genotypes.items():
        if genotype and None not in genotype:
            called = samples[name].called.setdefault(record.chrom, set())
            # A gVCF reference block (INFO/END) calls its sample's bases up to END, where
            # the sample carries no ALT allele there (a symbolic <DEL> with END is no call of
            # the reference).
            block = [(record.start, record.stop)] if not any(genotype) else []
            for start, end in spans + block:
                called.update(range(start, end))


_ALLELE_NUMBER = re.compile(r"\d+")


def _check_genotypes(record, genotypes: dict[str, tuple], path: str, number: int) -> None:
    """htslib reads a GT allele past the record's ALT alleles (0/3 with one ALT) as missing,
    which would drop that sample's call without a word; the record's text still holds it."""
    if not any(None in genotype for genotype in genotypes.values()):
        return
    fields = str(record).rstrip("\n").split("\t")
    position = fields[8].split(":").index("GT")
    alts = len(record.alts or ())
    for name, value in zip(record.samples, fields[9:]):
        parts = value.split(":")
        genotype = parts[position] if len(parts) > position else "."
        beyond = [int(n) for n in _ALLELE_NUMBER.findall(genotype) if int(n) > alts]
        if beyond:
            raise InputError(f"{path}{where(path, number)}: GT {genotype} of sample {name} names allele {beyond[0]}, "
                             f"but the record has {alts} ALT allele{'s' if alts != 1 else ''} "
                             f"({','.join(record.alts or ()) or '.'})")


def _warn_skipped(path: str, skipped: _Skipped) -> None:
    """What was skipped by design is said, so that a VCF of only such records does not look
    like one without variants."""
    if skipped.without_bases:
        total = sum(skipped.without_bases.values())
        warnings.warn(f"{path}: skipped {total} ALT allele{'s' if total > 1 else ''} without definite bases "
                      f"({_examples(skipped.without_bases)}): symbolic, * and ambiguous (N, R, ...) alleles are "
                      "not scored", VqdnaWarning, stacklevel=2)
    if skipped.at_ambiguous_reference:
        total = skipped.at_ambiguous_reference
        warnings.warn(f"{path}: skipped {total} substitution{'s' if total > 1 else ''} of a reference base that "
                      "is N (or another IUPAC code): none is called there, as for genomes and reads",
                      VqdnaWarning, stacklevel=2)
    if skipped.filtered:
        total = skipped.filtered
        warnings.warn(f"{path}: skipped {total} record{'s' if total > 1 else ''} that failed a FILTER "
                      f"({_examples(skipped.filters)}): only PASS or . records are scored; to score them, "
                      f"clear FILTER first (`bcftools annotate -x FILTER {path}`)", VqdnaWarning, stacklevel=2)
    if skipped.same_as_reference:
        total = skipped.same_as_reference
        warnings.warn(f"{path}: skipped {total} ALT allele{'s' if total > 1 else ''} equal to REF: "
                      f"{'it changes' if total == 1 else 'they change'} nothing", VqdnaWarning, stacklevel=2)
    if skipped.repeated:
        total = skipped.repeated
        warnings.warn(f"{path}: {total} call{'s' if total > 1 else ''} of a variant an earlier record already gave "
                      f"the same sample (two records of one site, or an MNV and its SNVs): the first record's "
                      "read support is kept", VqdnaWarning, stacklevel=2)
    if skipped.without_genotype:
        total = skipped.without_genotype
        warnings.warn(f"{path}: skipped {total} record{'s' if total > 1 else ''} without GT in FORMAT: no sample is "
                      "known to carry their ALT alleles; add GT, or drop the samples (`bcftools view -G`) to read "
                      "every record as one sample's", VqdnaWarning, stacklevel=2)


def _examples(counts: Counter) -> str:
    return ", ".join(list(counts)[:_EXAMPLES]) + (", ..." if len(counts) > _EXAMPLES else "")


def _open(path: str):
    from vqdna_cli.io.htslib import quiet_htslib

    _refuse_plain_gzip(path)
    try:
        with quiet_htslib():
            return pysam.VariantFile(path)
    except _PYSAM_ERRORS as error:
        message = header_fault(path) or f"{path} is not a readable VCF or BCF file ({open_detail(error)})"
        raise InputError(message) from None


def _refuse_plain_gzip(path: str) -> None:
    """htslib reads a compressed VCF only as BGZF: plain gzip fails when pysam seeks in it."""
    from vqdna_cli.io.fasta import GZIP_MAGIC, is_bgzf

    with open(path, "rb") as handle:
        head = handle.read(18)
    if head.startswith(GZIP_MAGIC) and not is_bgzf(head):
        raise InputError(f"{path} is gzip but not BGZF, which htslib needs to read a compressed VCF; recompress it "
                         f"with bgzip: `zcat {path} | bgzip > OUT.vcf.gz`")


def _records(variants, path: str):
    """The records, each parsed with htslib's messages off: its warnings (`[W::vcf_parse]
    Contig 'chrZ' is not defined in the header`) would precede the one-line error that
    says the same with the fix, or clutter a run that succeeds."""
    from vqdna_cli.io.htslib import quiet_htslib

    records = iter(variants)
    for number in itertools.count(1):
        try:
            with quiet_htslib():
                record = next(records, None)
        except _PYSAM_ERRORS as error:
            raise record_error(path, number, error) from None
        if record is None:
            return
        yield record


def _support(record, sample: str, genotype: tuple | None, allele: int) -> tuple | None:
    """None when the sample does not carry `allele`; else (depth, alt depth, AF) where known:
    the depths from AD (Number=R), else AO and RO (freebayes), else DP and AF; AF kept as said
    only where no depth makes it. `genotype` None: a sites-only VCF, whose one sample carries
    every allele and whose numbers are in INFO."""
    fields = record.info
    if genotype is not None:
        if allele not in genotype:
            return None
        fields = record.samples[sample]
    depth = _count(fields, "DP")
    by_allele = _counts(fields, "AD")
    if by_allele is not None and len(by_allele) > allele and by_allele[allele] is not None:
        if depth is None:
            depth = sum(x for x in by_allele if x is not None)
        return depth, by_allele[allele], None
    observed, reference_count = _counts(fields, "AO"), _count(fields, "RO")
    if observed is not None and len(observed) >= allele and observed[allele - 1] is not None:
        if depth is None and reference_count is not None:
            depth = reference_count + sum(x for x in observed if x is not None)
        return depth, observed[allele - 1], None
    frequency = _fraction(fields, "AF", allele - 1)
    if depth is not None and frequency is not None:
        return depth, int(round(frequency * depth)), None
    return depth, None, frequency


def _site_info(record, allele: int) -> dict:
    """The record's INFO/DP and INFO/AF of `allele` (1-based ALT), where it has them."""
    values = {"DP": _count(record.info, "DP"), "AF": _fraction(record.info, "AF", allele - 1)}
    return {key: value for key, value in values.items() if value is not None}


# A field the header does not declare reaches pysam as text ("10", "4,6"), and one declared
# with another type as that type (DP=10.5): each is read as the number it says, or not at all.


def _count(fields, key: str, index: int = 0) -> int | None:
    """A depth: a whole number of reads, 0 or more."""
    number = _number(_value(fields, key, index))
    return None if number is None or number < 0 else int(round(number))


def _counts(fields, key: str) -> list[int | None] | None:
    """A depth per allele (AD, AO), or None when the field is absent."""
    values = _values(fields, key)
    if values is None:
        return None
    counts = [_number(v) for v in values]
    return [None if n is None or n < 0 else int(round(n)) for n in counts]


def _fraction(fields, key: str, index: int = 0) -> float | None:
    """An allele frequency, 0 to 1."""
    number = _number(_value(fields, key, index))
    return number if number is not None and 0 <= number <= 1 else None


def _value(fields, key: str, index: int = 0):
    values = _values(fields, key)
    return values[index] if values is not None and len(values) > index else None


def _values(fields, key: str) -> tuple | None:
    """The field's values as a tuple (undeclared text "4,6" split at its commas), or None."""
    try:
        value = fields[key]
    except (KeyError, ValueError):
        return None
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(value.split(","))
    return value if isinstance(value, tuple) else (value,)


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
