"""XOR by hand: the 2-2-1 sigmoid network with bias inputs, mean squared error, gradient descent.

The course's first network that learns what a perceptron cannot. Forward
pass, backpropagation and update are written out in keras.ops
(kerasdl.scratch.networks). Every weight, the bias inputs' included (W1 is
3x2, W2 is 3x1), starts uniform or normal in [-1, 1]. The sweep crosses
learning rates with initialisations and seeds, and trains all of those
networks at once as one population (a leading axis of replicas), full batch
on the four points. A run *solves* XOR when all four outputs lie on the right
side of 0.5; the report gives the share of solved runs per setting, the loss
curves, and the decision surfaces of the chosen setting.
"""

import time
from dataclasses import dataclass

import numpy as np
from keras import ops

from kerasdl import report
from kerasdl.config import TaskConfig, field, non_negative, one_of, positive
from kerasdl.errors import UserError
from kerasdl.plots import sweeps
from kerasdl.scratch import networks
from kerasdl.training import checkpoint
from kerasdl.training.progress import progress

NAME = "xor"

POINTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
TARGETS = np.array([[0], [1], [1], [0]], dtype="float32")
INITS = ("uniform", "normal")


@dataclass
class Config(TaskConfig):
    learning_rates: tuple[float, ...] = field((0.1, 0.5, 1.0, 2.0, 5.0, 10.0), "the learning-rate sweep",
                                              positive)
    inits: tuple[str, ...] = field(INITS, "uniform: U[-1,1]; normal: N(0, 0.5^2) cut at 2 sd, in [-1,1]",
                                   one_of(*INITS))
    init_scale: float = field(1.0, "initial weights lie in [-init_scale, init_scale]", positive)
    runs: int = field(20, "seeds per setting (each seed's initial weights are shared by every learning "
                      "rate)", positive)
    epochs: int = field(5000, "full-batch gradient-descent steps on the four points", positive)
    hidden: int = field(2, "hidden sigmoid units (the course's net has 2)", positive)
    learning_rate: float = field(1.0, "the setting whose decision surfaces are drawn and whose net is "
                                 "saved", positive)
    init: str = field("uniform", "the initialisation of that setting", one_of(*INITS))
    seed: int = field(0, "seeds the initial weights", non_negative)

    def check(self):
        if not self.learning_rates or not self.inits:
            empty = "learning_rates" if not self.learning_rates else "inits"
            raise UserError(f"{empty}=(none): expected at least one value to sweep")
        if self.learning_rate not in self.learning_rates or self.init not in self.inits:
            raise UserError(f"learning_rate={self.learning_rate}, init={self.init}: the shown setting must be "
                            f"one of the sweep (learning_rates {self.learning_rates}, inits {self.inits})")


QUICK = dict(epochs=300, runs=3, learning_rates=(1.0, 10.0))

HEADLINE = ("solved_share", "shown_setting_solved_share", "networks", "epochs", "cpu_time_s")


# === Model: one population of 2-H-1 nets, one replica per (init, learning rate, seed) ===

def build_population(config):
    """The replicas in the order (init, learning rate, seed), and their learning rates."""
    per_init = [networks.init_weights((2, config.hidden, 1), init, config.init_scale, replicas=config.runs,
                                      seed=config.seed + k) for k, init in enumerate(config.inits)]
    per_init = [networks.replicate(w, len(config.learning_rates)) for w in per_init]
    weights = [ops.concatenate([w[layer] for w in per_init], axis=0) for layer in range(2)]
    rates = np.tile(np.repeat(np.asarray(config.learning_rates, dtype="float32"), config.runs), len(config.inits))
    net = networks.SigmoidMLP(weights, loss="mse")
    return net, rates


def replica(config, init, learning_rate, run):
    """Index of one run in the population."""
    i, j = config.inits.index(init), config.learning_rates.index(learning_rate)
    return (i * len(config.learning_rates) + j) * config.runs + run


# === Train ===

def train(net, rates, epochs):
    """Full-batch gradient descent; returns the loss (steps, R) and solved flags (steps, R) per step.

    In a run, the weights and the curves so far are checkpointed every few seconds
    (`checkpoint.for_loop`), and a resumed run goes on from there."""
    x, y = ops.convert_to_tensor(POINTS), ops.convert_to_tensor(TARGETS)
    curves = {"losses": np.zeros((0, len(rates)), "float32"), "solved": np.zeros((0, len(rates)), bool)}
    recent = {"losses": [], "solved": []}  # tensors of the steps since the curves were last collected
    saved = checkpoint.for_loop()

    def collect():
        for key, steps in recent.items():
            if steps:
                curves[key] = np.concatenate([curves[key], ops.convert_to_numpy(ops.stack(steps))])
                steps.clear()
        return curves

    def state():
        return {"w0": ops.convert_to_numpy(net.weights[0]), "w1": ops.convert_to_numpy(net.weights[1]),
                **collect()}

    restored = saved.restore()
    if restored is not None:
        net.weights = [ops.convert_to_tensor(restored["w0"]), ops.convert_to_tensor(restored["w1"])]
        curves.update(losses=restored["losses"], solved=restored["solved"])
        if bool(restored["finished"]):
            return curves["losses"], curves["solved"]
    for step in progress(range(len(curves["losses"]), epochs), desc=f"XOR: {len(rates)} networks, {epochs} steps"):
        loss, p = net.step(x, y, rates)
        recent["losses"].append(loss)
        recent["solved"].append(networks.correct(p, y) == len(POINTS))
        if step + 1 < epochs and saved.due():
            saved.save(state(), f"step {step + 1}")
    saved.save(state(), f"step {epochs}", finished=True)
    return curves["losses"], curves["solved"]


def steps_to_solve(solved):
    """Per run: the first step from which it stays solved to the end (NaN if unsolved at the end)."""
    steps = solved.shape[0]
    last_unsolved = np.where(~solved, np.arange(steps)[:, None], -1).max(axis=0)
    return np.where(solved[-1], last_unsolved + 2.0, np.nan)  # steps are counted from 1


# === Figures ===

def surface_grid(net, index, resolution=101, extent=(-0.5, 1.5, -0.5, 1.5)):
    """The output of replica `index` on a grid over `extent`, rows along x2."""
    xs = np.linspace(extent[0], extent[1], resolution, dtype="float32")
    ys = np.linspace(extent[2], extent[3], resolution, dtype="float32")
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    single = networks.SigmoidMLP([w[index] for w in net.weights], loss="mse")
    return ops.convert_to_numpy(single.predict(ops.convert_to_tensor(grid))).reshape(resolution, resolution)


def hidden_lines(net, index):
    """The hidden units' boundaries w1 x1 + w2 x2 + b = 0, as rows (w1, w2, b)."""
    return ops.convert_to_numpy(net.weights[0][index]).T


def run(config, run):
    started, cpu_started = time.perf_counter(), time.process_time()
    # === Model ===
    net, rates = build_population(config)
    print(f"{len(rates)} networks 2-{config.hidden}-1: {len(config.inits)} inits x "
          f"{len(config.learning_rates)} learning rates x {config.runs} seeds")

    # === Train ===
    losses, solved_per_step = train(net, rates, config.epochs)
    final = ops.convert_to_numpy(net.predict(ops.convert_to_tensor(POINTS)))[..., 0]  # (R, 4)
    solved = ((final > 0.5) == (TARGETS[:, 0] > 0.5)).all(axis=1)
    solve_steps = steps_to_solve(solved_per_step)

    # === Evaluate: one row per setting ===
    shape = (len(config.inits), len(config.learning_rates), config.runs)
    rows = []
    for i, init in enumerate(config.inits):
        for j, rate in enumerate(config.learning_rates):
            sl = slice(replica(config, init, rate, 0), replica(config, init, rate, 0) + config.runs)
            ok = solved[sl]
            rows.append({"init": init, "learning_rate": rate, "runs": config.runs, "solved": int(ok.sum()),
                         "solved_share": float(ok.mean()),
                         "median_steps_to_solve": float(np.median(solve_steps[sl][ok])) if ok.any() else None,
                         "median_final_loss": float(np.median(losses[-1, sl]))})
    run.write_csv("sweep.csv", rows)
    every = max(1, config.epochs // 200)
    logged = np.arange(0, config.epochs, every)
    if logged[-1] != config.epochs - 1:
        logged = np.append(logged, config.epochs - 1)
    run.write_csv("history.csv", [
        {"step": int(s) + 1, "init": init, "learning_rate": rate, "run": k,
         "loss": float(losses[s, replica(config, init, rate, k)])}
        for init in config.inits for rate in config.learning_rates for k in range(config.runs) for s in logged])

    # the shown setting's nets: the first solved one is saved
    shown = [replica(config, config.init, config.learning_rate, k) for k in range(config.runs)]
    saved = next((r for r in shown if solved[r]), shown[0])
    run.save_model(net.to_keras(replica=saved, name="xor_2_2_1"))

    # === Figures ===
    by_setting = losses.T.reshape(shape + (-1,))[..., logged]
    solved_by_setting = solved.reshape(shape)
    rate_labels = [f"lr {r:g}" for r in config.learning_rates]
    run.save_figure(sweeps.loss_curve_grid(
        by_setting, [f"{i} init" for i in config.inits], rate_labels, solved_by_setting, steps=logged + 1,
        ylabel="MSE", title="XOR loss curves per learning rate (columns) and initialisation (rows); "
                            "green: solved, red: not"), "loss_curves.png")
    run.save_figure(sweeps.share_bars(solved_by_setting.mean(axis=2), config.learning_rates,
                                      [f"{i} init" for i in config.inits], xlabel="learning rate",
                                      ylabel="share of runs that solve XOR",
                                      title=f"XOR solved after {config.epochs} steps ({config.runs} seeds each)"),
                    "solved_share.png")
    panels = shown[:8]
    run.save_figure(sweeps.decision_surfaces(
        [surface_grid(net, r) for r in panels], (-0.5, 1.5, -0.5, 1.5), POINTS, TARGETS,
        [f"seed {k}: {'solved' if solved[r] else 'not solved'}, MSE {losses[-1, r]:.3g}"
         for k, r in enumerate(panels)], lines=[hidden_lines(net, r) for r in panels],
        title=f"{config.init} init, lr {config.learning_rate:g}"), "decision_surface.png")

    # === Report ===
    metrics = {
        "networks": len(rates), "epochs": config.epochs,
        "solved_share": float(solved.mean()),
        "shown_setting_solved_share": float(solved[shown].mean()),
        "best_setting": max(rows, key=lambda r: (r["solved_share"], -(r["median_steps_to_solve"] or 1e12))),
        "saved_net_outputs": [float(v) for v in final[saved]],
        "sweep": rows,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "cpu_time_s": round(time.process_time() - cpu_started, 1),
    }
    run.write_report(_report(config, metrics, run))
    return metrics


def _report(config, m, run):
    best = m["best_setting"]
    summary = [
        {"": "share of all runs solved", "value": f"{m['solved_share']:.0%}"},
        {"": "best setting", "value": f"{best['init']} init, lr {best['learning_rate']:g}: "
                                      f"{best['solved']}/{best['runs']} solved"},
        {"": f"shown setting ({config.init}, lr {config.learning_rate:g})",
         "value": f"{m['shown_setting_solved_share']:.0%} solved"},
        {"": "saved net (`model.keras`), outputs on (0,0), (0,1), (1,0), (1,1)",
         "value": ", ".join(f"{v:.3f}" for v in m["saved_net_outputs"])},
    ]
    sweep = [{"init": r["init"], "learning rate": f"{r['learning_rate']:g}",
              "solved": f"{r['solved']}/{r['runs']} ({r['solved_share']:.0%})",
              "median steps to solve": (None if r["median_steps_to_solve"] is None
                                        else f"{r['median_steps_to_solve']:.0f}"),
              "median final MSE": f"{r['median_final_loss']:.3g}"} for r in m["sweep"]]
    scale = f"{config.init_scale:g}"
    return report.join(
        report.header(run, f"XOR with a 2-{config.hidden}-1 sigmoid network, by hand",
                      data="the four XOR points (0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0, generated"),
        "Loss: mean squared error over the four points; plain full-batch gradient descent; the gradient "
        "is the hand-written backpropagation of `kerasdl/scratch/networks.py` (checked against finite "
        f"differences in `tests/test_xor.py`). All {3 * config.hidden + config.hidden + 1} weights, the bias "
        f"inputs' included, start in [-{scale}, {scale}]: *uniform* draws from U[-{scale}, {scale}], "
        f"*normal* from N(0, {config.init_scale / 2:g}^2) cut at two standard deviations. Seed k starts "
        "from the same weights at every learning rate, so the columns differ by the learning rate alone. "
        "A run counts as solved when all four outputs are on the right side of 0.5 after the last step; "
        '"steps to solve" is the step from which it stayed solved.',
        report.budget(run, m["wall_time_s"], f"{m['networks']} networks trained together as one population, "
                      f"{config.epochs} full-batch steps each, {m['cpu_time_s']:.0f} s of CPU time"),
        report.table(summary),
        report.table(sweep),
        report.figure("solved_share.png", "solved share"),
        report.figure("loss_curves.png", "loss curves"),
        "Decision surfaces of the shown setting's first seeds: the colour is the network's output, the black "
        "line its 0.5 contour, the dashed lines the hidden units' own boundaries (w1 x1 + w2 x2 + b = 0).",
        report.figure("decision_surface.png", "decision surfaces"),
    )
