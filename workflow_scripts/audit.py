"""`make audit`: list every artifact under results/ and re-derive a seeded sample of them.

    .venv/bin/python workflow_scripts/audit.py --configfile config.yaml [--sample 5 --seed 0]

See docs/audit.md; the code is in deepens/audit/. Exit status 0 only if every re-derived
artifact is bit-identical to the original and every recorded input hash still matches.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deepens.audit.dag import SnakemakeRunner, default_snakemake  # noqa: E402
from deepens.audit.rederive import DEFAULT_OUT, run_audit, summary_text  # noqa: E402
from deepens.provenance import workflow_root  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="audit", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--configfile", nargs="+", default=["config.yaml"],
                   help="the config files the results were made with, as given to snakemake")
    p.add_argument("--config", nargs="*", default=[], help="the --config KEY=VALUE overrides, if any")
    p.add_argument("--directory", default=".", help="the working directory that holds results/")
    p.add_argument("--snakefile", default=None, help="default: the Snakefile of this repository")
    p.add_argument("--sample", type=int, default=5, help="table/figure jobs to re-derive besides the run")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (which run, which tables/figures)")
    p.add_argument("--runs", type=int, default=1, help="full training runs to re-derive")
    p.add_argument("--include", nargs="*", default=[], help="artifacts whose jobs are re-derived in any case")
    p.add_argument("--skip-dataset", action="store_true", help="do not re-derive the run's dataset")
    p.add_argument("--out", default=DEFAULT_OUT, help="where manifest and report go (relative to --directory)")
    p.add_argument("--scratch", default=None, help="where jobs are re-derived (default: OUT/scratch)")
    p.add_argument("--keep-scratch", action="store_true",
                   help="keep every re-derived file (by default only jobs that differ are kept)")
    p.add_argument("--jobs", type=int, default=1, help="re-derivations run at once")
    p.add_argument("--cores", default="all", help="--cores of each re-derivation")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per re-derivation")
    p.add_argument("--snakemake", default=None, help="the snakemake executable")
    p.add_argument("--snakemake-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for every snakemake call (repeat), e.g. --snakemake-arg=--sdm=conda")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    workdir = Path(args.directory).resolve()
    configfiles = [Path(c) if Path(c).is_absolute() else (Path.cwd() / c).resolve() for c in args.configfile]
    for c in configfiles:
        if not c.is_file():
            print(f"audit: config file {c} not found", file=sys.stderr)
            return 2
    # The Snakefile's `configfile: "config.yaml"` directive loads the working directory's
    # config.yaml under the command-line files; scratch directories have none, so pass it.
    default = workdir / "config.yaml"
    if default.is_file() and default.resolve() not in configfiles:
        configfiles.insert(0, default)
    runner = SnakemakeRunner(
        snakefile=Path(args.snakefile).resolve() if args.snakefile else workflow_root() / "Snakefile",
        configfiles=configfiles, config=args.config, extra=args.snakemake_arg,
        executable=args.snakemake or default_snakemake(), cores=args.cores, timeout=args.timeout)
    print(f"audit of {workdir}/results with {', '.join(map(str, configfiles))}", flush=True)
    try:
        result = run_audit(workdir, runner, args.out, args.sample, args.seed, args.runs, args.include,
                           not args.skip_dataset, args.jobs, args.scratch, args.keep_scratch,
                           log=lambda m: print(m, flush=True))
    except (RuntimeError, ValueError) as err:
        print(f"audit: {err}", file=sys.stderr)
        return 2
    print(summary_text(result, time.time() - t0), flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
