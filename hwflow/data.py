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
    first = np.asarray(Image.open(files[0][0]).convert("RGB"))
    out = np.empty((len(files), *first.shape), np.uint8)
    for i, (f, _) in enumerate(tqdm(files, desc=f"reading {root.name}", unit="img", leave=False, disable=None)):
        img = Image.open(f).convert("RGB")
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


def load_dataset(data_cfg, input_shape: tuple[int, int, int], seed: int = 0) -> Dataset:
    """Load the configured dataset, resized to `input_shape`, with `data.validation` training images
    (a seeded random choice) moved to a validation split. Decoded folders are cached."""
    ds = _load(data_cfg, input_shape, seed)
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


def _load(data_cfg, input_shape: tuple[int, int, int], seed: int) -> Dataset:
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
            z = np.load(path, allow_pickle=False)
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z]
            if missing:
                raise ConfigError(f"{path}: missing arrays {missing}; an .npz needs x_train, y_train, x_test, y_test")
            def u8(a):
                return a if a.dtype == np.uint8 else np.clip(np.asarray(a) * 256, 0, 255).astype(np.uint8)
            xtr, ytr, xte, yte = u8(z["x_train"]), z["y_train"].astype(np.int64), u8(z["x_test"]), z["y_test"].astype(np.int64)
            names = [str(i) for i in range(int(max(ytr.max(), yte.max())) + 1)]
        elif (path / "train").is_dir() and (path / "test").is_dir():
            xtr, ytr, names = _read_folder(path / "train", limit=data_cfg.max_train)
            xte, yte, _ = _read_folder(path / "test", names, limit=data_cfg.max_test)
        else:
            images, labels, names = _read_folder(path)
            xtr, ytr, xte, yte = _split(images, labels, data_cfg.test_fraction, seed)
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
