"""`vqdna mutations` from inputs to the output folder (called through `api.mutations`)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.mutations import report
from vqdna_cli.mutations.variants import Call, Reference, ambiguous_end
from vqdna_cli.options import MutationsOptions

FORMAT = {"format": "vqdna-mutations", "format_version": 1}
GENOMES, READS, VARIANTS = "genomes", "reads", "vcf"


@dataclass
class Sample:
    name: str
    source: str
    kind: str
    calls: list[Call]
    covered: dict[str, np.ndarray] = field(default_factory=dict)  # genomes, reads: bases seen, per contig
    called: dict[str, set[int]] = field(default_factory=dict)  # VCF: positions its GT calls, per contig
    base_counts: dict[str, np.ndarray] = field(default_factory=dict)  # reads: ReadCalls.base_counts
    uncalled_indels: dict = field(default_factory=dict)  # reads: ReadCalls.uncalled_indels

    def reads_without_call(self, site) -> tuple[int, int] | None:
        """Reads input: (the depth at the site's first base (an indel's anchor) that variants
        are called on, reads carrying `site`) where the sample makes no call of it; None for
        other inputs."""
        from vqdna_cli.mutations.pileup import BASES

        if self.kind != READS:
            return None
        if site in self.uncalled_indels:
            return self.uncalled_indels[site]
        counts = self.base_counts.get(site.chrom)
        if counts is None:  # a contig without reads in the BAM
            return 0, 0
        at = counts[site.pos - 1]
        substitution = len(site.ref) == len(site.alt) == 1
        return int(at.sum()), int(at[BASES.index(site.alt)]) if substitution else 0

    def covers(self, site, ambiguous_until: int) -> bool:
        """Whether the sample is known to hold the reference or another allele over all of
        `site`'s REF bases (an indel's anchor base included) and, for a genome or reads, up to
        `ambiguous_until`, the end of the repeat an indel could be shifted through
        (`variants.ambiguous_end`, the same for every sample)."""
        start, end = site.pos - 1, site.pos - 1 + len(site.ref)
        mask = self.covered.get(site.chrom)
        if mask is not None:
            return bool(np.all(mask[start:ambiguous_until]))
        called = self.called.get(site.chrom, ())
        return all(position in called for position in range(start, end))


def input_kind(path: str) -> str:
    """genomes (FASTA), reads (BAM/SAM/CRAM) or vcf (VCF/BCF), from the content."""
    from vqdna_cli.io.sequences import SNIFF_BYTES, detect_format

    if not str(path).strip():  # Path("") would be the working folder
        raise InputError("an input path is empty (''): give a FASTA, BAM/CRAM or VCF/BCF file, or - for stdin")
    if Path(path).is_dir():
        raise InputError(f"input {path} is a folder; give a FASTA, BAM/CRAM or VCF/BCF file")
    if not Path(path).is_file():
        raise InputError(f"input file not found: {path}")
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    if not head.strip():
        raise InputError(f"input {path} is empty")
    kind = _content_kind(head, path)
    return kind or (READS if detect_format(path) == "alignment" else GENOMES)


def is_stdin_or_pipe(path: str) -> bool:
    from vqdna_cli.io.writers import is_special

    return str(path) == "-" or is_special(str(path))


def read_streamed(path: str) -> bytes:
    """The whole of stdin (`-`) or a pipe (`<(zcat genomes.fa.gz)`): genomes are parsed in
    memory anyway, so they can come from one. Reads and variants cannot (`stream_kind`)."""
    from vqdna_cli.io.fasta import stdin_bytes

    try:
        if path == "-":
            return stdin_bytes().read()
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None


def stream_kind(data: bytes, path: str) -> str:
    """The kind of what came on stdin or a pipe: only genomes (FASTA) can be used from one."""
    from vqdna_cli.io.sequences import SNIFF_BYTES, looks_like_alignment

    source = "stdin" if path == "-" else path
    kind = _content_kind(data[:SNIFF_BYTES], source)
    if kind is None and looks_like_alignment(data[:SNIFF_BYTES]):
        kind = READS
    if kind == READS:
        raise InputError(f"{source} holds reads (BAM/SAM/CRAM): mutations reads them only from a file, sorted and "
                         "indexed (the pileup needs the index); save them with `samtools sort -o reads.bam` and "
                         "`samtools index reads.bam` and give the file")
    if kind == VARIANTS:
        raise InputError(f"{source} holds variants (VCF/BCF): mutations reads them only from a file (htslib opens "
                         "them by name); save them to a file and give its path")
    return GENOMES


def _content_kind(head: bytes, path: str) -> str | None:
    """vcf from the content, refusing a VCF without its header; None when not a VCF."""
    from vqdna_cli.io.fasta import GZIP_MAGIC
    from vqdna_cli.io.sequences import gunzip_prefix

    if head.startswith(GZIP_MAGIC):
        head = gunzip_prefix(head, 4096)
    if head.startswith((b"##fileformat=VCF", b"BCF\x02", b"BCF\x04")):
        return VARIANTS
    _refuse_headerless_vcf(head, path)
    return None


_VCF_COLUMNS = b"#CHROM\tPOS\tID\tREF\tALT"


def _refuse_headerless_vcf(head: bytes, path: str) -> None:
    """A VCF whose `##` lines were cut (by grep, by hand) would be read as FASTA and
    called "not a FASTA file"; htslib needs at least the `##fileformat` line first."""
    first = head.split(b"\n", 1)[0]
    fields = first.split(b"\t")
    if first.startswith(_VCF_COLUMNS):
        missing = "the `##fileformat=VCFv4.2` line (and the other `##` header lines) before `#CHROM`"
    elif len(fields) >= 8 and fields[1].isdigit() and not first.startswith((b">", b"@")):
        missing = "its header: the `##fileformat=VCFv4.2` line and the `#CHROM POS ID REF ALT ...` line"
    else:
        return
    raise InputError(f"{path} looks like a VCF but lacks {missing}; add them, or take the header from the "
                     "original VCF (`bcftools view -h`)")


def read_labels(path: Path, column: str | None) -> dict[str, str]:
    from vqdna_cli.io.labelled import one_label_each, read_tsv_rows

    path = Path(path)
    if not path.is_file():
        raise InputError(f"labels file {path} does not exist")
    rows = read_tsv_rows(path)
    if not rows:
        raise InputError(f"labels file {path} is empty")
    if column is not None:
        header = rows[0][1]
        if column not in header:
            raise InputError(f"labels file {path} has no column {column!r} (its header: {', '.join(header)})")
        index, rows = header.index(column), rows[1:]
    else:
        index = 1
        if any(len(row) < 2 for _, row in rows):
            raise InputError(f"labels file {path}: every line needs a sample and a label, tab-separated")
    for number, row in rows:
        if len(row) <= index:
            raise InputError(f"labels file {path} line {number} has no column {index + 1}")
    return one_label_each(((number, row[0], row[index]) for number, row in rows), f"labels file {path}", "sample")


def _warn_unmatched_labels(path: Path, label_of: dict[str, str], names: list[str]) -> None:
    """Labels that name none of the samples leave the lineage scores empty, which looks
    like a result; the usual cause is names that differ (`hCoV-19/...` against `EPI_ISL_...`)."""
    if any(name in label_of for name in names):
        return
    warnings.warn(f"no sample in the labels file {path} matches a sample of the input, so there are no lineage "
                  f"scores (labels name {_a_few(list(label_of))}; the input has {_a_few(names)})", VqdnaWarning,
                  stacklevel=2)


def _a_few(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")


def _warn_read_filters_unused(options: MutationsOptions) -> None:
    """--min-depth, --min-af, --min-baseq and --min-mapq choose which reads' bases count: given
    without reads among the inputs (a rule passing them to every run, say) they change nothing."""
    given = [f"--{item.name.replace('_', '-')} {getattr(options, item.name):g}" for item in dataclasses.fields(options)
             if item.name in ("min_depth", "min_af", "min_baseq", "min_mapq")
             and getattr(options, item.name) != item.default]
    if given:
        warnings.warn(f"{', '.join(given)}: {'these apply' if len(given) > 1 else 'it applies'} to reads "
                      "(BAM/SAM/CRAM) only; no input is reads, so not used", VqdnaWarning, stacklevel=3)


def call_all(inputs: list[str], reference: Reference, filters, progress: Callable[[int], None]) -> list[Sample]:
    from vqdna_cli.mutations.align import GenomeAligner, read_genomes
    from vqdna_cli.mutations.pileup import call_reads
    from vqdna_cli.mutations.vcf import read_vcf

    streamed: dict[str, bytes] = {}  # stdin and pipes, read once
    kinds = []
    for path in inputs:  # all inputs checked before any work
        if is_stdin_or_pipe(path):
            if path in streamed:
                raise InputError(f"{path} is given twice: {'stdin' if path == '-' else 'a pipe'} can be read once")
            streamed[path] = read_streamed(path)
            kinds.append((path, stream_kind(streamed[path], path)))
        else:
            kinds.append((path, input_kind(path)))
    samples: list[Sample] = []
    aligner = None
    for path, kind in kinds:
        if kind == GENOMES:
            aligner = aligner or GenomeAligner(reference)
            for record in read_genomes(path, streamed.pop(path, None)):
                result = aligner.call(record, "stdin" if path == "-" else path)
                samples.append(Sample(result.sample, path, kind, result.calls, result.covered))
                progress(len(record))
        elif kind == READS:
            result = call_reads(path, reference, filters)
            samples.append(Sample(result.sample, path, kind, result.calls, result.covered,
                                  base_counts=result.base_counts, uncalled_indels=result.uncalled_indels))
            progress(sum(len(s) for s in reference.sequences.values()))
        else:
            for found in read_vcf(path, reference):
                samples.append(Sample(found.name, path, kind, found.calls, called=found.called))
    seen: dict[str, str] = {}
    for sample in samples:
        if sample.name in seen:
            raise InputError(f"sample {sample.name!r} comes twice (from {seen[sample.name]} and {sample.source}): "
                             "sample names must be distinct")
        seen[sample.name] = sample.source
    return samples


def _warn_unscored(effects: dict, window: int) -> None:
    """Indels too long for the model window get `.` for every model number: said, with a count."""
    unscored = sum(effect is None for effect in effects.values())
    if unscored:
        warnings.warn(f"{unscored:,} variant{'' if unscored == 1 else 's'} longer than the model window allows "
                      f"({window - 2:,} bases with one either side) {'has' if unscored == 1 else 'have'} no model "
                      "numbers ('.' in variants.tsv)", VqdnaWarning, stacklevel=2)


def run(inputs: list[str], output_dir: Path, options: MutationsOptions, *, runner_factory: Callable,
        batch_tokens: int, force: bool, progress: Callable[[int], None],
        on_stage: Callable[[str, int | None], None] = lambda label, total=None: None) -> dict:
    from vqdna_cli.mutations import plot as plotting
    from vqdna_cli.mutations.annotate import Annotator, read_gff
    from vqdna_cli.mutations.effects import PASSES, ScoringProgress, flank_for, site_effects
    from vqdna_cli.mutations.pileup import ReadFilters

    reference, annotation, labels = Path(options.reference), options.annotation, options.labels
    filters = ReadFilters.of(options)
    report.check_output_dir(output_dir, force, [*inputs, reference, annotation, labels])
    if not inputs:
        raise InputError("give at least one input: genomes (FASTA), reads (BAM/CRAM) or variants (VCF/BCF)")
    ref = Reference.load(reference)
    annotator = Annotator(read_gff(annotation, ref)) if annotation else None
    label_of = read_labels(labels, options.label_column) if labels else {}
    samples = call_all(inputs, ref, filters, progress)
    reads = any(sample.kind == READS for sample in samples)
    if not reads:
        _warn_read_filters_unused(options)
    if label_of:
        _warn_unmatched_labels(labels, label_of, [sample.name for sample in samples])
    runner = runner_factory()
    sites = sorted({call.site for sample in samples for call in sample.calls})
    scoring = f"scoring {len(sites):,} variant site{'' if len(sites) == 1 else 's'}"  # most of a run's time
    on_stage(scoring, None)
    passes = ScoringProgress(begin=lambda number, name, total: on_stage(f"{scoring}, pass {number} of {PASSES} "
                                                                       f"({name})", total),
                             done=progress)
    effects = site_effects(runner, ref.sequences, sites, batch_tokens, passes)
    _warn_unscored(effects, runner.window)
    flank = flank_for(runner.window)
    if annotator:
        for sample in samples:
            annotator.annotate(sample.calls)
    described = runner.describe(batch_tokens=batch_tokens)
    levels = runner.levels
    sizes = list(runner.model.cfg.quantizer.codebook_sizes)
    comment = (f"vqdna {described['vqdna_version']} model {described['model_hash']} reference {Path(reference).name} "
               f"flank {flank} precision {described['transformer_precision']} batch_tokens {batch_tokens}")
    notices = []
    with report.atomic_directory(output_dir, force) as work:
        report.write_table(work / "variants.tsv", comment, _variant_header(levels),
                           [_variant_row(sample, call, effects[call.site], levels) for sample in samples for call in sample.calls])
        sample_rows, summaries, deltas = [], {}, {}
        for sample in samples:
            row, summary, delta = _sample_summary(sample, effects, levels, sizes, label_of)
            sample_rows.append(row)
            summaries[sample.name] = summary
            deltas[sample.name] = delta
        report.write_table(work / "samples.tsv", comment, _sample_header(levels), sample_rows)
        names = [s.name for s in samples]
        matrices = [_embedding(names, deltas, level, size) for level, size in enumerate(sizes)]
        if len(samples) > 1:
            for name in names:
                summaries[name]["embedding"] = {f"level{level + 1}": {str(k): v for k, v in sorted(deltas[name][level].items())}
                                                for level in range(levels)}
        lineage = _lineage(samples, label_of, matrices, labels)
        if lineage is not None:  # which column of the labels file: who_label and pango score differently
            lineage = {"labels": lineage.pop("labels"), "label_column": options.label_column, **lineage}
        summary = {**FORMAT, **described, "reference": str(reference), "annotation": str(annotation) if annotation else None,
                   "inputs": inputs, "flank": flank, "read_filters": dataclasses.asdict(filters) if reads else None,
                   "samples": summaries, "distinct_variants": len(sites), "lineage": lineage,
                   "definitions": _DEFINITIONS}
        report.write_json(work / "summary.json", summary)
        if options.vcf or options.vcf_gz:
            _write_vcf(work / ("variants.vcf.gz" if options.vcf_gz else "variants.vcf"), ref, comment, samples, sites,
                       effects, levels)
        if options.plot:
            if plotting.available():
                from vqdna_cli.mutations.summary import projection

                plotting.draw(work / "mutations.png", names, {n: label_of[n] for n in names if n in label_of},
                              max(len(s) for s in ref.sequences.values()),
                              {s.name: [(c.site.pos, effects[c.site].window_changed) for c in s.calls if effects[c.site]]
                               for s in samples},
                              [projection(m) for m in matrices],
                              annotator.gene_spans() if annotator else None, made_by=comment)
            else:
                notices.append(plotting.MISSING)
    return {"samples": len(samples), "variants": sum(len(s.calls) for s in samples), "distinct_variants": len(sites),
            "lineage": lineage, "notices": notices}


_DEFINITIONS = {
    "pos": "1-based; an indel is written as VCF does, with the base before it on both sides",
    "Lk_site_changed": "1 when the HRQ level-k token of the substituted base (indel: of the base before or after it) differs",
    "Lk_window_changed": "tokens of level k that differ between the reference and variant windows, aligned by the variant",
    "embedding_shift": "1 - cosine similarity of the mean-pooled Transformer outputs of the two windows",
    "llr": "sum over levels of log p(variant tokens) - log p(reference tokens) at the masked changed span",
    "embedding": "per level: the codes a genome's variants add (+) or remove (-) against the reference",
    "lineage": "leave-one-out nearest-neighbour accuracy and silhouette over the labelled genomes (Euclidean)",
}


def _variant_header(levels: int) -> list[str]:
    per_level = [f"L{k}_{name}" for k in range(1, levels + 1) for name in ("site_changed", "window_changed", "llr")]
    return ["sample", "chrom", "pos", "ref", "alt", "type", "change", "depth", "alt_depth", "allele_frequency",
            "gene", "protein", "effect", *per_level, "embedding_shift", "llr"]


def _variant_row(sample: Sample, call: Call, effect, levels: int) -> list:
    site = call.site
    per_level = []
    for k in range(levels):
        per_level += [effect.site_changed[k], effect.window_changed[k], effect.llr_levels[k]] if effect else [None] * 3
    annotation = call.annotation
    return [sample.name, site.chrom, site.pos, site.ref, site.alt, site.kind, site.label(), call.depth, call.alt_depth,
            call.frequency, annotation.get("gene") or ".", annotation.get("protein") or ".",
            annotation.get("effect") or ".", *per_level, effect and effect.embedding_shift, effect and effect.llr]


def _sample_header(levels: int) -> list[str]:
    per_level = [f"L{k}_{name}" for k in range(1, levels + 1)
                 for name in ("sites_changed", "mean_window_changed", "tokens_changed")]
    return ["sample", "input", "label", "variants", "snv", "insertion", "deletion", "other", "covered_bases",
            *per_level, "mean_embedding_shift", "mean_llr"]


def _sample_summary(sample: Sample, effects: dict, levels: int, sizes: list[int], label_of: dict) -> tuple:
    kinds = [c.site.kind for c in sample.calls]
    n_all = len(sample.calls)
    calls = [c for c in sample.calls if effects[c.site] is not None]  # the model numbers skip over-long indels
    n = len(calls)
    covered = int(sum(int(m.sum()) for m in sample.covered.values())) if sample.covered else None
    per_level, level_summary = [], {}
    delta = [dict() for _ in sizes]
    # no variant scored (each an indel longer than the window): no number, not a 0 that reads as
    # "changed nothing"; a sample without variants changed nothing indeed
    unscored = None if n_all else 0.0

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if n else unscored

    for k in range(levels):
        site_share = mean([effects[c.site].site_changed[k] for c in calls])
        windows = [effects[c.site].window_changed[k] for c in calls]
        mean_window = mean(windows)
        tokens = int(sum(windows)) if n or not n_all else None
        per_level += [site_share, mean_window, tokens]
        level_summary[f"level{k + 1}"] = {"sites_changed": _rounded(site_share, 4),
                                          "mean_window_changed": _rounded(mean_window, 4), "tokens_changed": tokens}
        for c in calls:
            for code, count in effects[c.site].delta[k].items():
                delta[k][code] = delta[k].get(code, 0) + count
        delta[k] = {code: count for code, count in delta[k].items() if count}
    shift = mean([effects[c.site].embedding_shift for c in calls])
    llr = mean([effects[c.site].llr for c in calls])
    counts = {kind: kinds.count(kind) for kind in ("snv", "insertion", "deletion")}
    other = n_all - sum(counts.values())
    row = [sample.name, sample.source, label_of.get(sample.name), n_all, counts["snv"], counts["insertion"],
           counts["deletion"], other, covered, *per_level, shift, llr]
    summary = {"input": sample.source, "kind": sample.kind, "label": label_of.get(sample.name), "variants": n_all,
               **counts, "other": other, "covered_bases": covered, "levels": level_summary,
               "scored_variants": n, "mean_embedding_shift": _rounded(shift, 6), "mean_llr": _rounded(llr, 4)}
    return row, summary, delta


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _embedding(names: list[str], deltas: dict, level: int, size: int) -> np.ndarray:
    from vqdna_cli.mutations.summary import embedding_matrix

    return embedding_matrix(names, deltas, level, size)


def _lineage(samples: list[Sample], label_of: dict, matrices: list[np.ndarray], labels_path) -> dict | None:
    from vqdna_cli.mutations.summary import lineage_scores, variant_matrix

    if not labels_path:
        return None
    rows = [i for i, s in enumerate(samples) if s.name in label_of]
    labels = [label_of[samples[i].name] for i in rows]
    result = {"labels": str(labels_path), "labelled_samples": len(rows), "unlabelled_samples": len(samples) - len(rows),
              "lineages": len(set(labels))}
    if len(rows) < 3 or len(set(labels)) < 2:
        result["note"] = "needs at least 3 labelled genomes of at least 2 lineages"
        return result
    if max(labels.count(label) for label in set(labels)) < 2:  # no genome has a lineage mate to find
        result["note"] = "needs a lineage with at least 2 labelled genomes: with one genome each, accuracy and " \
                         "silhouette are undefined"
        return result
    for level, matrix in enumerate(matrices):
        result[f"level{level + 1}"] = lineage_scores(matrix[rows], labels)
    sets = {samples[i].name: {c.site for c in samples[i].calls} for i in rows}
    result["baseline_variants"] = lineage_scores(variant_matrix([samples[i].name for i in rows], sets), labels)
    return result


def _write_vcf(path: Path, reference: Reference, comment: str, samples: list[Sample], sites: list, effects: dict,
               levels: int) -> None:
    """variants.vcf (variants.vcf.gz: bgzip and tabix): INFO keys are VCF's reserved ones
    only where they mean what VCF reserves them for (DP and AF, kept from an input VCF);
    the protein change is not AA, which VCF reserves for the ancestral allele."""
    from vqdna_cli.mutations.annotate import so_terms
    from vqdna_cli.mutations.vcf_out import write_vcf

    calls_by_site = {(s.name, c.site): c for s in samples for c in s.calls}
    by_name = {s.name: s for s in samples}
    ambiguous_until = {site: ambiguous_end(reference.sequences[site.chrom], site) for site in sites}
    # Per site, the distinct values over the samples that carry it, in sample order.
    per_site: dict = {}
    for s in samples:
        for c in s.calls:
            found = per_site.setdefault(c.site, {"GENE": {}, "PROTEIN": {}, "HGVSP": {}, "EFFECT": {}, "DP": {}, "AF": {}})
            for gene in filter(None, c.annotation.get("gene", "").split(",")):
                found["GENE"][gene] = None
            for protein in filter(None, c.annotation.get("protein", "").split(",")):
                found["PROTEIN"][protein] = None
            for hgvs in c.annotation.get("hgvs_p", []):
                found["HGVSP"][hgvs] = None
            for term in so_terms(c.annotation.get("effect", "")):
                found["EFFECT"][term] = None
            for key, value in c.site_info.items():
                found[key][value] = None
    fields = [("TYPE", "1", "String", "snv, mnv, insertion, deletion or complex"),
              ("GENE", ".", "String", "Genes (CDS of --annotation) the variant lies in"),
              ("PROTEIN", ".", "String", "Amino-acid changes as variants.tsv writes them (S:N501Y), over the samples carrying the variant "
               "(another variant in the same codon can change it: variants.tsv gives each sample's)"),
              ("HGVSP", ".", "String", "Amino-acid changes in HGVS.p, the gene naming the protein (S:p.Asn501Tyr)"),
              ("EFFECT", ".", "String", "Sequence Ontology terms of the effect (missense_variant, frameshift_variant, ...)"),
              ("DP", "1", "Integer", "Combined depth, INFO/DP of the input VCF (kept when its inputs agree)"),
              ("AF", "A", "Float", "Allele frequency, INFO/AF of the input VCF (kept when its inputs agree)")]
    for k in range(1, levels + 1):
        fields += [(f"L{k}_SITE", "1", "Integer", f"1 when the level-{k} token at the site changed"),
                   (f"L{k}_WINDOW", "1", "Integer", f"Level-{k} tokens changed in the window"),
                   (f"L{k}_LLR", "1", "Float", f"Level-{k} masked-token log-likelihood ratio, variant against reference")]
    fields += [("ESHIFT", "1", "Float", "Embedding shift: 1 - cosine of the pooled Transformer outputs"),
               ("LLR", "1", "Float", "Masked-token log-likelihood ratio summed over levels")]

    def info_of(site):
        e = effects[site]
        found = per_site.get(site, {})
        values = {"TYPE": site.kind, **{key: list(found.get(key, {})) for key in ("GENE", "PROTEIN", "HGVSP", "EFFECT")}}
        for key in ("DP", "AF"):
            if len(found.get(key, {})) == 1:  # inputs that disagree give none
                value = next(iter(found[key]))
                values[key] = [value] if key == "AF" else value
        if e is None:
            return values
        for k in range(levels):
            values[f"L{k + 1}_SITE"] = int(e.site_changed[k])
            values[f"L{k + 1}_WINDOW"] = e.window_changed[k]
            values[f"L{k + 1}_LLR"] = round(e.llr_levels[k], 4)
        values["ESHIFT"] = float(f"{e.embedding_shift:.6g}")  # small: 6 significant digits, not 6 decimals
        values["LLR"] = round(e.llr, 4)
        return values

    write_vcf(path, reference, [f"source={comment}"], [s.name for s in samples], sites, calls_by_site,
              lambda name, site: by_name[name].covers(site, ambiguous_until[site]), fields, info_of,
              lambda name, site: by_name[name].reads_without_call(site))
