"""MobileNetV2, MnasNet and ShuffleNet v2 through hwflow, and the hls4ml extension layers they need.

Fast: the Keras shuffle/slice layers against numpy references; the three families as float and
QKeras twins; the hls4ml IR they convert to. Slow: the C++ of the extension layers against the
Keras model in C-simulation (bit for bit), and one small family through `run_hls`.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwflow import zoo
from hwflow.config import config_from_dict, load_config
from hwflow.hls_ext.keras_layers import ChannelShuffle, ChannelSlice, shuffle_ref, shuffle_source, slice_ref
from hwflow.paths import CONFIG_DIR
from hwflow.zoo.layers import BN_SUFFIX, kernel_layer_names
from hwflow.zoo.quant import LayerQuant, QuantPlan, QuantSpec

FAMILIES = ("mobilenet_v2", "mnasnet", "shufflenet")


def _plan(model, bits=8, integer=3):
    w = QuantSpec("quantized_bits", bits, 1, 1.0)
    return QuantPlan({n: LayerQuant(w, w, QuantSpec("quantized_relu", bits, integer)) for n in kernel_layer_names(model)})


# ------------------------------------------------------------------------- Keras layers (fast)


@pytest.mark.parametrize("channels,groups", [(8, 2), (12, 3), (48, 2), (6, 1), (10, 5)])
def test_channel_shuffle_matches_numpy(channels, groups):
    x = np.random.default_rng(channels).normal(size=(3, 4, 5, channels)).astype("float32")
    y = ChannelShuffle(groups)(x).numpy()
    np.testing.assert_array_equal(y, shuffle_ref(x, groups))
    src = shuffle_source(channels, groups)
    assert sorted(src) == list(range(channels))  # a permutation: every value kept once
    if groups == 2 and channels == 8:
        assert src == [0, 4, 1, 5, 2, 6, 3, 7]  # the two halves interleaved
    # shuffling with g groups and then with C/g groups is the identity
    np.testing.assert_array_equal(ChannelShuffle(channels // groups)(y).numpy(), x)


def test_channel_slice_matches_numpy_and_rejects_bad_ranges():
    x = np.arange(2 * 3 * 3 * 10, dtype="float32").reshape(2, 3, 3, 10)
    np.testing.assert_array_equal(ChannelSlice(3, 4)(x).numpy(), slice_ref(x, 3, 4))
    assert ChannelSlice(3, 4)(x).shape == (2, 3, 3, 4)
    with pytest.raises(ValueError, match="outside 10 channels"):
        ChannelSlice(8, 4)(x)
    with pytest.raises(ValueError, match="cannot be shuffled in 3 groups"):
        ChannelShuffle(3)(x)


# ------------------------------------------------------------------------------ families (fast)


@pytest.fixture(scope="module")
def twins():
    """(arch, shape) -> (float model, QKeras model), built once for the module."""
    cache = {}

    def get(arch, shape, classes, **kw):
        key = (arch, shape)
        if key not in cache:
            fm = zoo.build(arch, input_shape=shape, classes=classes, **kw)
            cache[key] = fm, zoo.build(arch, quant=_plan(fm), input_shape=shape, classes=classes, **kw)
        return cache[key]

    return get


SMALL = {"mobilenet_v2": {"alpha": 0.35, "stem_stride": 1, "last_channels": 256},
         "mnasnet": {"alpha": 0.35, "stem_stride": 1, "last_channels": 256},
         "shufflenet": {"width": 0.5, "stem_stride": 1, "pool_size": 2, "last_channels": 256}}


@pytest.mark.parametrize("arch", FAMILIES)
@pytest.mark.parametrize("shape,classes", [((32, 32, 3), 10), ((224, 224, 3), 1000)])
def test_family_twins_share_kernel_layers(twins, arch, shape, classes):
    fm, qm = twins(arch, shape, classes, **(SMALL[arch] if shape[0] == 32 else {}))
    assert fm.output_shape == qm.output_shape == (None, classes)
    assert kernel_layer_names(fm) == kernel_layer_names(qm)
    assert [l.name for l in fm.layers if not l.name.endswith(BN_SUFFIX)] == [l.name for l in qm.layers]
    # the network downsamples 32x: 224 -> 7x7 (the paper's final grid), 32 with stride-1 stem -> 2x2
    last_conv = "conv5" if arch == "shufflenet" else "conv_last"
    assert fm.get_layer(last_conv).output_shape[1:3] == ((7, 7) if shape[0] == 224 else (2, 2))


def test_full_size_parameter_counts(twins):
    # keras.applications.MobileNetV2(alpha=1.0) has 3,538,984 parameters (BN statistics included)
    assert twins("mobilenet_v2", (224, 224, 3), 1000)[0].count_params() == 3538984
    fm, _ = twins("shufflenet", (224, 224, 3), 1000)
    # ShuffleNet v2 1.0x: conv1 24, stages 116 / 232 / 464, conv5 1024, units 4 / 8 / 4
    assert fm.get_layer("s2u1_concat").output_shape[-1] == 116 and fm.get_layer("s4u4_shuffle").output_shape[-1] == 464
    assert sum(type(l).__name__ == "ChannelShuffle" for l in fm.layers) == 16
    mn, _ = twins("mnasnet", (224, 224, 3), 1000)
    kernels = {l.name: l.kernel_size[0] for l in mn.layers if type(l).__name__ == "DepthwiseConv2D"}
    assert sum(k == 5 for k in kernels.values()) == 10 and sum(k == 3 for k in kernels.values()) == 7  # B1 search


def test_inverted_residual_structure(twins):
    fm, qm = twins("mobilenet_v2", (32, 32, 3), 10, **SMALL["mobilenet_v2"])
    adds = [l.name for l in fm.layers if type(l).__name__ == "Add"]
    assert len(adds) == 10  # repeats minus first block of each stage: 0+1+2+3+2+2+0
    assert "b1_expand" not in {l.name for l in fm.layers}  # t = 1 in the first block
    # ReLU6: a Keras ReLU(6) in float, a bounded quantized_relu in QKeras
    assert float(fm.get_layer("b2_dw_relu").max_value) == 6.0
    q = qm.get_layer("b2_dw_relu").quantizer
    assert (q.relu_upper_bound, q.is_quantized_clip, q.bits, q.integer) == (6, False, 8, 3)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    assert qm.predict(x, verbose=0).shape == (2, 10)


def test_relu6_needs_room_for_the_bound():
    fm = zoo.build("mobilenet_v2", input_shape=(32, 32, 3), classes=10, alpha=0.35)
    with pytest.raises(ValueError, match="cannot represent the ReLU bound 6; use activation_integer >= 3"):
        zoo.build("mobilenet_v2", quant=_plan(fm, integer=2), input_shape=(32, 32, 3), classes=10, alpha=0.35)


def test_check_accepts_the_families_and_refuses_an_ignored_bound(twins):
    import qkeras
    from tensorflow import keras

    from hwflow.check import check_model

    cfg = load_config(CONFIG_DIR / "shufflenet.yaml")
    for arch in FAMILIES:
        _, qm = twins(arch, (32, 32, 3), 10, **SMALL[arch])
        assert not [f for f in check_model(qm, cfg.hls) if f.fatal], arch
    inp = keras.Input((4, 4, 2))
    bad = keras.Model(inp, qkeras.QActivation(qkeras.quantized_relu(8, 3, relu_upper_bound=6), name="r")(inp))
    assert [f.code for f in check_model(bad, cfg.hls) if f.fatal] == ["ignored-relu-bound"]


def _tiny_model(seed=1):
    """Every construct of the three families in a few layers, with weights big enough to saturate ReLU6."""
    import qkeras
    import tensorflow as tf
    from tensorflow import keras

    tf.keras.utils.set_random_seed(seed)
    qb = lambda: qkeras.quantized_bits(8, 1, alpha=1)  # noqa: E731
    inp = keras.Input((8, 8, 3), name="image")  # 64 pixels: the global mean is exact
    x = qkeras.QConv2D(8, 1, name="c1", kernel_quantizer=qb(), bias_quantizer=qb())(inp)
    x = qkeras.QActivation(qkeras.quantized_relu(8, 3, relu_upper_bound=6, is_quantized_clip=False), name="c1_relu")(x)
    x = ChannelShuffle(2, name="sh1")(x)
    a = ChannelSlice(0, 4, name="split_l")(x)
    b = ChannelSlice(4, 4, name="split_r")(x)
    b = qkeras.QDepthwiseConv2D(3, padding="same", name="dw", depthwise_quantizer=qb(), bias_quantizer=qb())(b)
    b = qkeras.QActivation(qkeras.quantized_bits(8, 3, alpha=1), name="dw_q")(b)
    b = qkeras.QConv2D(4, 1, name="pw", kernel_quantizer=qb(), bias_quantizer=qb())(b)
    b = qkeras.QActivation(qkeras.quantized_relu(8, 3), name="pw_relu")(b)
    x = keras.layers.Concatenate(name="cat")([a, b])
    x = ChannelShuffle(2, name="sh2")(x)
    y = qkeras.QConv2D(8, 1, name="proj", kernel_quantizer=qb(), bias_quantizer=qb())(x)
    y = qkeras.QActivation(qkeras.quantized_bits(8, 3, alpha=1), name="proj_q")(y)
    x = keras.layers.Add(name="add")([x, y])
    x = qkeras.QConv2D(8, 1, name="c2", kernel_quantizer=qb(), bias_quantizer=qb())(x)
    x = qkeras.QActivation(qkeras.quantized_relu(8, 3, relu_upper_bound=6, is_quantized_clip=False), name="c2_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = qkeras.QDense(5, name="fc", kernel_quantizer=qb(), bias_quantizer=qb())(x)
    model = keras.Model(inp, x)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([rng.uniform(-1.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])
    kernel, bias = model.get_layer("c1").get_weights()
    kernel[..., :3], kernel[..., 5:] = 1.5, -1.5  # channels 0-2 reach the bound 6, 5-7 stay at 0
    model.get_layer("c1").set_weights([kernel, bias])
    return model


def _tiny_cfg(tmp_path, io_type):
    raw = {"model": {"arch": "shufflenet", "input_shape": [8, 8, 3], "classes": 5},
           "hls": {"backend": "Vitis", "board": "zcu102", "io_type": io_type, "strategy": "Latency",
                   "reuse_factor": 1, "input_precision": "ufixed<8,2,RND_CONV,SAT>"}}
    return config_from_dict(raw, tmp_path / "tiny.yaml")


def test_extension_layers_convert_to_exact_types(tmp_path):
    from hwflow.convert import to_hls_model

    hm = to_hls_model(_tiny_cfg(tmp_path, "io_stream"), _tiny_model(), tmp_path / "prj")
    layers = {l.name: l for l in hm.get_layers()}
    assert {layers[n].class_name for n in ("sh1", "split_l", "split_r", "sh2")} == {"ChannelShuffle", "ChannelSlice"}
    assert layers["c1_relu"].class_name == layers["c2_relu"].class_name == "BoundedReLU"
    assert layers["c1_relu"].get_attr("bound") == 6
    # pure permutations: output type = input type (not hls4ml's fixed<16,6> default for unknown layers)
    for n in ("sh1", "split_l", "split_r", "sh2"):
        assert str(layers[n].get_output_variable().type.precision) == str(layers[n].get_input_variable().type.precision)
    assert str(layers["sh2"].get_output_variable().type.precision).startswith("ufixed<8,3")
    # the linear quantizers survive: folded into the conv result type
    assert str(layers["proj"].get_output_variable().type.precision).startswith("fixed<8,4,RND_CONV,SAT")
    assert "proj_q" not in layers and "dw_q" not in layers
    # the estimator covers the extension layers: wiring, no multipliers
    from hwflow.estimate import estimate

    est = estimate(hm, "zcu102", 5.0)
    assert est.unknown_layers == []
    rows = {le.name: le for le in est.layers}
    assert {rows[n].kind for n in ("sh1", "split_l", "sh2")} == {"elem"} and rows["c1_relu"].kind == "act"
    assert all(rows[n].dsp == rows[n].multipliers == 0 for n in ("sh1", "split_l", "split_r", "sh2", "c1_relu"))


# -------------------------------------------------------------------------- C-simulation (slow)


@pytest.mark.slow
@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_extension_cpp_is_bit_exact(tmp_path, io_type):
    from hwflow.convert import convert
    from hwflow.sim import csim

    model = _tiny_model()
    res = convert(_tiny_cfg(tmp_path, io_type), model, tmp_path / "hls")
    src = (tmp_path / "hls" / "firmware" / "myproject.cpp").read_text()
    assert src.count("nnet::channel_shuffle<") == 2 and src.count("nnet::channel_slice<") == 2
    assert src.count("nnet::bounded_relu<") == 2
    assert (tmp_path / "hls" / "firmware" / "nnet_utils" / "nnet_hwflow.h").exists()
    assert not any(l.n_params for l in res.layers if l.class_name in ("ChannelShuffle", "ChannelSlice", "BoundedReLU"))
    x = np.random.default_rng(2).integers(0, 256, (40, 8, 8, 3)) / 64.0  # [0, 4): the input type is ufixed<8,2>
    lib = csim.compile_project(res.hls_dir, tmp_path / "csim")
    run = csim.run(res.hls_dir, lib, x, trace=True, workers=1, progress=False)
    from tensorflow import keras

    for name in ("c1_relu", "sh1", "split_r", "cat", "sh2", "add", "c2_relu"):
        ref = keras.Model(model.input, model.get_layer(name).output).predict(x, verbose=0).reshape(len(x), -1)
        np.testing.assert_array_equal(run.trace[name], ref, err_msg=name)
    c1 = keras.Model(model.input, model.get_layer("c1_relu").output).predict(x, verbose=0)
    assert (c1 == 6.0).mean() > 0.05 and (c1 == 0).mean() > 0.05  # both ends of ReLU6 exercised
    np.testing.assert_array_equal(run.outputs, model.predict(x, verbose=0))
    # the bit-exact emulator knows the extension layers too, layer by layer
    from hwflow.sim.emulate import emulate

    out, trace = emulate(res.hls_model, x, trace=True)
    np.testing.assert_array_equal(np.asarray(out).reshape(run.outputs.shape), run.outputs)
    for name in ("sh1", "split_r", "sh2", "c1_relu"):
        np.testing.assert_array_equal(np.asarray(trace[name]).reshape(len(x), -1), run.trace[name], err_msg=name)


@pytest.mark.slow
def test_small_shufflenet_end_to_end(build_dir):
    """shufflenet.yaml on a slice of the data, through data -> train -> check -> convert -> C-sim parity."""
    import yaml

    from hwflow.flow import run_hls

    path = CONFIG_DIR / "shufflenet.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["data"].update(max_train=300, max_test=60)
    raw["train"].update(epochs=2, qat_epochs=1)
    raw["parity"]["images"] = 60
    res = run_hls(config_from_dict(raw, path))
    p = res.parity
    assert p.n_images == 60 and p.argmax_agreement == 1.0 and p.bit_exact_share == 1.0
    classes = {l.class_name for l in res.project.layers}
    assert {"ChannelShuffle", "ChannelSlice"} <= classes
