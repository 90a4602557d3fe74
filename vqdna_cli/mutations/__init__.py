"""`vqdna mutations`: variants against a reference, and what each does to the HRQ tokens.

    inputs --> align.py (genomes, minimap2) / pileup.py (reads) / vcf.py (VCF/BCF)
           --> variants.py (one normalised VCF-style form) --> annotate.py (GFF3: S:N501Y)
           --> effects.py (per distinct variant: token change per level, embedding shift,
               masked-token LLR) --> summary.py (per sample, lineage scores)
           --> report.py / plot.py (the output folder, written atomically)

`pipeline.run` ties them together; `api.mutations` is the entry point. What each number
means is written in effects.py and summary.py, and in docs/mutations.md.
"""
