"""`vqdna mutations`: variants against a reference and what each does to the HRQ tokens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from vqdna_cli.cli import options
from vqdna_cli.options import MutationsOptions


@options.expand
def command(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT", help="Genomes (FASTA, plain or gzip; - reads them from stdin), reads aligned to the reference (BAM/CRAM files, sorted and indexed) or variants (VCF/BCF files); any mix.", show_default=False)],
    reference: Annotated[Path, typer.Option("--reference", help="The reference FASTA file (e.g. NC_045512.2 for SARS-CoV-2) the variants are called against; not stdin, as it is read more than once.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder: variants.tsv, samples.tsv, summary.json (and variants.vcf or variants.vcf.gz, mutations.png).", show_default=False)],
    annotation: Annotated[Optional[Path], typer.Option("--annotation", help="GFF3 with CDS features: gene and amino-acid change (S:N501Y) per variant.", show_default=False)] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", metavar="FILE", help="TSV of sample and lineage: per-level nearest-neighbour lineage accuracy and silhouette.", show_default=False)] = None,
    label_column: Annotated[Optional[str], typer.Option("--label-column", metavar="NAME", help="The --labels column holding the lineage (the file then has a header; samples are in the first column). Default: the second column.", show_default=False)] = None,
    vcf: Annotated[bool, typer.Option("--vcf", help="Also write variants.vcf, the model numbers as INFO fields (VCF Floats: 6 significant digits).")] = False,
    vcf_gz: Annotated[bool, typer.Option("--vcf-gz", help="Write variants.vcf.gz (bgzip) and its tabix index variants.vcf.gz.tbi instead of variants.vcf (implies --vcf).")] = False,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw mutations.png (needs matplotlib: pip install 'vqdna[plot]').")] = True,
    min_depth: Annotated[int, typer.Option("--min-depth", metavar="N", min=1, help="Reads: fewest reads (passing --min-baseq) at a site to call it.")] = 10,
    min_af: Annotated[float, typer.Option("--min-af", metavar="X", min=0.0, max=1.0, help="Reads: smallest allele frequency to call a variant.")] = 0.2,
    min_baseq: Annotated[int, typer.Option("--min-baseq", metavar="N", min=0, help="Reads: lowest base quality that counts.")] = 20,
    min_mapq: Annotated[int, typer.Option("--min-mapq", metavar="N", min=0, max=255, help="Reads: lowest mapping quality that counts (0: every mapped read, as samtools mpileup).")] = 0,
    model: options.Model = None,
    given: options.Given = options.shared(*options.RUN),
    force: Annotated[bool, typer.Option("--force", "-f", help="Write into an existing output folder, replacing the files vqdna writes there (nothing else in it is touched).")] = False,
    quiet: options.Quiet = False,
) -> None:
    """Call variants against a reference and show what each does to the HRQ tokens.

    Inputs: assembled genomes (FASTA), reads aligned to the reference (BAM/CRAM) or VCF/BCF.

    Example: vqdna mutations --reference NC_045512.2.fasta --annotation genes.gff genomes.fa -o muts/
    """
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, counted, report

    wanted = MutationsOptions(reference, annotation=annotation, labels=labels, label_column=label_column, vcf=vcf,
                              vcf_gz=vcf_gz, plot=plot, min_depth=min_depth, min_af=min_af, min_baseq=min_baseq,
                              min_mapq=min_mapq)
    began = time.monotonic()
    with bases_progress("calling variants", quiet) as progress:
        summary = api.mutations(inputs, output, wanted, given.run(model), force=force, progress=progress,
                                on_stage=progress.stage)
    for notice in summary["notices"]:
        report(f"{notice}", quiet)
    seconds = time.monotonic() - began
    report(f"{counted(summary['variants'], 'variant')} ({summary['distinct_variants']:,} distinct) in "
           f"{counted(summary['samples'], 'sample')} in {seconds:.1f} s -> {output}", quiet)
