"""Child process that runs a compiled hls4ml C-simulation library on a batch of inputs.

    python -m hwflow.sim._worker <spec.json>

It imports only numpy and ctypes (starts in a fraction of a second) and is the only code that
calls into the generated C++. A C++ assert or crash therefore ends this process, never the
caller's. Written by hand because hls4ml's own `ModelGraph.predict`/`trace` run the library
inside the calling Python process (the ctypes calls below mirror them).

spec: {"lib", "project", "input", "output", "input_size", "output_size", "cwd",
       "trace": [[layer, size], ...], "trace_files": false}
With "trace_files" (used by hwflow.sim.csim to find the layer of a crash), hls4ml's `nnet::trace_enabled`
is switched on without trace storage, so each traced layer appends its output to
./tb_data/<layer>_output.log (hls4ml's own file mode, closed per layer): what survives a segfault.
Prints "done <n>" after each sample so the parent can show progress.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

import numpy as np
import numpy.ctypeslib as npc


class TraceData(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]


def main(spec_path: str) -> int:
    spec = json.loads(open(spec_path).read())
    lib = ctypes.cdll.LoadLibrary(spec["lib"])
    top = getattr(lib, spec["project"] + "_double")
    top.restype = None
    top.argtypes = [npc.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")] * 2
    x = np.load(spec["input"]).astype(np.float64).reshape(-1, spec["input_size"])
    out = np.zeros((len(x), spec["output_size"]), np.float64)
    trace_layers = spec.get("trace") or []
    traces = {name: np.zeros((len(x), size), np.float64) for name, size in trace_layers}
    os.chdir(spec["cwd"])  # weights and trace files are looked up relative to firmware/
    if spec.get("trace_files"):
        ctypes.c_bool.in_dll(lib, "_ZN4nnet13trace_enabledE").value = True  # bool nnet::trace_enabled
    if trace_layers:
        lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
        lib.allocate_trace_storage.restype = None
        lib.collect_trace_output.argtypes = [ctypes.POINTER(TraceData)]
        lib.collect_trace_output.restype = None
        lib.allocate_trace_storage(ctypes.sizeof(ctypes.c_double))
        buf = (TraceData * len(trace_layers))()
        sizes = dict(trace_layers)
    for i in range(len(x)):
        row = np.ascontiguousarray(x[i])
        res = np.zeros(spec["output_size"], np.float64)
        top(row, res)
        out[i] = res
        if trace_layers:
            lib.collect_trace_output(buf)
            for t in buf:
                name = t.name.decode()
                if name in traces:
                    ptr = ctypes.cast(t.data, ctypes.POINTER(ctypes.c_double))
                    traces[name][i] = np.ctypeslib.as_array(ptr, shape=(sizes[name],))
        print(f"done {i + 1}", flush=True)
    np.savez(spec["output"], outputs=out, **{f"trace::{k}": v for k, v in traces.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
