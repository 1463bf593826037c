"""`tune(cfg, budget) -> TuneResult`: sensitivity -> greedy search -> tuned YAML -> QAT -> report.

    trained 8-bit model (hwflow.train, cached)
      |  sensitivity: one layer/role narrowed (or pruned) at a time, tuning slice, no retraining
      |  search: greedy, drop vs float <= budget (+ slack), state.json after every point
      v
    hls_configs/<model>_tuned.yaml  (quantization.layers + prune.layers overrides; a normal flow config)
      |  hwflow.train on the tuned config: cached float baseline -> fold -> QAT at the new widths
      |  (from the 8-bit QAT weights, magnitude-pruned to prune.layers, with a frozen mask)
      |  optional: hwflow.flow.run (models..parity: convert + C-sim parity on parity.images test images)
      v
    build/<model>/reports/tune.md, tune.json, tune_sensitivity.{png,json}, tune_pareto.png
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwflow.config import FlowConfig, load_config
from hwflow.errors import ConfigError
from hwflow.paths import ModelPaths, write_text_atomic

DEFAULT_WEIGHT_BITS = (6, 5, 4, 3, 2)
DEFAULT_ACT_BITS = (6, 5, 4, 3)
DEFAULT_SPARSITY = (0.5, 0.75, 0.9)
COST_METRIC = ("50 x MAC-weighted bits [sum of MACs x density x (weight + activation bits)] + 50 x stored "
               "weight bits [weights x density x weight bits], density = 1 - sparsity, each relative to the "
               "baseline (baseline = 100)")


@dataclass
class TuneResult:
    name: str
    budget: float
    slice_images: int
    test_images: int
    float_acc: float  # all test images
    infos: list
    base: dict  # baseline point
    point: dict  # chosen point
    visited: list
    rows: list  # one per model variant: label, mean_weight_bits, cost, qkeras, csim, qkeras_unseen
    yaml_path: Path
    sensitivity_png: Path
    pareto_png: Path
    report_md: Path
    cost_metric: str = COST_METRIC
    sensitivity_points: int = 0
    sensitivity_s: float = 0.0
    search_s: float = 0.0
    qat_s: float = 0.0
    estimates: list = field(default_factory=list)
    within_budget: bool | None = None  # QKeras after QAT, all test images
    slice_split: str = "test"  # where the tuning slice comes from: "validation" (data.validation) or "test"
    unseen_images: int = 0  # test images the search never evaluated
    engine: str = "qkeras"  # what computed the search's accuracies (see tune(engine=))
    engine_check: dict | None = None  # "auto": firmware vs QKeras prediction agreement, baseline and chosen
    sparsities: tuple = ()  # candidate sparsities searched (empty: widths only)
    sparsity_after_qat: dict = field(default_factory=dict)  # measured share of zeros per pruned layer


def _key(cfg: FlowConfig, *parts) -> str:
    return hashlib.sha256(json.dumps([cfg.fingerprint(), *parts], default=str).encode()).hexdigest()[:16]


def _check_bits(bits, what: str) -> list[int]:
    bits = sorted({int(b) for b in bits}, reverse=True)
    if not bits or any(not 2 <= b <= 16 for b in bits):
        raise ConfigError(f"tune --{what}: widths must be integers in 2..16, got {bits}")
    return bits


def _check_sparsity(values) -> tuple[float, ...]:
    """Candidate sparsities, ascending; 0 entries dropped (none left: no sparsity search)."""
    vals = sorted({round(float(v), 6) for v in values if float(v) != 0})
    if any(not 0 < v <= 0.99 for v in vals):
        raise ConfigError(f"tune --sparsity: shares of zero weights in (0, 0.99], got {vals} (0 or no value: off)")
    return tuple(vals)


def _accuracy(model, x, y) -> float:
    from hwflow.train import accuracy

    return accuracy(model, x, y)


def _estimate(cfg: FlowConfig, qmodel, label: str) -> dict:
    from hwflow.convert import to_hls_model
    from hwflow.estimate import estimate

    est = estimate(to_hls_model(cfg, qmodel), cfg.hls.board, cfg.hls.clock_period_ns)
    return {"label": label, "totals": {k: int(v) for k, v in est.totals.items()}}


ENGINES = ("auto", "emulate", "qkeras")


def tune(cfg: FlowConfig, budget: float, *, slice_images: int = 1000, weight_bits=DEFAULT_WEIGHT_BITS,
         act_bits=DEFAULT_ACT_BITS, slack: float = 0.0, out: Path | None = None, qat: bool = True,
         hls: bool = False, estimate_resources: bool = True, engine: str = "auto",
         sparsity=DEFAULT_SPARSITY) -> TuneResult:
    """Search per-layer widths with top-1 drop <= `budget` points vs float; write `<name>_tuned.yaml`.

    `sparsity`: candidate shares of zero weights per prunable layer (not depthwise, not in the
    config's prune.exclude), searched beside the widths: a point's sparsity is tried by
    magnitude-pruning that layer's trained kernel (no retraining); the chosen ones are written
    as prune.layers, so the tuned config's QAT prunes the same weights and keeps them zero.
    Empty (or only 0): widths only, as before the sparsity search.

    `slack`: extra points the no-retraining search may lose, expecting the final QAT to win
    them back (the final QAT accuracy is what `within_budget` reports). `hls`: also run the
    tuned config through convert + C-sim parity (`hwflow hls`).

    `engine`: what computes each point's accuracy. "emulate": the firmware itself (hls4ml
    conversion + bit-exact emulator) for every point; "qkeras": the QKeras model only; "auto"
    (default): QKeras for the search, and the firmware (emulator) predictions on the tuning slice
    for the baseline and the chosen point, which must agree image for image with QKeras' (else
    the search is redone with the emulator, so every number is the firmware's)."""
    from hwflow import prune
    from hwflow.flow import stage_models
    from hwflow.train import build_models, train
    from hwflow.tune import report, search, space
    from hwflow.zoo.layers import kernel_layer_names

    if budget < 0:
        raise ConfigError(f"tune --budget: must be >= 0 points, got {budget}")
    if engine not in ENGINES:
        raise ConfigError(f"tune --engine: {engine!r} is not valid; valid: {', '.join(ENGINES)}")
    weight_bits, act_bits = _check_bits(weight_bits, "weight-bits"), _check_bits(act_bits, "act-bits")
    sparsities = _check_sparsity(sparsity)
    if cfg.model.file is not None:
        from hwflow import usermodel

        if usermodel.is_qkeras(usermodel.float_model_of(cfg)):  # its quantizers are its own: no widths to search
            raise ConfigError(f"{cfg.path}: model.file {cfg.model.file.name} is a QKeras model; tune searches the "
                              f"widths of the twin hwflow builds from a float Keras model: give the float model file")
        if sparsities:  # hwflow.train's model-file path does not prune: a prune.layers there would be ignored
            print(f"  {cfg.name}: model.file: no sparsity search (pruning applies to zoo models only)", flush=True)
            sparsities = ()
    ds, tm = stage_models(cfg)
    if tm.float_accuracy is None:
        raise ConfigError(f"{cfg.path}: train.epochs is 0; tuning needs a trained model")
    n_test = len(ds.x_test)
    # The search evaluates on held-out training images when the config has `data.validation`, so
    # the test images stay unseen until the final numbers; otherwise on part of the test split.
    split, xp, yp = ("validation", ds.x_val, ds.y_val) if ds.has_validation else ("test", ds.x_test, ds.y_test)
    if not 1 <= slice_images <= len(xp):
        raise ConfigError(f"tune --slice: must be 1..{len(xp)} ({split} images), got {slice_images}")
    # a seeded random subset: test folders are read class by class, so "the last N" would be a few classes
    order = np.random.default_rng(cfg.train.seed).permutation(len(xp))
    xs, ys = xp[order[:slice_images]], yp[order[:slice_images]]
    if split == "validation":
        xu, yu = ds.x_test, ds.y_test
    else:
        xu, yu = ds.x_test[order[slice_images:]], ds.y_test[order[slice_images:]]

    paths = ModelPaths.for_model(cfg.name)
    names = kernel_layer_names(tm.qmodel)
    infos = space.layer_infos(tm.qmodel, names, never_pruned=cfg.prune.exclude)
    # the trained model's own sparsity (a config with a prune section) is the baseline's
    base = space.base_point(tm.plan, infos, prune.plan_for(cfg, tm.qmodel) if cfg.model.file is None else {})
    _, work = build_models(cfg, tm.plan)  # a private copy whose quantizers the search swaps
    work.set_weights(tm.qmodel.get_weights())
    firmware = search.FirmwareEvaluator(cfg, tm.qmodel, tm.plan, xs, ys)
    state_key = [str(tm.weights_dir), f"random-{split}-slice", slice_images, weight_bits, act_bits]
    if sparsities:  # without them the key is the one of a widths-only search (its state files resume)
        state_key.append(["sparsity", list(sparsities)])

    def explore(evaluate):
        """Sensitivity (+ its JSON and heat map) and the search with one evaluator; resumable."""
        state = search.State.load(paths.root / "tune" / "state.json", _key(cfg, *state_key, evaluate.engine))
        state.upgrade(base)  # a state file from before the sparsity search: its points kept the trained sparsity
        for v in state.visited:  # costs of such a file predate the density term (same numbers when unpruned)
            v["cost"] = space.cost(v["point"], infos, base)
        if state.float_acc is None:
            state.float_acc, state.base_acc = _accuracy(tm.float_model, xs, ys), evaluate(base)
            state.save()
        print(f"  {cfg.name}: tuning slice {slice_images} {split} images ({evaluate.engine}): float "
              f"{100 * state.float_acc:.2f}%, 8-bit QKeras {100 * state.base_acc:.2f}%", flush=True)
        t0 = time.perf_counter()
        search.sensitivity(state, evaluate, infos, base, weight_bits, act_bits, sparsities)
        t_sens = time.perf_counter() - t0
        table = report.sensitivity_table(state, infos, base, weight_bits, act_bits, sparsities)
        report.write_json(paths.reports / "tune_sensitivity.json", table)
        png = report.plot_sensitivity(table, infos, weight_bits, act_bits, paths.reports / "tune_sensitivity.png",
                                      f"{cfg.name}: per-layer sensitivity ({slice_images} {split} images)", sparsities)
        t0 = time.perf_counter()
        chosen = search.search(state, evaluate, infos, base, budget + slack, weight_bits, act_bits, sparsities)
        return state, chosen, png, t_sens, time.perf_counter() - t0

    evaluate = firmware if engine == "emulate" else search.Evaluator(work, tm.plan, xs, ys)
    state, point, sens_png, t_sens, t_search = explore(evaluate)
    engine_check = None
    if engine == "auto":
        # the firmware's predictions for the two points that matter, against QKeras'
        agree = [float(np.mean(firmware.predictions(p) == evaluate.predictions(p))) for p in (base, point)]
        engine_check = {"baseline_agreement": agree[0], "chosen_agreement": agree[1]}
        print(f"  firmware (emulator) vs QKeras predictions on the slice: baseline {100 * agree[0]:.2f}%, "
              f"chosen point {100 * agree[1]:.2f}% identical", flush=True)
        if min(agree) < 1.0:
            print("  they differ: redoing the search with the emulator for every point", flush=True)
            evaluate = firmware
            state, point, sens_png, t_sens_fw, t_search_fw = explore(evaluate)
            t_sens, t_search = t_sens + t_sens_fw, t_search + t_search_fw

    out = Path(out) if out else cfg.path.parent / f"{cfg.name}_tuned.yaml"
    flags = (f"--budget {budget:g}" + (f" --slack {slack:g}" if slack else "")
             + (f" --sparsity {' '.join(f'{v:g}' for v in sparsities)}" if sparsities else " --sparsity 0"))
    pruned = space.prune_overrides(point, base)
    note = (f"Written by `hwflow tune --config {cfg.path.name} {flags}`: per-layer widths"
            f"{' and sparsities' if sparsities else ''} searched on {slice_images} {split} images\n(cost: "
            f"{COST_METRIC});\nmean weight width {space.mean_weight_bits(point, infos):.2f} bits, "
            f"{100 * space.mean_sparsity(point, infos):.1f}% of the kernel weights zero"
            f"{f' ({len(pruned)} layers pruned by the search)' if pruned else ''}. "
            f"Report: build/{cfg.name}/reports/tune.md")
    report.write_tuned_yaml(cfg, space.yaml_overrides(point, tm.plan, base), out, note, prune_layers=pruned)

    rows = [{"label": "baseline (8-bit QAT)", "mean_weight_bits": space.mean_weight_bits(base, infos), "cost": 100.0,
             "sparsity": space.mean_sparsity(base, infos),
             "qkeras": tm.qkeras_accuracy, "qkeras_unseen": _accuracy(tm.qmodel, xu, yu) if len(xu) else None}]
    estimates, final, t_qat, within, zeros = [], None, 0.0, None, {}
    tuned_cfg = load_config(out)
    if qat:
        t0 = time.perf_counter()
        # QAT at the tuned widths, started from the 8-bit QAT weights the search evaluated (the float
        # baseline comes from the cache); the result lands in the tuned config's training cache
        ttm = train(tuned_cfg, ds, init_from=tm.qmodel)
        t_qat = time.perf_counter() - t0
        # hwflow.train pruned the start weights to the tuned prune plan and checked the zeros after QAT
        # (prune.check_zeros: a layer below its target is an error there); measured here for the report
        zeros = prune.sparsity_of(ttm.qmodel, list(space.prune_plan(point)))
        rows.append({"label": "tuned (after QAT)", "mean_weight_bits": space.mean_weight_bits(point, infos),
                     "cost": space.cost(point, infos, base), "sparsity": space.mean_sparsity(point, infos),
                     "qkeras": ttm.qkeras_accuracy,
                     "qkeras_unseen": _accuracy(ttm.qmodel, xu, yu) if len(xu) else None})
        final = {"cost": space.cost(point, infos, base), "accuracy": _accuracy(ttm.qmodel, xs, ys)}
        within = 100.0 * (tm.float_accuracy - ttm.qkeras_accuracy) <= budget + 1e-9
        if estimate_resources:
            estimates = [_estimate(cfg, tm.qmodel, "baseline (8-bit)"), _estimate(tuned_cfg, ttm.qmodel, "tuned")]
    parity_error, confirmed = None, None
    if hls:  # the tuned config through the flow: models -> check -> convert -> estimate -> parity
        from hwflow import flow
        from hwflow.errors import ParityError

        build = flow.run(tuned_cfg, stop="parity", options=flow.Options(fail_on_parity=False, command="tune"))
        confirmed = build.parity
        try:
            flow._fail_on_parity(tuned_cfg, confirmed)
        except ParityError as exc:  # still write the report (it shows the C-sim numbers), then re-raise
            parity_error = exc
    if confirmed is not None and qat:
        rows[-1]["csim"], rows[-1]["csim_images"] = confirmed.csim_accuracy, confirmed.n_images
    for row, name, since in ((rows[0], cfg.name, tm.weights_dir.stat().st_mtime),
                             (rows[-1] if qat and confirmed is None else None, tuned_cfg.name, out.stat().st_mtime)):
        parity_json = ModelPaths.for_model(name).reports / "parity.json"
        # C-sim of an earlier `hwflow hls` of that config, if not older than the model it describes
        if row is not None and parity_json.exists() and parity_json.stat().st_mtime >= since:
            p = json.loads(parity_json.read_text())
            row["csim"], row["csim_images"] = p.get("csim_accuracy"), p.get("n_images")

    pareto_png = report.plot_pareto(state.visited, state.float_acc, budget, final, paths.reports / "tune_pareto.png",
                                    f"{cfg.name}: points visited (budget {budget:g} points)")
    result = TuneResult(cfg.name, budget, slice_images, n_test, tm.float_accuracy, infos, base, point, state.visited,
                        rows, out, sens_png, pareto_png, paths.reports / "tune.md",
                        sensitivity_points=len(state.sensitivity), sensitivity_s=t_sens, search_s=t_search,
                        qat_s=t_qat, estimates=estimates, within_budget=within, slice_split=split,
                        unseen_images=len(xu), engine=evaluate.engine, engine_check=engine_check,
                        sparsities=sparsities, sparsity_after_qat=zeros)
    write_text_atomic(result.report_md, report.markdown(result))
    report.write_json(paths.reports / "tune.json", {
        "name": cfg.name, "budget": budget, "slack": slack, "slice_images": slice_images, "slice_split": split,
        "engine": evaluate.engine, "engine_check": engine_check,
        "cost_metric": COST_METRIC, "sparsity_candidates": list(sparsities), "sparsity_after_qat": zeros,
        "float_accuracy": tm.float_accuracy, "rows": rows, "base": base, "point": point, "within_budget": within,
        "estimates": estimates, "yaml": str(out), "visited": state.visited,
        "layers": [i.__dict__ for i in infos]})
    if parity_error is not None:
        raise parity_error
    return result
