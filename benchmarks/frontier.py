"""Which members of a family fit a board: every combination of a grid of model keys, folded by the
plan stage's search (hwflow.fit.fold, what `hls.reuse_factor: auto` and `hwflow fit` run, on the
Vivado-level projection) on the QKeras twin hwflow estimate uses (untrained unless
the build folder caches a training of that member; an unpruned design's estimate depends on its
weights' count and widths, hardly on their values).

    python -m benchmarks.frontier --grid benchmarks/frontier_cifar10.yaml [--configs-dir hls_configs] \
        [--board pynq-z2] [--target-fps 1000] --out benchmarks/results/frontier_pynq-z2

The grid file maps a config name (in --configs-dir) to {model key: [values]}; the key `activation`
sets quantization.default.activation (4 bits or fewer: 2 integer bits). Per member: parameters,
multiply-accumulates per image, whether it fits and at how many images/s (or the least LUT it needs
at any reuse factor), utilisation. Writes <out>.md / .json / .png. Every resource and images/s figure
is *estimated* (hwflow.estimate, Vivado level, no synthesis). The fold maximises images/s; --target-fps marks the
members whose maximum reaches it.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
import tempfile
from pathlib import Path

import yaml


def members(grid: dict, configs_dir: Path):
    """(base name, {key: value}, member config) for every combination of the grid (bad grid: ConfigError)."""
    from hwflow.config import config_from_dict, load_config
    from hwflow.errors import ConfigError

    for base_name, axes in grid.items():
        base = load_config(configs_dir / f"{base_name}.yaml")
        if not isinstance(axes, dict) or not all(isinstance(v, list) and v for v in axes.values()):
            raise ConfigError(f"{base_name}: each grid key needs a non-empty list of values, e.g. depth: [2, 4]")
        keys = list(axes)
        for values in itertools.product(*(axes[k] for k in keys)):
            raw = copy.deepcopy(base.raw)
            parts = []
            for k, v in zip(keys, values):
                if k == "activation":
                    q = raw.setdefault("quantization", {}).setdefault("default", {})
                    q["activation"] = int(v)
                    if int(v) <= 4:
                        q["activation_integer"] = 2
                    parts.append(f"a{v}")
                else:
                    raw.setdefault("model", {})[k] = v
                    parts.append(f"{k}{v}")
            name = f"{base_name}__{'_'.join(parts)}"
            yield base_name, dict(zip(keys, values)), config_from_dict(raw, base.path.with_name(f"{name}.yaml"))


def macs(qmodel) -> int:
    """Multiply-accumulates per image of the layers with a reuse factor (hwflow.tune.space's count)."""
    from hwflow.reuse import kernel_sizes
    from hwflow.tune.space import layer_infos

    return sum(i.macs for i in layer_infos(qmodel, list(kernel_sizes(qmodel))))


def run_member(cfg, board) -> dict:
    from hwflow.estimate_report import config_qmodel
    from hwflow.fit import fold
    from hwflow.reuse import FitError

    qmodel, source = config_qmodel(cfg)
    row = {"params": int(qmodel.count_params()), "macs": macs(qmodel)}
    try:
        res, _ = fold(cfg, board, qmodel)  # the plan stage's search (reuse_factor: auto), Vivado level
    except FitError as exc:
        return {**row, "fits": False, "least": exc.least, "message": str(exc)}
    a = res.after
    return {**row, "fits": True, "images_per_s": a["images_per_s"], "utilisation": a["utilisation"],
            "binding": a["binding"]}


def render(rows: list[dict], board: str, target_fps) -> str:
    goal = f" (target {target_fps:g} images/s)" if target_fps else ""
    lines = [f"# Which members fit {board}{goal} (the plan stage's fold, *estimated* at the Vivado level)", "",
             "Written by `benchmarks/frontier.py`. Untrained QKeras twins, folded by the search a config with "
             "`hls.reuse_factor: auto` runs (hwflow.fit.fold); every resource and images/s figure is estimated by "
             "hwflow.estimate at the Vivado level (what Vivado synthesis builds, projected from the csynth-level "
             "estimate; budget LUT/FF 85%, BRAM_18K 96%), no synthesis.", "",
             "| base | member | parameters | MACs/image | fits | images/s | DSP / LUT / BRAM_18K (% of board) | least LUT (Vivado level) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        member = ", ".join(f"{k} {v}" for k, v in r["member"].items())
        if r["fits"]:
            u = r["utilisation"]
            ok = "yes" if not target_fps or r["images_per_s"] >= target_fps else f"yes, under {target_fps:g}/s"
            cells = [ok, f"{r['images_per_s']:,.0f}", f"{u['DSP']:.0f} / {u['LUT']:.0f} / {u['BRAM_18K']:.0f}", "-"]
        else:
            cells = ["no", "-", "-", f"{(r['least'] or {}).get('LUT', 0):,}"]
        lines.append(f"| {r['base']} | {member} | {r['params']:,} | {r['macs']:,} | " + " | ".join(cells) + " |")
    fit = [r for r in rows if r["fits"] and (not target_fps or r["images_per_s"] >= target_fps)]
    if fit:
        big = max(fit, key=lambda r: r["params"])
        lines += ["", f"Largest member that fits{goal}: {big['base']} ({', '.join(f'{k} {v}' for k, v in big['member'].items())}), "
                  f"{big['params']:,} parameters, {big['images_per_s']:,.0f} images/s."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], board: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for base in sorted({r["base"] for r in rows}):
        for ok, marker in ((True, "o"), (False, "x")):
            rs = [r for r in rows if r["base"] == base and r["fits"] == ok]
            if rs:
                ax.scatter([r["params"] for r in rs], [r["macs"] for r in rs], marker=marker,
                           label=f"{base}: {'fits' if ok else 'does not fit'}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("MACs per image")
    ax.set_title(f"members that fit {board} (estimated, Vivado level)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", type=Path, required=True)
    ap.add_argument("--configs-dir", type=Path, default=Path("hls_configs"))
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--target-fps", type=float)
    ap.add_argument("--out", type=Path, required=True, help="output stem, e.g. benchmarks/results/frontier_pynq-z2")
    args = ap.parse_args(argv)

    from hwflow.boards import get_board
    from hwflow.cli import quiet_environment, quiet_stdout
    from hwflow.errors import HwflowError
    from hwflow.paths import write_report_files

    quiet_environment(verbose=False)
    try:
        grid = yaml.safe_load(args.grid.read_text()) if args.grid.is_file() else None
        if not isinstance(grid, dict) or not grid:
            print(f"error: {args.grid}: expected a mapping of config name -> {{model key: [values]}}", file=sys.stderr)
            return 2
        board = get_board(args.board, where="--board")
        rows = []
        from tqdm import tqdm

        todo = list(members(grid, args.configs_dir))
        for base, member, cfg in tqdm(todo, desc="fit", unit="member"):
            with quiet_stdout(False):
                rows.append({"base": base, "member": member, **run_member(cfg, board)})
    except HwflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    data = {"board": board.name, "target_fps": args.target_fps, "estimated": True, "rows": rows}
    out = write_report_files(args.out.parent, args.out.name, render(rows, board.name, args.target_fps), data,
                             lambda p: plot(rows, board.name, p))
    print(f"wrote {out['md']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
