"""Datasets: the embedded default, image folders and .npz files, as model-ready arrays.

Pixels are scaled by 1/256 so every input value is a multiple of 2^-8 below 1: exactly
representable by the HLS input type `ufixed<8,0>`, so the firmware and the QKeras model see
the same numbers.

- `default`: scikit-learn's digits (1,797 8x8 images, 10 classes, shipped inside the pinned
  scikit-learn: no download), resized to the model's input and replicated to its channels.
- an image folder `<root>/<class>/*.jpg|png` (classes = sorted folder names), or
  `<root>/train/<class>/...` + `<root>/test/<class>/...` (the layout of CIFAR-10 JPEG).
- an `.npz` with `x_train, y_train, x_test, y_test` (uint8 images or floats in [0, 1]).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwflow.errors import ConfigError
from hwflow.guard import check_image_size, regular_file, show
from hwflow.paths import build_root

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class Dataset:
    x_train: np.ndarray  # float32, N x H x W x C, multiples of 1/256 in [0, 1)
    y_train: np.ndarray  # int64 labels
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    fingerprint: str  # identifies source + shapes (part of the training cache key)
    x_val: np.ndarray | None = None  # `data.validation` training images held out (never trained on)
    y_val: np.ndarray | None = None

    @property
    def has_validation(self) -> bool:
        return self.x_val is not None and len(self.x_val) > 0


def _to_model_input(images_u8: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 N x h x w x c -> float32 N x H x W x C scaled by 1/256."""
    from PIL import Image

    h, w, c = shape
    n = len(images_u8)
    if images_u8.ndim == 3:
        images_u8 = images_u8[..., None]
    if images_u8.shape[1:3] != (h, w):
        mode = "L" if images_u8.shape[-1] == 1 else "RGB"
        resized = np.empty((n, h, w, images_u8.shape[-1]), np.uint8)
        for i in range(n):
            img = Image.fromarray(images_u8[i].squeeze(-1) if mode == "L" else images_u8[i], mode)
            arr = np.asarray(img.resize((w, h), Image.BILINEAR))
            resized[i] = arr.reshape(h, w, -1)
        images_u8 = resized
    if images_u8.shape[-1] != c:
        if images_u8.shape[-1] == 1:
            images_u8 = np.repeat(images_u8, c, axis=-1)
        elif c == 1:
            images_u8 = images_u8.mean(axis=-1, keepdims=True).astype(np.uint8)
        else:
            raise ConfigError(f"data: images have {images_u8.shape[-1]} channels, the model wants {c}")
    return images_u8.astype(np.float32) / 256.0


def _split(x, y, test_fraction: float, seed: int):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    return x[idx[n_test:]], y[idx[n_test:]], x[idx[:n_test]], y[idx[:n_test]]


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(d.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    return images, d.target.astype(np.int64), [str(i) for i in range(10)]


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir())


def _read_folder(root: Path, class_names: list[str] | None = None, limit: int | None = None):
    from PIL import Image
    from tqdm import tqdm

    dirs = _class_dirs(root)
    names = class_names or [d.name for d in dirs]
    files: list[tuple[Path, int]] = []
    for d in dirs:
        if d.name not in names:
            raise ConfigError(f"data.source: class folder {d} is not among the training classes {names}")
        label = names.index(d.name)
        files += [(f, label) for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ConfigError(f"data.source: no images ({', '.join(IMAGE_SUFFIXES)}) under {root}/<class>/")
    if limit is not None and limit < len(files):
        # a class-balanced, deterministic subset: every k-th file
        idx = np.linspace(0, len(files) - 1, limit).round().astype(int)
        files = [files[i] for i in idx]
    def read(f: Path):
        try:
            regular_file(f, "image", flag="data.source")
            with Image.open(f) as img:
                check_image_size(*img.size, f"data.source: {show(f)}")  # every image, before it is decoded
                img.load()  # decode now: a truncated file fails here, not in the middle of training
                return img.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ConfigError(f"data.source: {show(f)}: not a readable image ({' '.join(str(exc).split())[:100]}); "
                              f"remove or replace it") from None

    first = np.asarray(read(files[0][0]))
    out = np.empty((len(files), *first.shape), np.uint8)
    for i, (f, _) in enumerate(tqdm(files, desc=f"reading {root.name}", unit="img", leave=False, disable=None)):
        img = read(f)
        if img.size != (first.shape[1], first.shape[0]):
            img = img.resize((first.shape[1], first.shape[0]), Image.BILINEAR)
        out[i] = np.asarray(img)
    return out, np.array([l for _, l in files], np.int64), names


def _source_signature(path: Path) -> str:
    """What the data is, not where or when it was copied: the hash of an .npz's bytes, or of every
    image's path (relative to the folder) and size. A folder's own mtime misses edits inside its
    class folders and changes whenever the same data is copied again (a fresh CI checkout), which
    would retrain every model for nothing."""
    h = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    for f in sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        h.update(f"{f.relative_to(path).as_posix()}\0{f.stat().st_size}\n".encode())
    return h.hexdigest()


def _cache_key(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def load_dataset(data_cfg, input_shape: tuple[int, int, int], seed: int = 0, classes: int | None = None) -> Dataset:
    """Load the configured dataset, resized to `input_shape`, with `data.validation` training images
    (a seeded random choice) moved to a validation split. Decoded folders are cached (only once
    checked: see _check_arrays; `classes` = the model's output count, when known)."""
    ds = _load(data_cfg, input_shape, seed, classes)
    n_val = data_cfg.validation
    if n_val == 0:
        return ds
    if n_val >= len(ds.x_train):
        raise ConfigError(f"data.validation: {n_val} held-out images leave none to train on; "
                          f"valid: 0..{len(ds.x_train) - 1} (the training split has {len(ds.x_train)})")
    order = np.random.default_rng(seed).permutation(len(ds.x_train))
    val, keep = np.sort(order[:n_val]), np.sort(order[n_val:])
    return Dataset(ds.x_train[keep], ds.y_train[keep], ds.x_test, ds.y_test, ds.class_names,
                   _cache_key(ds.fingerprint, "validation", n_val), ds.x_train[val], ds.y_train[val])


def _check_arrays(path: Path, xtr, ytr, xte, yte, names: list[str], classes: int | None) -> None:
    """Images and labels that a model can train on, or a ConfigError naming the file and what is wrong."""
    for key, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3, 4)):
            raise ConfigError(f"{path}: x_{key} has shape {x.shape}; expected N x H x W or N x H x W x C (C 1 or 3)")
        if len(x) == 0:
            raise ConfigError(f"{path}: x_{key} is empty; valid: at least one image")
        if min(x.shape[1:3]) < 1:
            raise ConfigError(f"{path}: x_{key} has empty images {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ConfigError(f"{path}: y_{key} has shape {y.shape} but x_{key} has {len(x)} images; "
                              f"valid: one integer label per image")
        if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
            raise ConfigError(f"{path}: y_{key} has dtype {y.dtype}; valid: integer labels 0..classes-1")
        if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
            raise ConfigError(f"{path}: y_{key} holds non-finite labels; valid: integers 0..classes-1")
        if np.issubdtype(y.dtype, np.floating) and np.any(y != np.round(y)):
            raise ConfigError(f"{path}: y_{key} holds non-integer labels; valid: integers 0..classes-1")
        if y.min() < 0:
            raise ConfigError(f"{path}: y_{key} holds negative labels (min {y.min()}); valid: integers 0..classes-1")
        _check_pixels(path, f"x_{key}", x)
    seen = np.unique(ytr)
    if len(seen) < 2:
        raise ConfigError(f"{path}: y_train holds one class only (label {seen[0]:g}); a classifier needs at least 2 "
                          f"classes")
    if classes is not None:
        top = int(max(ytr.max(), yte.max()))
        if top >= classes:
            raise ConfigError(f"{path}: labels go up to {top} but model.classes is {classes}; "
                              f"valid: labels 0..{classes - 1} (or raise model.classes)")
        if len(names) < classes and not path.suffix == ".npz":
            raise ConfigError(f"{path}: {len(names)} class folder(s) ({', '.join(names)}) but model.classes is {classes}; "
                              f"give one folder per class or set model.classes: {len(names)}")


def _check_pixels(path: Path, name: str, x: np.ndarray) -> None:
    """The documented pixel forms only: uint8, or floats in [0, 1] (anything else would be scaled
    wrongly: int64 or float 0..255 pixels saturate at 1.0)."""
    if x.dtype == np.uint8:
        check_image_size(x.shape[2], x.shape[1], f"{path}: {name}")
        return
    if not np.issubdtype(x.dtype, np.floating):
        hint = "; convert with x.astype(np.uint8)" if np.issubdtype(x.dtype, np.integer) else ""
        raise ConfigError(f"{path}: {name} has dtype {x.dtype}; valid: uint8 or floats in [0, 1]{hint}")
    check_image_size(x.shape[2], x.shape[1], f"{path}: {name}")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"{path}: {name} holds NaN/inf pixels; valid: uint8 or finite floats in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        hint = " (0..255 pixels? divide by 255 or save them as uint8)" if hi > 1 else ""
        raise ConfigError(f"{path}: {name} holds floats in [{lo:g}, {hi:g}]; valid: uint8 or floats in [0, 1]{hint}")


def _load_npz(path: Path):
    """x_train, y_train, x_test, y_test of an .npz (no pickles), or a ConfigError."""
    import zipfile

    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle
        raise ConfigError(f"{path}: not a readable .npz (not a zip archive written by np.savez); "
                          f"valid: np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z]
            if missing:
                raise ConfigError(f"{path}: missing arrays {missing}; an .npz needs x_train, y_train, x_test, y_test")
            return [np.asarray(z[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
    except ValueError as exc:  # object arrays: allow_pickle=False refuses them
        raise ConfigError(f"{path}: refused: {' '.join(str(exc).split())[:120]}; valid: plain numeric arrays "
                          f"(np.savez without Python objects)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a readable .npz ({type(exc).__name__}: {str(exc)[:100]})") from None


def _load(data_cfg, input_shape: tuple[int, int, int], seed: int, classes: int | None = None) -> Dataset:
    shape = tuple(input_shape)
    if data_cfg.source == "default":
        images, labels, names = _digits()
        xtr, ytr, xte, yte = _split(images, labels, data_cfg.test_fraction, seed)
        fp = _cache_key("digits", shape, data_cfg.test_fraction, seed)
    else:
        path = Path(data_cfg.path)
        key = _cache_key(_source_signature(path), shape, data_cfg.test_fraction, seed,
                         data_cfg.max_train, data_cfg.max_test)
        cache = build_root() / "cache" / f"data-{key}.npz"
        if cache.exists():
            z = np.load(cache, allow_pickle=False)
            return Dataset(z["x_train"], z["y_train"], z["x_test"], z["y_test"], list(z["names"]), key)
        if path.suffix == ".npz":
            xtr, ytr, xte, yte = _load_npz(path)
            _check_arrays(path, xtr, ytr, xte, yte, [], classes)

            def u8(a):
                return a if a.dtype == np.uint8 else np.clip(np.asarray(a) * 256, 0, 255).astype(np.uint8)
            xtr, ytr, xte, yte = u8(xtr), ytr.astype(np.int64), u8(xte), yte.astype(np.int64)
            names = [str(i) for i in range(int(max(ytr.max(), yte.max())) + 1)]
        elif (path / "train").is_dir() and (path / "test").is_dir():
            xtr, ytr, names = _read_folder(path / "train", limit=data_cfg.max_train)
            xte, yte, _ = _read_folder(path / "test", names, limit=data_cfg.max_test)
        else:
            images, labels, names = _read_folder(path)
            xtr, ytr, xte, yte = _split(images, labels, data_cfg.test_fraction, seed)
        if path.suffix != ".npz":
            _check_arrays(path, xtr, ytr, xte, yte, names, classes)
        fp = key
    if data_cfg.max_train is not None:
        xtr, ytr = xtr[: data_cfg.max_train], ytr[: data_cfg.max_train]
    if data_cfg.max_test is not None:
        xte, yte = xte[: data_cfg.max_test], yte[: data_cfg.max_test]
    ds = Dataset(_to_model_input(xtr, shape), ytr, _to_model_input(xte, shape), yte, names, fp)
    if data_cfg.source != "default":
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test,
                 names=np.array(names))
        tmp.replace(cache)
    return ds
