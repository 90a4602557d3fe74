"""The VCF `vqdna mutations --vcf` writes: one record per distinct variant, the model's
numbers in INFO, per sample GT:DP:AF."""

from __future__ import annotations

from pathlib import Path

import pysam

from vqdna_cli.mutations.variants import Reference


def write_vcf(path: Path, reference: Reference, header_lines: list[str], samples: list[str], sites: list,
              calls_by_site: dict, covers, info_fields: list[tuple[str, str, str, str]], info_of,
              reads_without_call=lambda sample, site: None) -> None:
    """A multi-sample VCF written by htslib (pysam): one record per distinct variant, in the
    reference's contig order, the model's numbers in INFO (`info_fields`: id, number, type,
    description; `info_of(site)` -> {id: value, or a list for Number=.}), and per sample GT
    (1 carries it, 0 covered without it (`covers(sample, site)`), . not covered), DP and AF:
    the call's, or for reads without a call what `reads_without_call(sample, site)` gives
    ((depth, ALT reads), None for genomes and VCFs), so a 0 says how many reads back it. A
    `path` ending in `.gz` is written BGZF-compressed with a tabix index beside it (`.gz.tbi`)."""
    header = _header(reference, header_lines, samples, info_fields)
    compressed = str(path).endswith(".gz")
    order = {chrom: number for number, chrom in enumerate(reference.sequences)}
    with pysam.VariantFile(str(path), "wz" if compressed else "w", header=header) as out:
        for site in sorted(sites, key=lambda s: (order[s.chrom], s.pos, s.ref, s.alt)):
            info = {key: _info_value(value) for key, value in info_of(site).items() if value not in (None, "", [])}
            record = out.new_record(contig=site.chrom, start=site.pos - 1, alleles=(site.ref, site.alt),
                                    filter="PASS", info=info)
            for sample in samples:
                call = calls_by_site.get((sample, site))
                _set_sample(record.samples[sample], call, covers(sample, site),
                            None if call is not None else reads_without_call(sample, site))
            out.write(record)
    if compressed:
        pysam.tabix_index(str(path), preset="vcf", force=True)


def _header(reference: Reference, header_lines: list[str], samples: list[str],
            info_fields: list[tuple[str, str, str, str]]) -> pysam.VariantHeader:
    header = pysam.VariantHeader()
    for line in header_lines:
        header.add_line(f"##{line}")
    # As given, as bcftools writes it: the run folder (a Nextflow task's) stays out of the bytes
    header.add_line(f"##reference=file://{reference.path}")
    for chrom, sequence in reference.sequences.items():
        header.contigs.add(chrom, length=len(sequence))
    for key, number, kind, description in info_fields:
        header.info.add(key, number, kind, description)
    header.formats.add("GT", 1, "String", "1 carries the ALT allele, 0 covered without it, . not covered")
    header.formats.add("DP", 1, "Integer", "Read depth at the site (reads input)")
    header.formats.add("AF", "A", "Float", "ALT allele frequency among the reads, or as the input VCF gave it")
    for sample in samples:
        header.add_sample(sample)
    return header


def _set_sample(fields, call, covered: bool, reads: tuple[int, int] | None) -> None:
    if call is None:
        fields["GT"] = (0,) if covered else (None,)
        if reads is not None:
            depth, carrying = reads
            fields["DP"] = depth
            if depth:
                fields["AF"] = (round(carrying / depth, 4),)
        return
    fields["GT"] = (1,)
    if call.depth is not None:
        fields["DP"] = call.depth
    if call.frequency is not None:
        fields["AF"] = (round(call.frequency, 4),)


def _info_value(value):
    if isinstance(value, list):
        return tuple(_info_value(v) for v in value)
    if isinstance(value, bool):
        return int(value)
    return _info_text(value) if isinstance(value, str) else value


# VCF INFO values may not hold whitespace, ';', '=' or ',' (outside lists): percent-encoded
# as VCF 4.3 says and VEP does (a synonymous HGVS.p, p.Phe924=, is written p.Phe924%3D).
_ESCAPES = {"%": "%25", ";": "%3B", "=": "%3D", ",": "%2C", " ": "%20", "\t": "%09"}


def _info_text(value) -> str:
    return "".join(_ESCAPES.get(character, character) for character in str(value))
