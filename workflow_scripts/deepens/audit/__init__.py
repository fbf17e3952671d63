"""Audit the results: a manifest of every artifact, and a seeded re-derivation of a sample.

`make audit` runs workflow_scripts/audit.py. Modules: artifacts (kinds and embedded provenance),
compare, manifest, dag (Snakemake's view), rederive (the sample, re-derivation, the report). Three steps:

1. Manifest: every file under results/ (the audit's own folder and hidden files left out)
   with its kind, size, sha256 and provenance (Parquet key-value metadata, h5 attribute or
   the npz `meta` array), plus two checks that need no recomputation: Snakemake's own view
   of the file under the given config (`dag_status` from `--detailed-summary`) and lineage
   (every input hash the provenance recorded matches the input file present now).
2. Re-derivation: a seeded sample of jobs, each rerun by Snakemake (same Snakefile, same
   config files) in its own scratch directory that holds only hard links (or copies) of
   the job's inputs, with `--allowed-rules <rule>`, so exactly that job runs, from exactly
   the inputs the original used. The sample always holds one full training run (all its
   checkpoints and history), that run's prediction dump and the dataset, plus N sampled
   table and figure jobs.
3. Comparison of every re-derived file with the original, content-wise (see `compare_files`),
   and a report; `main` returns 0 only if everything re-derived is bit-identical and the
   lineage is intact.

No Snakemake import: Snakemake runs as a subprocess, like a user would run it.
"""
