"""VCF/BCF input (pysam) and the VCF the report can write.

Input: every ALT allele a sample carries (any non-zero allele in its GT) is a call for that
sample; a sites-only VCF is one sample named after the file. Records whose FILTER is set
and not PASS, and symbolic alleles (`<DEL>`, `*`), are skipped. DP and AF (or AD) in FORMAT,
else in INFO, give the depth and allele frequency when present. REF must be the reference's
bases at POS: a VCF made against another reference is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam

from vqdna_cli.errors import InputError
from vqdna_cli.mutations.variants import Call, Reference, normalise


def read_vcf(path: str, reference: Reference) -> list[tuple[str, list[Call]]]:
    from vqdna_cli.io.bam import _quiet_htslib

    try:
        with _quiet_htslib():
            variants = pysam.VariantFile(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path} is not a readable VCF or BCF file ({error})") from None
    samples = list(variants.header.samples) or [Path(path).name.split(".")[0]]
    found: dict[str, dict] = {name: {} for name in samples}
    with variants:
        for number, record in enumerate(_records(variants, path), start=1):
            if record.filter.keys() and "PASS" not in record.filter.keys():
                continue
            reference.check_contig(record.chrom, path)
            sequence = reference.sequences[record.chrom]
            expected = sequence[record.pos - 1 : record.pos - 1 + len(record.ref)]
            if record.ref.upper() != expected:
                raise InputError(f"{path}: REF {record.ref} at {record.chrom}:{record.pos} disagrees with the "
                                 f"reference {reference.path} ({expected or 'past its end'}): the VCF was made "
                                 "against another reference")
            for index, alt in enumerate(record.alts or (), start=1):
                if alt.startswith("<") or alt in ("*", ".") or not set(alt.upper()) <= set("ACGTN"):
                    continue
                site = normalise(sequence, record.chrom, record.pos - 1, record.ref, alt)
                if len(site.ref) == len(site.alt) and site.ref == site.alt:
                    continue
                for name in samples:
                    support = _support(record, name if variants.header.samples else None, index)
                    if support is None:
                        continue
                    depth, alt_depth = support
                    found[name].setdefault(site, Call(name, site, depth=depth, alt_depth=alt_depth))
    return [(name, sorted(calls.values(), key=lambda c: c.site)) for name, calls in found.items()]


def _records(variants, path: str):
    try:
        yield from variants
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: unreadable VCF record ({error})") from None


def _support(record, sample: str | None, allele: int) -> tuple[int | None, int | None] | None:
    """None when the sample does not carry `allele`; else (depth, alt depth) where known."""
    fields = record.info
    if sample is not None:
        data = record.samples[sample]
        genotype = data.get("GT") or ()
        if allele not in genotype:
            return None
        fields = data
    depth = _value(fields, "DP")
    if "AD" in fields and fields["AD"] is not None and len(fields["AD"]) > allele and fields["AD"][allele] is not None:
        alt_depth = int(fields["AD"][allele])
        if depth is None:
            depth = int(sum(x for x in fields["AD"] if x is not None))
        return depth, alt_depth
    frequency = _value(fields, "AF", allele - 1)
    if depth is not None and frequency is not None:
        return depth, int(round(frequency * depth))
    return depth, None


def _value(fields, key: str, index: int = 0):
    try:
        value = fields[key]
    except (KeyError, ValueError):
        return None
    if isinstance(value, tuple):
        value = value[index] if len(value) > index else None
    return value


# --- writing ----------------------------------------------------------------------------


def write_vcf(handle, reference: Reference, header_lines: list[str], samples: list[str], sites: list,
              calls_by_site: dict, covered: dict, info_fields: list[tuple[str, str, str, str]],
              info_of) -> None:
    """A multi-sample VCF 4.3: one record per distinct variant, the model's numbers in INFO
    (`info_fields`: id, number, type, description; `info_of(site)` -> {id: value}), and per
    sample GT (1 carries it, 0 covered without it, . not covered), DP and AF."""
    handle.write("##fileformat=VCFv4.3\n")
    for line in header_lines:
        handle.write(f"##{line}\n")
    handle.write(f"##reference=file://{Path(reference.path).resolve()}\n")
    for chrom, sequence in reference.sequences.items():
        handle.write(f"##contig=<ID={chrom},length={len(sequence)}>\n")
    for key, number, kind, description in info_fields:
        handle.write(f'##INFO=<ID={key},Number={number},Type={kind},Description="{description}">\n')
    handle.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="1 carries the ALT allele, 0 covered without it, . not covered">\n')
    handle.write('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth at the site (reads input)">\n')
    handle.write('##FORMAT=<ID=AF,Number=A,Type=Float,Description="ALT allele frequency among the reads">\n')
    handle.write("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]) + "\n")
    for site in sites:
        info = ";".join(f"{k}={_vcf_value(v)}" for k, v in info_of(site).items() if v not in (None, ""))
        columns = [site.chrom, str(site.pos), ".", site.ref, site.alt, ".", "PASS", info or ".", "GT:DP:AF"]
        for sample in samples:
            call = calls_by_site.get((sample, site))
            if call is not None:
                depth = "." if call.depth is None else str(call.depth)
                frequency = "." if call.frequency is None else f"{call.frequency:.4f}"
                columns.append(f"1:{depth}:{frequency}")
            else:
                mask = covered.get(sample, {}).get(site.chrom)
                seen = mask is not None and bool(np.all(mask[max(site.pos - 1, 0) : site.pos - 1 + len(site.ref)]))
                columns.append("0:.:." if seen else ".:.:.")
        handle.write("\t".join(columns) + "\n")


def _vcf_value(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.4g}"
    # VCF INFO values may not hold spaces, semicolons, '=' or commas outside lists.
    return str(value).replace(" ", "_").replace(";", "|").replace("=", ":")
