"""Drive a sweep on Dask: validate, prepare one model per quantization, fan points out, collect rows.

    res = run_sweep(load_config("hls_configs/squeezenet.yaml"), load_spec("hls_configs/sweeps/squeezenet.yaml"))

Points are Dask tasks (`hwflow.sweep.point.run_point`) on a `dask.distributed.LocalCluster`
sized to the machine, or on an existing cluster (`scheduler="tcp://host:8786"` or
$HWFLOW_DASK_SCHEDULER). Rows go to results.csv as points finish; points whose key is already
in the table are not run again (resume). Afterwards: results.parquet (when pyarrow exists),
pareto.png, best.yaml, summary.md in the sweep folder.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from hwflow.config import FlowConfig, config_from_dict, validate_layers
from hwflow.errors import ConfigError
from hwflow.paths import ModelPaths
from hwflow.sweep.point import FAILED, ModelBlob, PointTask, failed_row, run_point
from hwflow.sweep.results import ResultTable, export_best, pick_best, plot_pareto, write_summary
from hwflow.sweep.spec import SweepSpec, apply_overrides, check_layers, point_key

ENV_SCHEDULER = "HWFLOW_DASK_SCHEDULER"


@dataclass
class SweepResult:
    out_dir: Path
    csv: Path
    total: int  # points in the spec
    ran: int  # points run by this call
    skipped: int  # points already in the table (resumed)
    failed: int  # failed points in the final table
    workers: int = 0
    dashboard: str | None = None
    warmup_s: float = 0.0  # models prepared + workers importing TF/hls4ml
    elapsed_s: float = 0.0  # first submission -> last row
    parquet: Path | None = None
    pareto_png: Path | None = None
    best_config: Path | None = None
    best_key: str | None = None
    summary_md: Path | None = None
    errors: dict[str, str] = field(default_factory=dict)  # key -> error of the failed points

    @property
    def points_per_s(self) -> float:
        return self.ran / self.elapsed_s if self.elapsed_s else float("nan")


def default_out_dir(cfg: FlowConfig, spec: SweepSpec) -> Path:
    return ModelPaths.for_model(cfg.name).root / "sweep" / spec.name


def _structure_plan(cfg: FlowConfig):
    """Quantization plan with unresolved integer bits set (weights 0, 'auto' activations the width's default):
    enough to build the QKeras twin's layers."""
    from hwflow.train import build_models
    from hwflow.zoo.layers import kernel_layer_names
    from hwflow.zoo.quant import LayerQuant, QuantPlan, with_default_activations

    float_model, _ = build_models(cfg)
    plan = with_default_activations(cfg.quant_plan(kernel_layer_names(float_model)))

    def fix(s):
        return s if s is None or s.integer is not None else s.resolved(0)

    return QuantPlan({n: LayerQuant(fix(q.weight), fix(q.bias), fix(q.activation)) for n, q in plan.layers.items()})


def model_layers(cfg: FlowConfig) -> tuple[list[str], list[str]]:
    """(layer names, names of layers with weights) of the config's QKeras model (built, not trained)."""
    from hwflow.train import build_models
    from hwflow.zoo.layers import kernel_layer_names

    _, qmodel = build_models(cfg, _structure_plan(cfg))
    return [l.name for l in qmodel.layers], kernel_layer_names(qmodel)


def validate(cfg: FlowConfig, spec: SweepSpec, points: list[dict],
             layers: tuple[list[str], list[str]] | None = None) -> list[FlowConfig]:
    """Layer names against the QKeras model, then every point's merged config; returns the configs."""
    names, kernels = layers or model_layers(cfg)
    check_layers(spec, names, kernels)
    validate_layers(cfg, names, kernels)
    cfgs = []
    for p in points:
        try:
            cfgs.append(config_from_dict(apply_overrides(cfg.raw, p), cfg.path))
        except ConfigError as exc:
            raise ConfigError(f"{spec.path}: point {p}: {exc}") from None
    return cfgs


def prepare_model(cfg: FlowConfig, spec: SweepSpec, ds_cache: dict) -> ModelBlob:
    """The QKeras model of one quantization: trained (hwflow.train's cache) or seeded init."""
    from hwflow.data import load_dataset
    from hwflow.train import train, untrained_models

    def dataset():
        shape = cfg.model.input_shape
        if shape not in ds_cache:
            ds_cache[shape] = load_dataset(cfg.data, shape, cfg.train.seed)
        return ds_cache[shape]

    key = cfg.fingerprint(spec.weights)
    fa = qa = None
    labelled = False
    if spec.weights == "trained":
        ds = dataset()
        tm = train(cfg, ds)
        float_model, qmodel, plan, fa, qa = tm.float_model, tm.qmodel, tm.plan, tm.float_accuracy, tm.qkeras_accuracy
        labelled = cfg.train.epochs > 0 or cfg.data.source != "default"
    else:
        float_model, qmodel, plan = untrained_models(cfg)
    extra = {}
    if spec.depth == "csim":
        ds = dataset()
        n = min(spec.images or cfg.parity.images, len(ds.x_test))
        x = ds.x_test[:n]
        extra = dict(x=x, y=ds.y_test[:n] if labelled else None,
                     qkeras_logits=qmodel.predict(x, batch_size=128, verbose=0),
                     float_logits=float_model.predict(x, batch_size=128, verbose=0))
    return ModelBlob(key, plan, qmodel.get_weights(), fa, qa, **extra)


def _warm_up() -> str:
    """Import the heavy libraries on a worker before the clock starts (run on every worker)."""
    import hls4ml  # noqa: F401
    import qkeras  # noqa: F401
    import tensorflow  # noqa: F401

    return "ready"


def _worker_env() -> dict[str, str]:
    """What the worker processes inherit of the quiet/verbose choice (hwflow.cli.quiet_environment):
    TensorFlow's C++ log level (3 unless --verbose: level 2 still prints its "E ..." lines) and warnings."""
    env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    if "PYTHONWARNINGS" in os.environ:
        env["PYTHONWARNINGS"] = os.environ["PYTHONWARNINGS"]
    return env


def connect(scheduler: str | None = None, workers: int | None = None):
    """(client, cluster or None): an existing scheduler when given (argument or $HWFLOW_DASK_SCHEDULER),
    else a LocalCluster of `workers` single-threaded processes (default: one per core)."""
    from dask.distributed import Client, LocalCluster

    address = scheduler or os.environ.get(ENV_SCHEDULER)
    if address:
        try:
            return Client(address, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            src = "--scheduler" if scheduler else f"${ENV_SCHEDULER}"
            raise ConfigError(f"{src} {address}: cannot reach a Dask scheduler ({exc}); "
                              f"valid: tcp://host:port of a running `dask scheduler`") from None
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise ConfigError(f"--workers: must be >= 1, got {n}")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, env=_worker_env())
    return Client(cluster), cluster


def dashboard_line(client) -> str:
    import importlib.util

    link = client.dashboard_link
    if importlib.util.find_spec("bokeh") is None:
        return f"{link} (not served: the dashboard needs bokeh, which is not installed)"
    return link


def run_sweep(cfg: FlowConfig, spec: SweepSpec, *, out_dir: Path | None = None, scheduler: str | None = None,
              workers: int | None = None, retry_failed: bool = False, progress: bool = True,
              echo=print) -> SweepResult:
    """Run (or resume) the sweep; see the module docstring."""
    from dask.distributed import as_completed
    from tqdm import tqdm

    out_dir = Path(out_dir or default_out_dir(cfg, spec)).resolve()
    points = spec.points()
    by_key = {point_key(p): p for p in points}
    table = ResultTable(out_dir / "results.csv", spec.parameters)
    done = {r["key"] for r in table.load(drop_failed=retry_failed)}
    todo = [k for k in by_key if k not in done]
    res = SweepResult(out_dir, table.path, len(points), 0, len(by_key) - len(todo), 0)
    echo(f"sweep {cfg.name}/{spec.name}: {len(points)} points ({spec.sampling}), depth {spec.depth}; "
         f"{res.skipped} already in {table.path}, {len(todo)} to run")
    if todo:
        t0 = time.perf_counter()
        cfgs = dict(zip(todo, validate(cfg, spec, [by_key[k] for k in todo])))
        client, cluster = connect(scheduler, workers)
        try:
            info = client.scheduler_info()
            res.workers = len(info.get("workers", {}))
            res.dashboard = dashboard_line(client)
            echo(f"dask: {client.scheduler.address}, {res.workers} workers; dashboard: {res.dashboard}")
            if res.workers == 0:
                raise ConfigError(f"dask scheduler {client.scheduler.address} has no workers; "
                                  f"start `dask worker {client.scheduler.address}` first")
            blobs: dict[str, ModelBlob] = {}
            ds_cache: dict = {}
            quant_of = {}
            for k in tqdm(todo, desc="models (one per quantization)", unit="pt", disable=None if progress else True):
                qk = cfgs[k].fingerprint(spec.weights)
                if qk not in blobs:
                    blobs[qk] = prepare_model(cfgs[k], spec, ds_cache)
                quant_of[k] = qk
            echo(f"{len(blobs)} model(s) ready ({spec.weights} weights); warming up the workers")
            client.run(_warm_up)
            res.warmup_s = round(time.perf_counter() - t0, 2)
            futures_of = {qk: client.scatter(b, broadcast=False, hash=False) for qk, b in blobs.items()}
            tasks = {}
            for k in todo:
                tasks[k] = PointTask(k, by_key[k], cfg.raw, str(cfg.path), spec.depth, str(out_dir / "points" / k))
            t1 = time.perf_counter()
            futures = {client.submit(run_point, tasks[k], futures_of[quant_of[k]], key=f"hwflow-point-{k}",
                                     pure=False): k for k in todo}
            failed = 0
            bar = tqdm(total=len(todo), desc=f"sweep {spec.name}", unit="pt", disable=None if progress else True)
            for fut in as_completed(futures):
                k = futures[fut]
                try:
                    row = fut.result()
                except Exception as exc:  # worker died / connection lost: record it, keep going
                    row = failed_row(tasks[k], f"{type(exc).__name__}: {exc}"[:600])
                table.append(row)
                res.ran += 1
                failed += row["status"] == FAILED
                bar.update(1)
                bar.set_postfix(done=res.ran, failed=failed, left=len(todo) - res.ran)
                fut.release()
            bar.close()
            res.elapsed_s = round(time.perf_counter() - t1, 3)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    _finish(cfg, spec, table, by_key, res)
    return res


def _finish(cfg: FlowConfig, spec: SweepSpec, table: ResultTable, by_key: dict, res: SweepResult) -> None:
    """Parquet, Pareto plot, best point config, summary."""
    if not table.path.exists():
        return
    df = table.frame()
    df = df[df["key"].isin(list(by_key))]  # rows of points the spec no longer has stay in the CSV only
    res.failed = int((df["status"] == FAILED).sum())
    res.errors = {str(r["key"]): str(r["error"]) for _, r in df[df["status"] == FAILED].iterrows()}
    res.parquet = table.write_parquet()
    best = pick_best(df, spec.objective)
    if best is not None:
        res.best_key = str(best["key"])
        res.best_config = export_best(cfg.raw, cfg.path, by_key[res.best_key], res.out_dir / "best.yaml")
    res.pareto_png = plot_pareto(df, res.out_dir / "pareto.png", f"{cfg.name}/{spec.name}", res.best_key)
    write_summary(df, res.out_dir / "summary.md", f"{cfg.name}/{spec.name}", spec.parameters, best, spec.objective)
    res.summary_md = res.out_dir / "summary.md"


