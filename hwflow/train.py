"""Float training, BN folding, then quantization-aware training of the QKeras twin.

Weights are cached under build/<model>/model/<key>/ where key hashes the config sections that
define the model (model, data, train, quantization) and the dataset fingerprint, so a second
`make hls` does not retrain. With `train.epochs: 0` (the ImageNet-size configs) the models keep
their seeded random initialisation.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwflow.config import FlowConfig, schedule_text
from hwflow.config.sections import Optimizer
from hwflow.data import Dataset
from hwflow.paths import ModelPaths, build_root
from hwflow.zoo.quant import LayerQuant, QuantPlan, QuantSpec, integer_bits_for, with_default_activations


@dataclass
class TrainedModels:
    float_model: object  # keras.Model
    qmodel: object  # keras.Model (QKeras)
    plan: QuantPlan  # resolved per-layer quantizers
    float_accuracy: float | None  # top-1 on the test split, None when not trained
    qkeras_accuracy: float | None
    weights_dir: Path
    from_cache: bool


@dataclass
class FitRun:
    """What one training run did: the epoch it started at (> 0: resumed from its per-epoch checkpoint),
    the epochs it trained and their wall-clock seconds (the measured cost of a schedule; metrics.json)."""
    first_epoch: int = 0
    epochs: int = 0
    seconds: float = 0.0

    def __add__(self, later: "FitRun") -> "FitRun":  # two cycles of one training: where the first started
        return FitRun(self.first_epoch, self.epochs + later.epochs, self.seconds + later.seconds)

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "seconds": round(self.seconds, 1)}


def _tqdm_callback(total_epochs: int, desc: str):
    from tensorflow import keras
    from tqdm import tqdm

    class Bar(keras.callbacks.Callback):
        first_epoch = None  # the epoch this run started at (> 0: resumed from a checkpoint)

        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=total_epochs, desc=desc, unit="epoch", disable=None)
            self.epoch_seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            if self.first_epoch is None:
                self.first_epoch = epoch
                if epoch:
                    self.bar.set_description(f"{desc} (resumed at epoch {epoch + 1})")
                    self.bar.update(epoch)
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_seconds.append(time.perf_counter() - self.t0)
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy")})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return Bar()


def _dataset(x, y, batch: int, augment: bool, seed: int, classes: int | None = None, cutout: int = 0):
    """Shuffled batches; `classes`: one-hot labels (for label smoothing, which Keras 2's sparse loss lacks);
    `cutout`: a `cutout` x `cutout` square zeroed at a random centre of each image (DeVries & Taylor 2017;
    by hand in tf.image ops: TensorFlow 2.14 has no cutout op outside tensorflow-addons, which is unmaintained)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    if classes:
        ds = ds.map(lambda img, label: (img, tf.one_hot(label, classes)))
    if augment:
        def aug(img, label):
            img = tf.image.random_flip_left_right(img, seed=seed)
            pad = tf.image.pad_to_bounding_box(img, 2, 2, tf.shape(img)[0] + 4, tf.shape(img)[1] + 4)
            img = tf.image.random_crop(pad, tf.shape(img), seed=seed)
            return img, label
        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    if cutout > 0:
        def cut(img, label):
            h, w = tf.shape(img)[0], tf.shape(img)[1]
            cy = tf.random.uniform([], 0, h, dtype=tf.int32, seed=seed)
            cx = tf.random.uniform([], 0, w, dtype=tf.int32, seed=seed + 1)
            ys, xs = tf.range(h)[:, None], tf.range(w)[None, :]
            inside = (tf.abs(ys - cy) <= cutout // 2) & (tf.abs(xs - cx) <= cutout // 2)
            if cutout % 2 == 0:  # an even side: the square spans [c - side/2, c + side/2)
                inside = inside & (ys < cy + cutout // 2) & (xs < cx + cutout // 2)
            return img * tf.cast(~inside, img.dtype)[:, :, None], label
        ds = ds.map(cut, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def _fit(model, ds: Dataset, cfg: FlowConfig, epochs: int, lr: float, desc: str, backup: Path | None = None,
         callbacks: list | None = None, qat: bool = False) -> FitRun:
    """Train `epochs` epochs with a cosine schedule (`qat`: the QKeras twin's, see _optimizer). `backup`: a
    folder where the model and optimizer state are checkpointed at every epoch's end (Keras BackupAndRestore): a run that was interrupted
    resumes there at the saved epoch instead of restarting, and the folder is removed when training
    ends. Returns what this run trained (FitRun; first_epoch 0: from scratch)."""
    from tensorflow import keras

    if epochs <= 0:
        return FitRun()
    steps = max(1, int(np.ceil(len(ds.x_train) / cfg.train.batch_size))) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps)
    smooth = cfg.train.label_smoothing
    loss = (keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smooth) if smooth
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classes = int(model.output_shape[-1]) if smooth else None
    model.compile(optimizer=_optimizer(cfg, schedule, qat), loss=loss, metrics=["accuracy"])
    bar = _tqdm_callback(epochs, desc)
    cbs = list(callbacks or [])
    if backup is not None:
        backup.parent.mkdir(parents=True, exist_ok=True)
        cbs.insert(0, keras.callbacks.BackupAndRestore(str(backup), save_freq="epoch", delete_checkpoint=True))
    model.fit(_dataset(ds.x_train, ds.y_train, cfg.train.batch_size, cfg.train.augment, cfg.train.seed, classes,
                       cfg.train.cutout),
              epochs=epochs, verbose=0, callbacks=[*cbs, bar])
    if backup is not None:  # Keras deletes the checkpoint files at the end, not their folder
        shutil.rmtree(backup, ignore_errors=True)
    return FitRun(int(bar.first_epoch or 0), len(bar.epoch_seconds), sum(bar.epoch_seconds))


def _optimizer(cfg: FlowConfig, schedule, qat: bool = False):
    """train.optimizer over `schedule`, with train.weight_decay decoupled (Loshchilov & Hutter 2019): Keras's
    own `weight_decay`, which subtracts learning_rate * weight_decay * w at each step, outside the momentum
    (so with SGD's momentum 0.9 it equals PyTorch's coupled weight_decay / 10).

    QAT (`qat`) is always Adam without decay: it fine-tunes the BN-folded twin, where decay shrinks the folded
    kernels with no batch normalisation left to undo it (on the CIFAR-10 flagship's SGD training, Adam QAT
    measured above SGD, and SGD without decay above SGD with it: issue 30's closing note)."""
    from tensorflow import keras

    if qat:
        return keras.optimizers.Adam(schedule)
    wd = cfg.train.weight_decay or None
    if cfg.train.optimizer == Optimizer.SGD:
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=wd)
    return keras.optimizers.Adam(schedule, weight_decay=wd)


def qat_learning_rate(cfg: FlowConfig) -> float:
    """The peak learning rate of QAT: train.qat_learning_rate, else a tenth of train.learning_rate."""
    t = cfg.train
    return t.qat_learning_rate if t.qat_learning_rate is not None else t.learning_rate * 0.1


def _backup_dir(cache: Path) -> Path:
    """Where the per-epoch checkpoints of the training that will fill `cache` live: in the build's
    cache folder, beside the float caches (a build folder's own temporary files are cleaned up by
    the next run, hwflow.flow; these must survive until the training resumes)."""
    root = build_root() / "cache"
    name = cache.name if cache.parent == root else f"qat-{cache.parent.parent.name}-{cache.name}"
    return root / f".{name}.partial"


def _check_finite(model, cfg: FlowConfig, what: str) -> None:
    """Training that diverged (NaN/inf weights) is an error, and nothing of it is cached."""
    from hwflow.errors import ConfigError

    bad = [w.name for w in model.weights if not np.all(np.isfinite(w.numpy()))]
    if bad:
        raise ConfigError(f"{cfg.path}: train: {what} diverged (non-finite weights in {bad[0]}"
                          f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}); nothing was cached; "
                          f"lower train.learning_rate (now {cfg.train.learning_rate})")


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    logits = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def resolve_plan(plan: QuantPlan, folded: dict[str, list[np.ndarray]]) -> QuantPlan:
    """Fill 'auto' integer bits of weights/biases from the folded float weights."""
    out = QuantPlan()
    for name, lq in plan.layers.items():
        kernel, bias = folded[name]

        def fix(spec: QuantSpec | None, arr):
            if spec is None or spec.integer is not None:
                return spec
            return spec.resolved(integer_bits_for(float(np.max(np.abs(arr))) if arr.size else 0.0))

        out.layers[name] = LayerQuant(weight=fix(lq.weight, kernel), bias=fix(lq.bias, bias), activation=lq.activation)
    return out


CALIBRATION_IMAGES = 1000  # training images whose float activations set 'auto' activation integer bits
CALIBRATION_VALUES = 200_000  # values kept per layer (an even stride through each batch's outputs)


def activation_outputs(float_model, names) -> dict[str, tuple[object, bool, int]]:
    """Layer name -> (the float layer whose output its activation quantizer sees, signed, least integer bits),
    for the layers of `names` that have one: `<layer>_relu` (unsigned; a Keras ReLU(6), Ops.relu6, needs the
    integer bits of its bound) or `<layer>_q` (a linear projection, signed). A layer with neither (e.g. a
    classifier whose logits go out unquantized) uses no activation quantizer: hwflow.zoo.layers.Ops is the
    only user, and names them so."""
    from hwflow.zoo.layers import ACT_SUFFIX, Q_SUFFIX

    layers = {l.name: l for l in float_model.layers}
    out = {}
    for n in names:
        if n + ACT_SUFFIX in layers:
            layer = layers[n + ACT_SUFFIX]
            bound = getattr(layer, "max_value", None)
            out[n] = (layer, False, 0 if bound is None else (int(float(bound)) - 1).bit_length())
        elif n + Q_SUFFIX in layers:
            out[n] = (layers[n + Q_SUFFIX], True, 0)
    return out


def calibrate_activations(plan: QuantPlan, float_model, x: np.ndarray, uniform: int | None = None) -> QuantPlan:
    """Resolve 'auto' activation integer bits (`quantization ... activation_integer: auto`) per layer: the
    integer bits whose quantizer has the least squared error on the float model's activations of that layer
    (activation_outputs) on `x`, never fewer than a bounded ReLU needs (hwflow.zoo.quant.activation_integer_for).
    BN is in inference mode, so these are the folded twin's values. A layer with no activation in use takes
    the width's default. `uniform`: instead, that many integer bits on every 'auto' layer (at least what a
    bounded ReLU needs): the baseline the calibration is measured against (benchmarks.activation_integers)."""
    import tensorflow as tf

    from hwflow.zoo.quant import activation_integer_for

    unresolved = [n for n, lq in plan.layers.items() if lq.activation is not None and lq.activation.integer is None]
    if not unresolved:
        return plan
    probes = activation_outputs(float_model, unresolved)
    if not probes:
        return with_default_activations(plan)
    todo = list(probes)
    if uniform is not None:
        return with_default_activations(QuantPlan({**plan.layers, **{n: LayerQuant(
            plan.layers[n].weight, plan.layers[n].bias,
            plan.layers[n].activation.resolved(max(uniform, probes[n][2]))) for n in todo}}))
    probe = tf.keras.Model(float_model.input, [probes[n][0].output for n in todo])
    kept: dict[str, list[np.ndarray]] = {n: [] for n in todo}
    batch = 100
    for i in range(0, len(x), batch):
        outs = probe(x[i:i + batch], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for n, out in zip(todo, outs):
            flat = np.asarray(out).ravel()
            stride = max(1, flat.size * len(x) // (batch * CALIBRATION_VALUES))
            kept[n].append(flat[::stride])
    out = QuantPlan(dict(plan.layers))
    for n in todo:
        _, signed, least = probes[n]
        spec = plan.layers[n].activation
        integer = activation_integer_for(np.concatenate(kept[n]), spec.bits, signed=signed, least=least)
        out.layers[n] = LayerQuant(plan.layers[n].weight, plan.layers[n].bias, spec.resolved(integer))
    return with_default_activations(out)


def calibration_images(ds: Dataset, seed: int) -> np.ndarray:
    """The training images 'auto' activation integer bits are calibrated on (seeded, so cached runs agree)."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(ds.x_train), min(CALIBRATION_IMAGES, len(ds.x_train)), replace=False))
    return ds.x_train[idx]


def _plan_to_json(plan: QuantPlan) -> dict:
    return {n: {r: str(getattr(lq, r)) for r in ("weight", "bias", "activation")} for n, lq in plan.layers.items()}


def _plan_from_json(d: dict) -> QuantPlan:
    from hwflow.zoo.quant import parse_spec

    return QuantPlan({n: LayerQuant(**{r: parse_spec(v, where=f"cached plan {n}.{r}") for r, v in roles.items()})
                      for n, roles in d.items()})


def build_models(cfg: FlowConfig, plan: QuantPlan | None = None):
    """The float model and (given a resolved plan) its QKeras twin, from the one definition."""
    from hwflow import zoo

    if cfg.model.file is not None:  # a user's model file (hwflow.usermodel)
        from hwflow import usermodel

        return usermodel.build_models(cfg, plan)

    from hwflow.errors import ConfigError

    try:
        float_model = zoo.build(cfg.model.arch, **cfg.model.params)
        qmodel = None if plan is None else zoo.build(cfg.model.arch, quant=plan, **cfg.model.params)
    except (ValueError, TypeError) as exc:  # an entry point's own check, or Keras (e.g. a negative dimension)
        params = ", ".join(f"{k}: {v!r}" for k, v in cfg.model.params.items())
        msg = " ".join(str(exc).split()).split(" for '{{node")[0][:300]
        raise ConfigError(f"{cfg.path}: model: {cfg.model.arch} cannot be built with {{{params}}}: {msg}") from None
    return float_model, qmodel


def folded_twin(cfg: FlowConfig, plan: QuantPlan, folded: dict[str, list[np.ndarray]]):
    """The QKeras twin of `plan` with the BN-folded float weights (hwflow.zoo.layers.fold_batchnorm): where
    QAT starts, and what a quantization measures before QAT."""
    _, qmodel = build_models(cfg, plan)
    for name, weights in folded.items():
        qmodel.get_layer(name).set_weights(weights)
    return qmodel


def float_cycle_dirs(cfg: FlowConfig, ds: Dataset) -> list[Path]:
    """Where the float weights after each training cycle (`epochs`, then each of `train.restarts`) are
    cached: keyed by the sections that define the float model only (FlowConfig.float_cycle_fingerprints)."""
    return [build_root() / "cache" / f"float-{k}" for k in cfg.float_cycle_fingerprints(ds.fingerprint)]


def float_cache_dir(cfg: FlowConfig, ds: Dataset) -> Path:
    """Where the trained float weights are cached: keyed by the sections that define the float
    model only (model, data, train minus qat_epochs), so configs that differ only in their
    quantization (e.g. a tuned `<model>_tuned.yaml`) reuse the float baseline and only rerun QAT."""
    return float_cycle_dirs(cfg, ds)[-1]


def _save_cache(model, cache: Path, file: str) -> None:
    """`model`'s weights into cache/<file>, written in a temporary folder and moved into place."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    model.save_weights(tmp / file)
    if not cache.exists():
        tmp.rename(cache)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def _train_float(cfg: FlowConfig, ds: Dataset, float_model) -> FitRun | None:
    """Float training, or its cached result (see float_cache_dir). Returns what this run trained (the
    cycles it did not find cached, from the epoch it started at), None when it all came from the cache.

    With `train.restarts` (SGDR, Loshchilov & Hutter 2017), each restart is a new cosine cycle with a
    fresh optimizer from the weights the previous cycle ended with, cached under its own key: the first
    cycle is the training of the same config without restarts (reused when cached), and training
    from scratch runs every cycle in turn, so the result does not depend on what was cached. Keras's
    CosineDecayRestarts is not used because it ties the cycles into one optimizer run, which could
    not start from the cached first cycle."""
    cycles = [(cfg.train.epochs, cfg.train.learning_rate), *cfg.train.restarts]
    caches = float_cycle_dirs(cfg, ds)
    if cfg.train.epochs <= 0:  # untrained (e.g. the *_imagenet configs): nothing to fit or cache
        return FitRun()
    done = max((i for i, c in enumerate(caches) if (c / "float.weights.h5").exists()), default=-1)
    if done < len(caches) - 1 and cfg.model.file is None:
        from hwflow import shipped

        seed = shipped.seed_float(cfg, ds)  # the shipped float weights after a later cycle than cached
        if seed is not None and seed[0] > done:
            done, weights = seed
            float_model.set_weights(weights)
            _save_cache(float_model, caches[done], "float.weights.h5")
            print(f"  float training: cycles 1-{done + 1} of {len(caches)} from the shipped weights "
                  f"{shipped.weights_path(cfg).name}", flush=True)
    if done == len(caches) - 1:
        float_model.load_weights(caches[-1] / "float.weights.h5")
        return None
    if done >= 0:
        float_model.load_weights(caches[done] / "float.weights.h5")
    run = None
    for i in range(done + 1, len(cycles)):
        epochs, lr = cycles[i]
        desc = f"{cfg.name}: float training" + (f" (restart {i} of {len(cycles) - 1})" if i else "")
        cycle = _fit(float_model, ds, cfg, epochs, lr, desc, backup=_backup_dir(caches[i]))
        _check_finite(float_model, cfg, "float training" + (f" (restart {i})" if i else ""))
        run = cycle if run is None else run + cycle  # started where the first cycle this run trains did
        _save_cache(float_model, caches[i], "float.weights.h5")
    return run


def _prune_float(cfg: FlowConfig, ds: Dataset, float_model, plan: dict[str, float]) -> FitRun | None:
    """Fine-tune the trained float baseline with magnitude pruning (hwflow.prune), or load the
    cached result; the zeros are checked against the targets. Returns what it trained as _train_float."""
    from hwflow import prune

    cache = build_root() / "cache" / f"pruned-{cfg.pruned_float_fingerprint(ds.fingerprint)}"
    run = None
    cached = (cache / "float.weights.h5").exists()
    if cached:
        float_model.load_weights(cache / "float.weights.h5")
    else:
        p = cfg.prune
        steps = max(1, int(np.ceil(len(ds.x_train) / cfg.train.batch_size))) * p.epochs
        wrapped = prune.wrap(float_model, plan, prune.ramp_schedule(steps, p.ramp, p.frequency))
        lr = p.learning_rate if p.learning_rate is not None else cfg.train.learning_rate / 2
        run = _fit(wrapped, ds, cfg, p.epochs, lr, f"{cfg.name}: pruning", backup=_backup_dir(cache),
                   callbacks=prune.callbacks())
        prune.strip_into(wrapped, float_model)
        _check_finite(float_model, cfg, "pruning")
    prune.check_zeros(float_model, prune.zero_masks(float_model, plan), plan, f"{cfg.path}: after float pruning")
    if not cached:
        _save_cache(float_model, cache, "float.weights.h5")
    return run


def untrained_models(cfg: FlowConfig):
    """Float model and QKeras twin with seeded initial weights (no data, no training): enough for
    structure checks and estimates, which do not depend on trained values."""
    import tensorflow as tf

    from hwflow.zoo.layers import fold_batchnorm, kernel_layer_names

    if cfg.model.file is not None:
        from hwflow import usermodel

        return usermodel.untrained_models(cfg, resolve_plan)
    tf.keras.utils.set_random_seed(cfg.train.seed)
    float_model, _ = build_models(cfg)
    folded = fold_batchnorm(float_model)
    plan = with_default_activations(resolve_plan(cfg.quant_plan(kernel_layer_names(float_model)), folded))
    qmodel = folded_twin(cfg, plan, folded)
    from hwflow import prune

    sparsity = prune.plan_for(cfg, float_model)
    if sparsity:  # a pruned config's estimate: the seeded weights with its zeros (smallest magnitudes)
        prune.prune_in_place(float_model, sparsity)
        prune.prune_in_place(qmodel, sparsity)
    return float_model, qmodel, plan


def _init_from_config(cfg: FlowConfig, ds: Dataset) -> TrainedModels | None:
    """The trained models of `train.init_from` (trained first, or loaded from its cache), on the same data."""
    if cfg.train.init_from is None:
        return None
    from hwflow.config import load_config
    from hwflow.errors import ConfigError

    base_cfg = load_config(cfg.train.init_from)
    if base_cfg.train.init_from is not None:
        raise ConfigError(f"{cfg.path}: train.init_from: {cfg.train.init_from.name} has an init_from of its own; "
                          f"valid: a config trained from its float model (no chains)")
    return train(base_cfg, ds)


def train(cfg: FlowConfig, ds: Dataset, init_from=None) -> TrainedModels:
    """Train (or load from the cache) the float model and the QAT QKeras model.

    `init_from`: a trained QKeras twin (same architecture) whose weights start the QAT instead of
    the folded float weights, and which replaces any cached result (hwflow.tune fine-tunes its
    narrowed widths from the 8-bit QAT weights this way). A config's `train.init_from` does the
    same from another config's trained QKeras model, reproducibly and cached like any training."""
    import tensorflow as tf

    from hwflow.zoo.layers import fold_batchnorm, kernel_layer_names

    if cfg.model.file is not None:
        return _train_model_file(cfg, ds, init_from)
    base = _init_from_config(cfg, ds)
    key = cfg.fingerprint(ds.fingerprint, base.weights_dir.name if base else "")
    start = init_from if init_from is not None else (base.qmodel if base else None)
    final = ModelPaths.for_model(cfg.name).model / key
    if init_from is None and (final / "metrics.json").exists():
        plan = _plan_from_json(json.loads((final / "plan.json").read_text()))
        float_model, qmodel = build_models(cfg, plan)
        float_model.load_weights(final / "float.weights.h5")
        qmodel.load_weights(final / "qkeras.weights.h5")
        m = json.loads((final / "metrics.json").read_text())
        return TrainedModels(float_model, qmodel, plan, m["float_accuracy"], m["qkeras_accuracy"], final, True)

    if init_from is None and base is None and cfg.train.epochs > 0:
        from hwflow import shipped

        got = shipped.load(cfg, ds)  # hls_configs/weights/<name>.npz made for this config: no training
        if got is not None:
            plan_raw, fw, qw, prov = got
            plan = _plan_from_json(plan_raw)
            float_model, qmodel = build_models(cfg, plan)
            float_model.set_weights(fw)
            qmodel.set_weights(qw)
            fa, qa = accuracy(float_model, ds.x_test, ds.y_test), accuracy(qmodel, ds.x_test, ds.y_test)
            _store(final, key, float_model, qmodel, plan, {
                "float_accuracy": fa, "qkeras_accuracy": qa, "train_images": len(ds.x_train),
                "test_images": len(ds.x_test), "validation_images": 0 if ds.x_val is None else len(ds.x_val),
                "started_at_epoch": None, "shipped": shipped.weights_path(cfg).name,
                "shipped_provenance": prov})
            trained = schedule_text(prov.get("epochs"), [r["epochs"] for r in prov.get("restarts", [])],
                                    prov.get("qat_epochs"), prov.get("optimizer", "adam"), prov.get("weight_decay", 0.0))
            print(f"  shipped weights: {shipped.weights_path(cfg).name} (trained {trained}; no training)", flush=True)
            return TrainedModels(float_model, qmodel, plan, fa, qa, final, True)

    tf.keras.utils.set_random_seed(cfg.train.seed)
    float_model, _ = build_models(cfg)
    runs = {"float": _train_float(cfg, ds, float_model)}
    from hwflow import prune

    sparsity = prune.plan_for(cfg, float_model)
    if sparsity and start is None and cfg.train.epochs > 0:
        # pruned while float (a config whose QAT starts from another model prunes that model's
        # weights in place below, and its float reference stays the unpruned baseline)
        runs["pruning"] = _prune_float(cfg, ds, float_model, sparsity)

    folded = fold_batchnorm(float_model)
    plan = resolve_plan(cfg.quant_plan(kernel_layer_names(float_model)), folded)
    plan = calibrate_activations(plan, float_model, calibration_images(ds, cfg.train.seed))
    qmodel = folded_twin(cfg, plan, folded)
    if start is not None:
        qmodel.set_weights(start.get_weights())
    qat_model, qat_callbacks = qmodel, None
    if sparsity:
        if start is None and cfg.train.epochs > 0:  # folding scales whole channels: the zeros stay
            prune.check_zeros(qmodel, prune.zero_masks(float_model, sparsity), sparsity, f"{cfg.path}: after BN folding")
        prune.prune_in_place(qmodel, sparsity)  # no-op where the zeros are already there
        masks = prune.zero_masks(qmodel, sparsity)
        qat_model = prune.wrap(qmodel, sparsity, prune.frozen_schedule())
        qat_callbacks = prune.callbacks()
    runs["qat"] = _fit(qat_model, ds, cfg, cfg.train.qat_epochs, qat_learning_rate(cfg), f"{cfg.name}: QAT",
                       backup=_backup_dir(final) if cfg.train.qat_epochs > 0 else None, callbacks=qat_callbacks, qat=True)
    if sparsity:
        prune.strip_into(qat_model, qmodel)
        prune.check_zeros(qmodel, masks, sparsity, f"{cfg.path}: after QAT")
    _check_finite(qmodel, cfg, "QAT")

    trained = cfg.train.epochs > 0
    fa = accuracy(float_model, ds.x_test, ds.y_test) if trained else None
    qa = accuracy(qmodel, ds.x_test, ds.y_test) if trained else None

    _store(final, key, float_model, qmodel, plan, {
        "float_accuracy": fa, "qkeras_accuracy": qa, "train_images": len(ds.x_train), "test_images": len(ds.x_test),
        "validation_images": 0 if ds.x_val is None else len(ds.x_val),
        # the epoch each training started at (> 0: resumed from its per-epoch checkpoint; null: cached),
        # and the epochs this run trained with their wall-clock seconds (null: cached)
        "started_at_epoch": {k: None if r is None else r.first_epoch for k, r in runs.items()},
        "trained": {k: None if r is None else r.to_dict() for k, r in runs.items()}, "sparsity": prune.sparsity_of(qmodel, list(sparsity))})
    return TrainedModels(float_model, qmodel, plan, fa, qa, final, False)


def _store(final: Path, key: str, float_model, qmodel, plan: QuantPlan, metrics: dict) -> None:
    """The training cache entry (weights, plan, metrics), built in a temporary folder and moved into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        float_model.save_weights(tmp / "float.weights.h5")
        qmodel.save_weights(tmp / "qkeras.weights.h5")
        (tmp / "plan.json").write_text(json.dumps(_plan_to_json(plan), indent=1))
        (tmp / "metrics.json").write_text(json.dumps(metrics))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _train_model_file(cfg: FlowConfig, ds: Dataset, init_from=None) -> TrainedModels:
    """A user's model file (hwflow.usermodel): its QKeras twin, QAT for train.epochs epochs on the data
    when `data:` is given (the float model in the file is not retrained; else the folded float
    weights), accuracies when the data has labels."""
    from hwflow import usermodel

    float_model, qmodel, plan = usermodel.untrained_models(cfg, resolve_plan)
    twinned = qmodel is not float_model  # a QKeras file is its own twin: taken as it is
    if init_from is not None and twinned:
        qmodel.set_weights(init_from.get_weights())
    given = cfg.data.source != "default"
    if given and cfg.train.epochs > 0 and twinned:
        _fit(qmodel, ds, cfg, cfg.train.epochs, cfg.train.learning_rate, f"{cfg.name}: QAT", qat=True)
        _check_finite(qmodel, cfg, "QAT")
    fa = accuracy(float_model, ds.x_test, ds.y_test) if given else None
    qa = accuracy(qmodel, ds.x_test, ds.y_test) if given else None
    return TrainedModels(float_model, qmodel, plan, fa, qa, cfg.model.file, False)
