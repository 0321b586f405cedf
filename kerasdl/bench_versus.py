"""`python -m kerasdl bench --versus`: kerasdl's default training against what a user would
write instead (issue 18), on the same network, the same data shape and the same machine, in
the same run, each in a fresh process:

- **plain PyTorch**: a `torch.nn` copy of the classify CNN (the same layers and trainable
  parameter count, tests/test_bench.py), float32, channels first, AdamW, a Python loop over
  shuffled batches of a uint8 tensor scaled in the loop, PyTorch's default threads;
- **plain Keras**: the same Keras model (`classifiers.cnn`), `compile("adam", ...)` with
  every other setting left at Keras's default (`jit_compile="auto"`), `model.fit` on numpy
  arrays in float32, on Keras's default backend (TensorFlow), as a course notebook does;
- **kerasdl**: what `python -m kerasdl classify` does on this machine: the backend, dtype
  policy and XLA setting its defaults choose (kerasdl.backend, kerasdl.training.fit).

Each figure is images/s over the training steps only (first step to last, after a warm-up),
the median of `--repeats` passes of `--steps` batches; synthetic images (speed does not
depend on the pixel values).
"""

import platform
import statistics
import sys
import time

from kerasdl import backend
from kerasdl.errors import UserError

# Goals of issue 18, part 1: kerasdl's default at least this many times the plain loops.
GOALS = {"plain PyTorch": 1.5, "plain Keras": 1.0}

# The network every contender trains unless --widths says otherwise: the one kerasdl's default
# trains, classify's Fashion-MNIST CNN (classify.RECIPES[("cnn", "grey")]; a test keeps the two
# equal: importing classify here would import Keras into the bench's parent process).
NETWORK = dict(widths=(24, 48, 96), head="flatten", dropout=0.0, head_dropout=0.0)


def torch_cnn(shape, num_classes, widths, convs_per_block=2, dropout=0.2, head_dropout=0.3,
              head="gap"):
    """classifiers.cnn in torch.nn: blocks of (3x3 conv without bias -> batch norm -> ReLU)
    x convs_per_block, 2x2 max-pool and dropout; global average pooling (head "gap") or all
    of the last maps (head "flatten"), dropout, a linear layer (the softmax is in the loss).
    Batch norm as Keras's: momentum 0.99 (PyTorch's 0.01), eps 1e-3."""
    from torch import nn

    (height, width, channels), layers = shape, []
    for filters in widths:
        for _ in range(convs_per_block):
            layers += [nn.Conv2d(channels, filters, 3, padding=1, bias=False),
                       nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01), nn.ReLU()]
            channels = filters
        layers += [nn.MaxPool2d(2), nn.Dropout(dropout)]
        height, width = height // 2, width // 2
    if head == "gap":
        pooled, features = [nn.AdaptiveAvgPool2d(1), nn.Flatten()], channels
    else:  # Keras flattens channels last; the order of the features does not change the speed
        pooled, features = [nn.Flatten()], channels * height * width
    return nn.Sequential(*layers, *pooled, nn.Dropout(head_dropout), nn.Linear(features, num_classes))


def measure_torch(shape, batch_size, steps, widths, repeats, network=None):
    """Images/s of a plain PyTorch training loop, once per repeat (a list); `network`: the
    rest of torch_cnn's options (head, dropout)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = batch_size * steps
    x = torch.from_numpy(rng.integers(0, 256, (n, *shape), dtype=np.uint8)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(rng.integers(0, 10, n))
    model = torch_cnn(shape, 10, widths, **{k: v for k, v in (network or {}).items() if k != "widths"})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step(index):
        images = x[index].float().div_(255.0)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), y[index])
        loss.backward()
        optimizer.step()

    for k in range(2):  # warm-up
        step(torch.arange(k * batch_size, (k + 1) * batch_size))
    rates = []
    for _ in range(repeats):
        order = torch.randperm(n)
        started = time.perf_counter()
        for k in range(steps):
            step(order[k * batch_size:(k + 1) * batch_size])
        rates.append(n / (time.perf_counter() - started))
    return rates


def _contenders():
    """(name, settings in words, child spec, backend) of each contender on this machine."""
    kerasdl_backend = backend.DEFAULT_BY_DEVICE[backend.device_kind()]
    precision = backend.resolve_precision("auto", "mixed_bfloat16", kerasdl_backend)
    jit = "off" if kerasdl_backend == "tensorflow" and backend.device_kind() == "cpu" else "auto"
    return [
        ("plain PyTorch", "torch.nn copy, float32, AdamW, a Python loop over batches",
         {"mode": "torch"}, "torch"),
        ("plain Keras", "model.fit on numpy arrays, float32, compile('adam'), jit_compile auto",
         {"precision": "float32", "jit": "auto"}, "tensorflow"),
        ("kerasdl", f"classify's defaults here: {precision}, jit_compile {jit}",
         {"precision": precision, "jit": jit}, kerasdl_backend),
    ]


def run(args, widths, shape, prog, argv, cpu):
    """Measure each contender in a fresh process; the markdown table."""
    from kerasdl import bench

    for option in ("--backends", "--precision", "--jit", "--model"):
        if any(a == option or a.startswith(option + "=") for a in argv):
            raise UserError(f"{option} does not apply to --versus: each contender runs its own "
                            "settings (see `bench --help`)")
    widths = widths or list(NETWORK["widths"])
    network = {k: v for k, v in NETWORK.items() if k != "widths"}
    common = dict(model="cnn", shape=list(shape), batch_size=args.batch_size, steps=args.steps,
                  widths=widths, network=network, repeats=args.repeats)
    rows = []
    for name, settings, spec, backend_name in _contenders():
        print(f"measuring {name} ({backend_name}) ...", file=sys.stderr, flush=True)
        result = bench._run_child(dict(common, **spec), backend_name)
        rows.append(dict(name=name, settings=settings, backend=backend_name, **result))
        if "error" in result:
            print(f"  skipped: {result['error']}", file=sys.stderr)
        else:
            print(f"  {result['images_per_s']} images/s (median of {args.repeats})", file=sys.stderr)
    from kerasdl import flops

    return versus_table(rows, args, widths, prog, argv, cpu, *flops.float32_peak())


def torch_child(spec):
    """The --child measurement of the plain PyTorch loop."""
    import torch

    rates = measure_torch(tuple(spec["shape"]), spec["batch_size"], spec["steps"], spec["widths"],
                          spec["repeats"], spec.get("network"))
    return {"images_per_s": round(statistics.median(rates), 1), "min": round(min(rates), 1),
            "max": round(max(rates), 1), "version": f"torch {torch.__version__}, "
                                                    f"{torch.get_num_threads()} threads"}


def versus_table(rows, args, widths, prog, argv, cpu, peak=None, how="not measured"):
    """The markdown table: each contender's images/s (and GFLOP/s against the float32 `peak`,
    computed as `how` says), and kerasdl's ratio to each other one."""
    from kerasdl import bench

    ours = next((r for r in rows if r["name"] == "kerasdl" and "error" not in r), None)
    lines = [f"## kerasdl against a plain PyTorch loop and a plain Keras script: cnn "
             f"{','.join(map(str, widths))}, {NETWORK['head']} head, on "
             f"{args.shape}-shaped images, batch {args.batch_size}, {args.steps} steps, "
             f"{args.repeats} timed passes", "",
             f"Command: `{prog} {' '.join(argv)}` on {cpu}, {time.strftime('%Y-%m-%d')}.", "",
             "| contender | backend | settings | images/s (median) | min - max | GFLOP/s | of the float32 "
             "peak | kerasdl is |", "|---|---|---|---|---|---|---|---|"]
    # The same network in every row: the Keras rows' FLOPs per image are the torch row's too.
    per_image = next((r["gflop_s"] / r["images_per_s"] for r in rows if r.get("gflop_s")), None)
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['backend']} | {r['settings']} | - | - | - | - | "
                         f"failed: {r['error']} |")
            continue
        ratio = "-" if r is ours or ours is None else f"{ours['images_per_s'] / r['images_per_s']:.2f}x"
        settings = r["settings"] + (f" ({r['version']})" if r.get("version") else "")
        gflop_s = None if per_image is None else round(r["images_per_s"] * per_image, 1)
        lines.append(f"| {r['name']} | {r['backend']} | {settings} | {r['images_per_s']} | "
                     f"{r['min']} - {r['max']} | {gflop_s if gflop_s is not None else '-'} | "
                     f"{bench.peak_share(gflop_s, peak)} | {ratio} |")
    if ours is not None:
        verdicts = []
        for name, goal in GOALS.items():
            other = next((r for r in rows if r["name"] == name and "error" not in r), None)
            if other is None:
                continue
            ratio = ours["images_per_s"] / other["images_per_s"]
            verdicts.append(f"{name}: {ratio:.2f}x against a goal of {goal:g}x, "
                            + ("met" if ratio >= goal else f"**missed by {goal - ratio:.2f}x**"))
        lines += ["", "Goals (issue 18): " + "; ".join(verdicts) + "."]
    lines += ["", bench.flops_note(peak, how),
              "", f"({platform.python_implementation()} {platform.python_version()}; each contender in a "
                  "fresh process, one after the other.)"]
    return "\n".join(lines)
