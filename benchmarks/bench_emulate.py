"""Images/s of hwflow.sim.emulate vs hls4ml C-sim (hls_model.predict) vs the QKeras model, one run.

`run()` is what benchmarks/run.py calls; `python -m benchmarks.bench_emulate` runs it alone.
The C-sim compile is built once and not timed; each path is timed on the same inputs (emulator and
QKeras: best of 3). Models: a SqueezeNet-like CNN and the SVHN tutorial CNN in both io_types, and one
config per shipped model shape (`--configs DIR`, default hls_configs/; `--imagenet` adds the 224x224
shapes).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class EmulateBench:
    model: str
    io_type: str
    emulate_ips: float
    csim_ips: float
    qkeras_ips: float
    bit_exact: bool

    @property
    def speedup_vs_csim(self) -> float:
        return self.emulate_ips / self.csim_ips

    def row(self) -> str:
        return (f"{self.model:<22} {self.io_type:<11} emulate {self.emulate_ips:9.1f} img/s | "
                f"C-sim {self.csim_ips:8.1f} img/s | QKeras {self.qkeras_ips:8.1f} img/s | "
                f"emulate/C-sim {self.speedup_vs_csim:7.1f}x | emulate/QKeras "
                f"{self.emulate_ips / self.qkeras_ips:5.2f}x | bit-exact {self.bit_exact}")


def squeezenet_like(input_shape=(32, 32, 3), classes: int = 10, seed: int = 0):
    """Small SqueezeNet-shaped QKeras model (conv, max pool, 2 fire modules, conv, GAP)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, quantized_bits, quantized_relu

    L = tf.keras.layers
    q = quantized_bits(8, 0, alpha=1)

    def conv(x, f, k, name, stride=1):
        x = QConv2D(f, k, strides=stride, padding="same", kernel_quantizer=q, bias_quantizer=q, name=name)(x)
        return QActivation(quantized_relu(8, 3), name=f"{name}_relu")(x)

    i = L.Input(input_shape, name="input_1")
    x = conv(i, 32, 3, "conv1", stride=2)
    x = L.MaxPooling2D(2, name="pool1")(x)
    for n, (sq, ex) in enumerate([(8, 32), (16, 64)], start=2):
        s = conv(x, sq, 1, f"fire{n}_squeeze")
        x = L.Concatenate(name=f"fire{n}_concat")(
            [conv(s, ex, 1, f"fire{n}_expand1x1"), conv(s, ex, 3, f"fire{n}_expand3x3")])
    x = QConv2D(classes, 1, kernel_quantizer=q, bias_quantizer=q, name="conv10")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    model = tf.keras.Model(i, x)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def mobilenet_v1(input_shape=(224, 224, 3), classes: int = 10, seed: int = 0):
    """MobileNet v1 1.0 in QKeras: conv 3x3 s2, 13 x [depthwise 3x3 -> relu -> conv 1x1 -> relu],
    GAP, dense; 8-bit weights, quantized_relu(8,3) activations (no batch norm)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    L = tf.keras.layers
    q = quantized_bits(8, 0, alpha=1)
    i = L.Input(input_shape, name="input_1")
    x = QConv2D(32, 3, strides=2, padding="same", kernel_quantizer=q, bias_quantizer=q, name="conv1")(i)
    x = QActivation(quantized_relu(8, 3), name="conv1_relu")(x)
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for n, (filters, stride) in enumerate(blocks, start=1):
        x = QDepthwiseConv2D(3, strides=stride, padding="same", depthwise_quantizer=q, bias_quantizer=q,
                             name=f"dw{n}")(x)
        x = QActivation(quantized_relu(8, 3), name=f"dw{n}_relu")(x)
        x = QConv2D(filters, 1, kernel_quantizer=q, bias_quantizer=q, name=f"pw{n}")(x)
        x = QActivation(quantized_relu(8, 3), name=f"pw{n}_relu")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = QDense(classes, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    model = tf.keras.Model(i, x)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def svhn_cnn(input_shape=(32, 32, 3), classes: int = 10, seed: int = 0):
    """The QKeras SVHN CNN of hls4ml's quantization tutorials: 3 x [conv 3x3 -> batch norm ->
    quantized relu -> 2x2 max pool] (16, 16, 24 filters), dense 42 and 64 with batch norm, dense
    10, softmax; 6-bit weights and activations, batch-norm statistics set."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    L = tf.keras.layers
    q = quantized_bits(6, 0, alpha=1)
    i = L.Input(input_shape, name="input_1")
    x = i
    for n, f in enumerate((16, 16, 24), start=1):
        x = QConv2D(f, 3, kernel_quantizer=q, bias_quantizer=q, use_bias=False, name=f"conv_{n}")(x)
        x = L.BatchNormalization(name=f"bn_{n}")(x)
        x = QActivation(quantized_relu(6), name=f"relu_{n}")(x)
        x = L.MaxPooling2D(2, name=f"pool_{n}")(x)
    x = L.Flatten(name="flatten")(x)
    for n, u in enumerate((42, 64), start=1):
        x = QDense(u, kernel_quantizer=q, bias_quantizer=q, use_bias=False, name=f"dense_{n}")(x)
        x = L.BatchNormalization(name=f"bn_dense_{n}")(x)
        x = QActivation(quantized_relu(6), name=f"relu_dense_{n}")(x)
    x = QDense(classes, kernel_quantizer=q, bias_quantizer=q, name="output_dense")(x)
    x = L.Activation("softmax", name="output_softmax")(x)
    model = tf.keras.Model(i, x)
    rng = np.random.default_rng(seed)
    model.set_weights([np.abs(v) + 0.5 if "variance" in w.name else v for w in model.weights
                       for v in [rng.normal(0, 0.3, w.shape).astype(np.float32)]])
    return model


def _ips(fn, x, repeat: int = 1, best_of: int = 1) -> float:
    """Images/s of fn on x after a warm-up call; the best of `best_of` timings (a shared machine's
    other jobs only ever slow a run down)."""
    fn(x[:1])  # warm-up
    best = float("inf")
    for _ in range(best_of):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return repeat * len(x) / best


def _measure(name: str, io_type: str, model, hls_model, n_fast: int, n_csim: int) -> EmulateBench:
    """Compile (not timed), then emulator, one-process C-sim and QKeras predict on the same inputs."""
    from hwflow.sim.emulate import emulate

    hls_model.compile()
    rng = np.random.default_rng(1)
    x = (rng.integers(0, 256, (n_fast, *model.input_shape[1:])) / 256).astype(np.float32)
    xc = x[:n_csim]
    exact = np.array_equal(emulate(hls_model, xc).reshape(-1).astype(np.float32),
                           hls_model.predict(xc).reshape(-1))
    return EmulateBench(
        model=name, io_type=io_type,
        emulate_ips=_ips(lambda a: emulate(hls_model, a), x, best_of=3),
        csim_ips=_ips(hls_model.predict, xc),
        qkeras_ips=_ips(lambda a: model.predict(a, batch_size=64, verbose=0), x, best_of=3),
        bit_exact=exact)


def bench_model(name: str, model, io_type: str, n_fast: int, n_csim: int, work_dir: Path) -> EmulateBench:
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    cfg["LayerName"]["input_1"]["Precision"]["result"] = "ufixed<8,0,RND_CONV,SAT>"
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", io_type=io_type, output_dir=str(work_dir / f"{name}_{io_type}"))
    return _measure(name, io_type, model, hls_model, n_fast, n_csim)


def shipped_shapes(config_dir: Path, imagenet: bool) -> list[Path]:
    """One config per distinct `model:` section among config_dir/*.yaml (the first by name): the
    shipped model shapes; ImageNet-size (224x224) ones only when `imagenet`."""
    import json

    import yaml

    seen, out = set(), []
    for path in sorted(config_dir.glob("*.yaml")):
        model = (yaml.safe_load(path.read_text()) or {}).get("model") or {}
        key = json.dumps(model, sort_keys=True)
        big = max(model.get("input_shape", [224])[:2]) >= 128
        if key in seen or (big and not imagenet):
            continue
        seen.add(key)
        out.append(path)
    return out


def bench_config(path: Path, work_dir: Path, n_fast: int, n_csim: int) -> EmulateBench:
    """A shipped config's QKeras twin (seeded untrained weights: speed and exactness do not need
    trained ones), converted as `make hls` does."""
    from hwflow.config import load_config
    from hwflow.convert import convert
    from hwflow.train import untrained_models

    cfg = load_config(path)
    _, qmodel, _ = untrained_models(cfg)
    conv = convert(cfg, qmodel, work_dir / path.stem)
    return _measure(path.stem, cfg.hls.io_type, qmodel, conv.hls_model, n_fast, n_csim)


def run(out_dir: Path | None = None, *, shipped: bool = True, imagenet: bool = False,
        config_dir: Path | None = None) -> list[EmulateBench]:
    """Benchmark the small SqueezeNet-like model and the SVHN tutorial CNN (io_stream and io_parallel)
    and, when `shipped`, one config per shipped model shape (config_dir, default hls_configs/; the
    224x224 ones when `imagenet`, 8 emulator / 1 C-sim image). Prints one row per model."""
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_emulate_") as tmp:
        work = Path(tmp)
        model = squeezenet_like()
        for io_type in ("io_stream", "io_parallel"):
            results.append(bench_model("squeezenet_like_32", model, io_type, 512, 64, work))
            print(results[-1].row(), flush=True)
        svhn = svhn_cnn()
        for io_type in ("io_stream", "io_parallel"):
            results.append(bench_model("svhn_cnn_32", svhn, io_type, 512, 64, work))
            print(results[-1].row(), flush=True)
        if shipped:
            from hwflow.paths import CONFIG_DIR

            for path in shipped_shapes(config_dir or CONFIG_DIR, imagenet):
                big = "imagenet" in path.stem
                results.append(bench_config(path, work, 8 if big else 256, 1 if big else 16))
                print(results[-1].row(), flush=True)
    if out_dir is not None:
        import json

        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "bench_emulate.json").write_text(
            json.dumps([asdict(r) | {"speedup_vs_csim": r.speedup_vs_csim,
                                     "emulate_vs_qkeras": r.emulate_ips / r.qkeras_ips} for r in results], indent=2))
        (out_dir / "bench_emulate.md").write_text(
            "# Emulator vs C-sim (1 process) vs QKeras predict, images/s\n\n" + "\n".join(r.row() for r in results) + "\n")
    return results


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=Path, default=None, help="folder of hwflow configs (default hls_configs/)")
    p.add_argument("--imagenet", action="store_true", help="also the 224x224 model shapes (slow C-sim)")
    p.add_argument("--no-shipped", action="store_true", help="only the SqueezeNet-like and SVHN models")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    run(args.out, shipped=not args.no_shipped, imagenet=args.imagenet, config_dir=args.configs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
