"""Resources, latency and initiation interval of a converted hls4ml model, without synthesis.

`estimate(hls_model, board=None, clock_period_ns=None) -> Estimate` walks the layers of an
hls4ml 1.3.0 `ModelGraph` (converted, not written, not compiled) and models each one the way
the nnet_utils templates implement it:

- multipliers: `multiplier_limit = ceil(n_in*n_out/RF) - n_zeros/RF` (nnet_dense_latency.h
  ALLOCATION pragma; nnet_dense_resource.h `block_factor` for the Resource strategy); conv
  layers reuse one such kernel per pixel (line buffer in io_stream, im2col partitions in
  io_parallel), depthwise layers have kernel*channels products. `n_zeros` are the model's
  real zero weights (pruning): HLS drops those products where the weights are constants (Latency,
  or Resource at RF 1); the Resource kernel at RF > 1 reads them from its ROM and keeps them.
- DSP vs LUT. Resource strategy: the weights are read from a ROM, a product is a DSP unless
  both operands are `lut_mult_max_bits` wide or narrower. Latency strategy: the weights are
  compile-time constants, and HLS builds a product by a constant with few significant bits
  (zeros stripped at both ends: powers of two, small values) as shift-adds in LUTs. The
  significant bits are counted on the layer's actual quantized weights (q = round(w * 2^frac)):
  a product is a DSP when q has more than `dsp_min_sig_bits[tool]` (+ `dsp_sig_per_input_bit`
  per activation bit below 16) significant bits. (`dsp_share`, the older statistical model of
  the same share from the precision alone, is kept for weights without data.) The DSP-mapped
  products share at most `multiplier_limit` DSPs; the LUT-mapped ones are not limited.
  Wide products take ceil(a/A)*ceil(b/B) DSPs (DSP48E1 25x18, DSP48E2 27x18).
- latency/II: a kernel's interval is RF (PIPELINE II=RF). Vivado HLS (<= 2020.1 reports)
  reports a shorter interval when the allocation limit binds: ceil(DSP products / limit)
  (on when the fit says so: `vivado_ii_from_dsp`). io_parallel is one pipelined function
  (latency = longest path of layer latencies plus a per-call overhead); io_stream is a
  dataflow region: interval = slowest layer, latency from a start/finish model per layer
  (first output after the line buffer fills, last output a `tail` after the last input).
- io_stream convolutions take cycles per input pixel by tool (`tool`: Vivado HLS or Vitis HLS,
  an input of `estimate`): Latency strategy at least `stream_pixel_min[tool]`, Resource RF +
  `stream_resource_extra[tool]` (`stream_resource_rf1[tool]` at RF 1).
- BRAM_18K: weights of Resource-strategy layers at RF > 1 (ROM `block_factor` wide, RF deep:
  nnet_dense_resource.h binds them `RESOURCE core=ROM_nP_BRAM`, and the fixtures' Memory tables
  show even 9-word ROMs in BRAM, e.g. 9 x 238 bits = 7 BRAM_18K), softmax and other lookup tables,
  and io_stream FIFOs of the depth on hls4ml's output variable (`var.pragma = ('stream', depth)`),
  none for in-place streams and the output port. FIFOs per tool (`Calibration.fifo_*`, fitted on
  the FIFO tables of real reports): Vivado HLS splits a stream into one FIFO per element, SRL up to
  512 bits, BRAM above; Vitis HLS keeps one wide FIFO. Line buffers (ap_shift_reg) are SRL.
- LUT/FF: linear in a few per-layer features (LUT products x bits, adder bits, DSPs, reuse
  muxes, elementwise bits, a per-layer constant); coefficients fitted (non-negative least
  squares, relative error) on per-layer numbers of real reports.

The free constants live in `hwflow/estimate/calibration.json`, written by
`benchmarks/calibrate_estimator.py`, which also measures the error against real reports.
"""

from __future__ import annotations

from hwflow.estimate.calibration import CALIBRATION_PATH, LUT_FEATURES, Calibration
from hwflow.estimate.layers import (LayerEstimate, _Ctx, _fifo_bram, _layer, _weight_bram, dsp_share, ff_density,
                                    kernel_dsp, stream_fifo_bram, weight_sig_bits)
from hwflow.estimate.network import RESOURCES, Estimate, Roofline, _tool, estimate

__all__ = ["CALIBRATION_PATH", "LUT_FEATURES", "RESOURCES", "Calibration", "Estimate", "LayerEstimate", "Roofline",
           "dsp_share", "estimate", "ff_density", "kernel_dsp", "stream_fifo_bram", "weight_sig_bits"]
