"""Rule evaluate_solution: every subspace method's samples, every member under dataset shift and on
the out-of-distribution sets (deepens.nets.subspace_sampling)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import _tfjob  # noqa: E402
from deepens.data import load_dataset  # noqa: E402
from deepens.nets.subspace_sampling import evaluate_solution  # noqa: E402
from deepens.ood import load_ood_set  # noqa: E402
from deepens.shift import load_shift_set  # noqa: E402

prov = _tfjob.start(snakemake, snakemake.params.intra_op_threads, snakemake.params.inter_op_threads)  # noqa: F821
w, p, i, out = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output  # noqa: F821
s, shift, ood = p.settings, p.settings["shift"], p.settings["ood"]
checkpoints = dict(zip(s["epochs"], i.checkpoints))
dataset = load_dataset(i.dataset)
sets = None if shift is None else {c: load_shift_set(path, dataset.y_test)
                                   for c, path in zip(shift["corruptions"], i.shift_sets)}
ood_sets = None if ood is None else {name: load_ood_set(path) for name, path in zip(ood["sets"], i.ood_sets)}


def record(output):
    """The provenance of one output: only the settings and inputs it depends on, so changing one
    method's settings (or adding one) leaves every other output byte-identical."""
    kind, _, name = output.partition("_")
    method = s["methods"].get(name)
    solution = {"final_epoch": s["final_epoch"], "late_epochs": s["late_epochs"], "rank": s["rank"],
                "recompute_batch_norm": s["recompute_batch_norm"], "bn_examples": s["bn_examples"]}
    epochs = [s["final_epoch"], *s["late_epochs"]]
    settings = {**solution, "method": {name: method}}
    if kind in ("shift", "ood"):
        # a method's member is its ensemble samples: the plane samples' settings do not reach it
        member, sets = (shift, "corruptions") if kind == "shift" else (ood, "sets")
        settings["method"] = {name: {k: v for k, v in (method or {}).items() if not k.startswith("plane_")}}
        settings[kind] = {sets: member[sets], "samples": member["samples"]}
        if name == "snapshot":
            settings = {"snapshot_epochs": member["snapshot_epochs"], kind: settings[kind]}
            epochs = member["snapshot_epochs"]
        elif name == "final":
            settings = {"final_epoch": s["final_epoch"], kind: settings[kind]}
            epochs = [s["final_epoch"]]
    inputs = [i.dataset, *(checkpoints[e] for e in sorted(set(epochs)))]
    if kind in ("shift", "ood"):
        inputs += list(i.shift_sets if kind == "shift" else i.ood_sets)
    params = {"code": p.code, "device": p.device, "batch_size": p.batch_size, "intra_op_threads": p.intra_op_threads,
              "inter_op_threads": p.inter_op_threads, "settings": settings}
    return prov.record(params=params, inputs=inputs)


evaluate_solution(
    dataset=dataset, checkpoint_paths=checkpoints, final_epoch=s["final_epoch"], seed=int(w.seed),
    late_epochs=s["late_epochs"], methods=dict(s["methods"]),
    sample_paths={m: out[f"samples_{m}"] for m in s["methods"]}, shift_sets=sets,
    shift_paths={m: out[f"shift_{m}"] for m in (shift["members"] if shift else [])},
    shift_samples=(shift or ood or {}).get("samples"), snapshot_epochs=(shift or ood or {}).get("snapshot_epochs", []),
    ood_sets=ood_sets, ood_paths={m: out[f"ood_{m}"] for m in (ood["members"] if ood else [])},
    batch_size=p.batch_size, intra_op_threads=p.intra_op_threads, inter_op_threads=p.inter_op_threads,
    rank=s["rank"], recompute_batch_norm=s["recompute_batch_norm"], bn_examples=s["bn_examples"],
    provenance=record)
