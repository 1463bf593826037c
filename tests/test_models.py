"""The model zoo: every registered family builds in float and QKeras with the same layer names."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow import zoo
from hwflow.errors import ConfigError
from hwflow.zoo.layers import BN_SUFFIX, fold_batchnorm, kernel_layer_names
from hwflow.zoo.quant import LayerQuant, QuantPlan, QuantSpec, parse_spec, spec_from_value


def _plan(model, bits=8):
    w = QuantSpec("quantized_bits", bits, 2, 1.0)
    return QuantPlan({n: LayerQuant(w, w, QuantSpec("quantized_relu", bits, 3)) for n in kernel_layer_names(model)})


@pytest.mark.parametrize("arch", zoo.list_models())
@pytest.mark.parametrize("shape,classes", [((32, 32, 3), 10), ((224, 224, 3), 1000)])
def test_float_and_quantized_twins(arch, shape, classes):
    params = zoo.params_of(arch)
    kw = {"input_shape": shape, "classes": classes}
    if "width" in params:
        kw["width"] = 0.25 if shape[0] == 32 else 1.0
    fm = zoo.build(arch, **kw)
    qm = zoo.build(arch, quant=_plan(fm), **kw)
    assert fm.output_shape == qm.output_shape == (None, classes)
    float_names = [l.name for l in fm.layers if not l.name.endswith(BN_SUFFIX)]
    assert float_names == [l.name for l in qm.layers]
    assert all(type(qm.get_layer(n)).__name__.startswith("Q") for n in kernel_layer_names(fm))


def test_squeezenet_variants_follow_the_paper():
    v10 = zoo.build("squeezenet", variant="1.0", input_shape=(224, 224, 3), classes=1000, pool_size=3)
    v11 = zoo.build("squeezenet", variant="1.1", input_shape=(224, 224, 3), classes=1000, pool_size=3)
    # parameter counts of the paper's networks (1.0: 1,248,424; 1.1: 1,235,496)
    assert v10.count_params() == 1248424
    assert v11.count_params() == 1235496
    pools = [l.name for l in v10.layers if "pool" in l.name and "Max" in type(l).__name__]
    assert pools == ["pool1", "pool4", "pool8"]
    assert v10.get_layer("conv1").kernel_size == (7, 7) and v11.get_layer("conv1").kernel_size == (3, 3)


def test_mobilenet_matches_keras_applications_size():
    m = zoo.build("mobilenet", input_shape=(224, 224, 3), classes=1000, alpha=1.0)
    # keras.applications.MobileNet(alpha=1.0) has 4,253,864 parameters (conv classifier with bias)
    assert m.count_params() == 4253864
    assert m.get_layer("pw13").output_shape == (None, 7, 7, 1024)


def test_bn_folding_reproduces_the_float_output():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    fm = zoo.build("mobilenet", input_shape=(16, 16, 3), classes=4, alpha=0.25, depth=2, dropout=0.0)
    # give BN non-trivial statistics
    for l in fm.layers:
        if l.name.endswith(BN_SUFFIX):
            g, b, m, v = l.get_weights()
            l.set_weights([g * 1.5, b + 0.1, m + 0.2, v * 2.0])
    folded = fold_batchnorm(fm)
    # a float twin without BN: the QKeras definition with 24-bit quantizers is effectively float
    qm = zoo.build("mobilenet", quant=_plan(fm, bits=24), input_shape=(16, 16, 3), classes=4, alpha=0.25,
                            depth=2, dropout=0.0)
    for name, w in folded.items():
        qm.get_layer(name).set_weights(w)
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32") * 0.5
    ref = fm.predict(x, verbose=0)
    # quantized_relu(24,3) clips at 8: keep the check on the pre-clip range by using small inputs
    assert np.allclose(qm.predict(x, verbose=0), ref, atol=2e-3)


def test_quantizer_grammar():
    assert str(parse_spec("quantized_bits(6, 1, alpha=1)", where="w")) == "quantized_bits(6,1,alpha=1)"
    assert parse_spec("quantized_relu(4,2)", where="a").bits == 4
    assert spec_from_value(5, role="weight", where="w").integer is None  # resolved from trained weights
    for bad, frag in [("quantized_bits(6,1,alpha=0.5)", "only alpha=1"), ("quantized_bits(6,1", "not a quantizer call"),
                      ("os.system('x')", "cannot parse quantizer"), ("quantized_bits(bits=6,foo=1)", "no argument 'foo'"),
                      ("quantized_bits(40,0)", "bits must be"), ("quantized_relu(4,2,1)", "at most 2 positional")]:
        with pytest.raises(ConfigError, match=frag.replace("(", r"\(")):
            parse_spec(bad, where="quantization.default.weight")


def test_unknown_architecture():
    with pytest.raises(ConfigError, match="unknown architecture 'resnet50'; valid: .*squeezenet"):
        zoo.build("resnet50")
