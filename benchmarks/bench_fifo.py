"""Run time of the FIFO model alone (hwflow.fifo) and the FIFO bits it saves, per shipped config.

    .venv/bin/python benchmarks/bench_fifo.py [--configs hls_configs/a.yaml ...] [--repeat 3] [--no-verify] [--out benchmarks/results]

For every config: the untrained QKeras twin (structure is all the FIFO model reads) converted by
hls4ml, then the FIFO model timed apart from the conversion: the stream graph + full-rate
schedule (`fifo.plan`, what every conversion runs) and the bounded-FIFO check that the computed
depths do not deadlock (`fifo.simulate`). Bits = depth x word width (channels x bits) over the
internal streams, hls4ml's H*W depths vs the computed ones. Writes bench_fifo.json/md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

CONFIGS = ["hls_configs/squeezenet.yaml", "hls_configs/mobilenet.yaml", "hls_configs/mobilenet_imagenet.yaml",
           "hls_configs/squeezenet_cifar10.yaml"]


def measure(path: str, repeat: int, verify: bool) -> dict:
    from hwflow import fifo
    from hwflow.config import load_config
    from hwflow.convert import to_hls_model
    from hwflow.train import untrained_models

    cfg = load_config(path)
    _, qmodel, _ = untrained_models(cfg)
    t0 = time.perf_counter()
    hls_model = to_hls_model(cfg, qmodel)  # includes one fifo.apply
    t_convert = time.perf_counter() - t0
    times, timed = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        graph, peak, depths = fifo.plan(hls_model)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fifo.occupancy(graph, timed=True)
        timed.append(time.perf_counter() - t0)
    row = {"config": cfg.name, "input": list(cfg.model.params.get("input_shape", ())), "streams": len(depths),
           "words_per_image": sum(graph.streams[k].words for k in depths),
           "steps_per_image": sum(p.steps for p in graph.processes),
           "convert_s": round(t_convert, 2), "fifo_model_s": round(statistics.median(times), 3),
           "timed_schedule_s": round(statistics.median(timed), 3)}
    t = fifo.report_of(hls_model).totals
    row.update(full_bits=t["full_bits"], bits=t["bits"], share=round(t["bits"] / t["full_bits"], 4),
               full_words=t["full_depth_words"], words=t["depth_words"], max_depth=max(depths.values()))
    if verify:
        t0 = time.perf_counter()
        res = fifo.simulate(graph, depths)
        row.update(simulate_s=round(time.perf_counter() - t0, 2), deadlock_free=res.ok)
    return row


def render(rows: list[dict]) -> str:
    lines = ["# FIFO model (hwflow.fifo): run time and FIFO bits", "",
             "Measured by `benchmarks/bench_fifo.py` (untrained QKeras twins; structure only). `model` = stream "
             "graph + full-rate schedule (the depths), `timed` = the RF-timed schedule (reported beside them; "
             "both run in every conversion), `check` = bounded-FIFO simulation of the computed depths. Bits = depth x word width over the internal FIFOs: hls4ml's H*W -> computed.", "",
             "| config | input | FIFOs | steps/image | conversion s | model s | timed s | check s | deadlock-free | "
             "bits H*W | bits computed | share | deepest |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {'x'.join(map(str, r['input']))} | {r['streams']} | {r['steps_per_image']:,} | "
                     f"{r['convert_s']} | {r['fifo_model_s']} | {r['timed_schedule_s']} | {r.get('simulate_s', '-')} | "
                     f"{r.get('deadlock_free', '-')} | {r['full_bits']:,} | {r['bits']:,} | {100 * r['share']:.2f}% | "
                     f"{r['max_depth']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=CONFIGS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-verify", action="store_true", help="skip the bounded-FIFO deadlock check")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = []
    for path in args.configs:
        r = measure(path, args.repeat, not args.no_verify)
        print(f"{r['config']}: {r['streams']} FIFOs, {r['steps_per_image']:,} steps/image; conversion {r['convert_s']} s, "
              f"FIFO model {r['fifo_model_s']} s (timed {r['timed_schedule_s']} s), check {r.get('simulate_s', '-')} s "
              f"(deadlock-free {r.get('deadlock_free', '-')}); bits {r['full_bits']:,} -> {r['bits']:,} "
              f"({100 * r['share']:.2f}%)", flush=True)
        rows.append(r)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_fifo.json").write_text(json.dumps(rows, indent=1))
    (args.out / "bench_fifo.md").write_text(render(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
