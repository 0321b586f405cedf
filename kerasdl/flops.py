"""How close training comes to the machine's limit (issue 18, part 2): the FLOPs of a
training step, counted analytically, and the CPU's float32 peak.

FLOPs: a multiply-add is 2 FLOPs. The forward pass of a convolution costs
2 * H_out * W_out * C_out * k_h * k_w * C_in / groups per example, of a dense layer
2 * inputs * units (per position); batch norm, activations, pooling and the optimizer
add well under 1% to our CNNs and are left out. A training step costs 3 forward
passes: the forward itself, and the backward pass's two products of the same size
(the gradient with respect to the layer's input and to its weights).

Peak: cores x clock x float32 FLOPs a core can issue per cycle, from the CPU's flags:
two FMA units of 512 bits (AVX-512 on Intel, and on AMD from Zen 5, family 26) give
2 x 16 x 2 = 64; AMD's Zen 4 (family 25) runs 512-bit FMAs on 256-bit units, 32;
AVX2 with FMA, two 256-bit units, 32; else 8 (SSE). The clock is lscpu's maximum
where it gives one, else the current clock /proc/cpuinfo reports (in a virtual machine,
usually the base clock: turbo makes the real peak higher, and the share of it lower).
bfloat16 (AVX512-BF16, AMX) has peaks of its own, not estimated here.
"""

import os
import subprocess


def forward_flops(model):
    """FLOPs of one example's forward pass through the model's conv and dense layers."""
    import keras
    import numpy as np

    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w = layer.kernel_size
            total += 2 * h * w * c_out * k_h * k_w * layer.input.shape[-1] // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.input.shape[1:-1])) if len(layer.input.shape) > 2 else 1
            total += 2 * positions * layer.input.shape[-1] * layer.units
    return int(total)


def training_flops(model):
    """FLOPs of one example's training step: 3 forward passes (see the module docstring)."""
    return 3 * forward_flops(model)


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model (augmentation, an encoder)
            yield from _layers(layer)
        else:
            yield layer


def _lscpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def _cpuinfo_mhz():
    try:
        with open("/proc/cpuinfo") as f:
            return next((float(line.split(":", 1)[1]) for line in f if line.startswith("cpu MHz")), None)
    except (OSError, ValueError):
        return None


def flops_per_cycle(flags, vendor="", family=None):
    """float32 FLOPs one core can issue per cycle, from its flags (see the module docstring)."""
    if "avx512f" in flags:
        zen4_or_older = "AMD" in vendor and family is not None and family < 26
        return 32 if zen4_or_older else 64
    if "avx2" in flags and "fma" in flags:
        return 32
    return 8


def float32_peak(cores=None):
    """(GFLOP/s, how it was computed) of this CPU in float32, or (None, why not)."""
    fields = _lscpu()
    flags = set(fields.get("Flags", "").split())
    mhz = fields.get("CPU max MHz")
    source = "lscpu's maximum clock"
    if not mhz:
        mhz, source = _cpuinfo_mhz(), "the clock /proc/cpuinfo reports"
    if not mhz or not flags:
        return None, "no clock or flags found (lscpu, /proc/cpuinfo)"
    try:
        family = int(fields.get("CPU family", ""))
    except ValueError:
        family = None
    per_cycle = flops_per_cycle(flags, fields.get("Vendor ID", ""), family)
    cores = cores or os.cpu_count()
    ghz = float(mhz) / 1000
    return cores * ghz * per_cycle, (f"{cores} cores x {ghz:.2f} GHz ({source}) x {per_cycle} float32 "
                                     "FLOPs per cycle (kerasdl/flops.py)")
