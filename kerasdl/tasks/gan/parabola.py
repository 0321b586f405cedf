"""A GAN on a 2-D parabola, drawn as it learns: D's decision map, real and fake points, G's gradients.

Real points are (x, x^2) with x uniform in [-1, 1] (plus optional noise on y).
The generator and discriminator are small MLPs (model.py, beside the image GANs) trained
by the same two-optimizer step as the image GANs (BCE with logits, Adam).
Every `steps / frames` generator updates a frame is drawn: the colour is
D(x) = P(real) over the plane, the black line D = 0.5, and each red arrow is
the gradient of log D at a generated point - the direction the
non-saturating generator loss -log D(G(z)) pushes it (lengths scaled per
frame). The frames become one sheet (PNG) and an animation (GIF).
"""

import json
import time
from dataclasses import dataclass

import numpy as np

from kerasdl import plots, report, runs
from kerasdl.config import TaskConfig, field, fraction, non_negative, positive
from kerasdl.errors import UserError
from kerasdl.tasks.gan import figures as gan_plots
from kerasdl.tasks.gan import frechet
from kerasdl.training import checkpoint
from kerasdl.training.progress import progress

NAME = "gan-2d"
LIMITS = ((-1.6, 1.6), (-0.6, 1.6))


@dataclass
class Config(TaskConfig):
    steps: int = field(3000, "generator updates in all", positive)
    frames: int = field(12, "frames drawn, evenly spaced over training (plus one before it)", positive)
    batch_size: int = field(128, "real points per step", positive)
    z_dim: int = field(2, "latent size (z ~ N(0, I))", positive)
    hidden: tuple[int, ...] = field((64, 64), "hidden widths of both MLPs", positive)
    learning_rate: float = field(1e-3, "Adam, both networks", positive)
    beta_1: float = field(0.5, "Adam's beta1, both networks (as the DCGAN)", fraction)
    noise: float = field(0.0, "standard deviation of Gaussian noise added to the parabola's y", non_negative)
    n_points: int = field(400, "real and generated points drawn per frame", positive)
    seed: int = field(0, "seeds weights, noise and the drawn points", non_negative)

    def check(self):
        if self.frames > self.steps:
            raise UserError(f"frames={self.frames}: expected at most steps ({self.steps}), one frame a step")
        if not self.hidden:
            raise UserError("hidden=: expected positive widths, e.g. 64,64")


QUICK = dict(steps=60, frames=3, batch_size=64, n_points=100)


def variant(config):
    return "parabola"


# === Data ===


def parabola(n, noise=0.0, rng=None):
    """n points (x, x^2 [+ noise]) with x uniform in [-1, 1], float32 (n, 2)."""
    rng = rng or np.random.default_rng(0)
    x = rng.uniform(-1, 1, n)
    y = x ** 2 + (rng.normal(0, noise, n) if noise else 0.0)
    return np.stack([x, y], axis=1).astype("float32")


# === Model ===


def build_gan(config):
    import keras

    from kerasdl.tasks.gan import model as gan

    model = gan.GAN(gan.mlp_generator(config.z_dim, 2, config.hidden),
                    gan.mlp_discriminator(2, config.hidden), loss="bce", seed=config.seed,
                    name="gan_2d")
    model.compile(d_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1),
                  g_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1))
    return model


# === Evaluate: one frame ===


def frame(model, z, real, step):
    """Everything decision_frame draws, computed from the current weights."""
    import keras
    from keras import ops

    from kerasdl.training.backends.input_gradient import differentiable_input_gradient

    gx, gy = np.meshgrid(np.linspace(*LIMITS[0], 90), np.linspace(*LIMITS[1], 70))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype("float32")
    prob = keras.ops.convert_to_numpy(ops.sigmoid(model.discriminator(grid))).reshape(gx.shape)
    fake = keras.ops.convert_to_numpy(model.generator(z))
    push = differentiable_input_gradient(
        lambda v: ops.log_sigmoid(model.discriminator(v)), ops.convert_to_tensor(fake))
    push = keras.ops.convert_to_numpy(ops.stop_gradient(push))
    longest = np.linalg.norm(push, axis=1).max()
    arrows = push / longest * 0.25 if longest > 0 else push
    return dict(grid_x=gx, grid_y=gy, prob_real=prob, real=real, fake=fake, arrows=arrows, step=step)


def quality(model, config, n=2000):
    """How close the generated points are to the parabola: the Fréchet distance
    between real and generated points (in the plane itself), the mean |y - x^2|
    of generated points, and the share of 20 bins of x in [-1, 1] they reach."""
    import keras

    rng = np.random.default_rng(config.seed + 7)
    real = parabola(n, config.noise, rng)
    fake = keras.ops.convert_to_numpy(model.generator(rng.normal(size=(n, config.z_dim)).astype("float32")))
    inside = fake[(fake[:, 0] >= -1) & (fake[:, 0] <= 1), 0]
    covered = np.unique(np.clip(((inside + 1) * 10).astype(int), 0, 19)).size / 20
    return {"frechet_2d": frechet.frechet_distance(fake, real),
            "parabola_error": float(np.mean(np.abs(fake[:, 1] - fake[:, 0] ** 2))),
            "x_coverage": float(covered)}


# === Experiment ===


def run(config, run):
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    model = build_gan(config)
    z_show = rng.normal(size=(config.n_points, config.z_dim)).astype("float32")
    real_show = parabola(config.n_points, config.noise, rng)

    # === Train, a chunk of steps between frames ===
    bounds = np.linspace(0, config.steps, config.frames + 1).round().astype(int)
    frames = [frame(model, z_show, real_show, 0)]
    history = [{"frame": 0, "step": 0, **quality(model, config)}]
    chunks = list(enumerate(zip(bounds[:-1], bounds[1:]), 1))
    # A run's chunks are checkpointed (`checkpoint.for_loop`): a resumed run goes on from there.
    saved = checkpoint.for_loop()
    restored = saved.restore()
    if restored is not None:
        checkpoint.restore_model_state(model, restored, saved.path)
        rng.bit_generator.state = json.loads(str(restored["rng"]))
        history = json.loads(str(restored["history"]))
        frames = [{key[len(f"frame{k}__"):]: value.item() if value.ndim == 0 else value
                   for key, value in restored.items() if key.startswith(f"frame{k}__")} for k in range(len(history))]
    for k, (begin, end) in progress(chunks[len(history) - 1:], desc=f"training, a frame every {bounds[1]} steps"):
        x = parabola((end - begin) * config.batch_size, config.noise, rng)
        logs = model.fit(x, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0).history
        history.append({"frame": k, "step": int(end), **{key: float(v[-1]) for key, v in logs.items()},
                        **quality(model, config)})
        frames.append(frame(model, z_show, real_show, int(end)))
        if k == len(chunks) or saved.due():
            saved.save({**checkpoint.model_state(model), "rng": np.array(json.dumps(rng.bit_generator.state)),
                        "history": np.array(json.dumps(history)),
                        **{f"frame{j}__{key}": np.asarray(value) for j, f in enumerate(frames)
                           for key, value in f.items()}},
                       f"frame {k}", finished=k == len(chunks))
    train_seconds = time.perf_counter() - started
    run.write_csv("history.csv", [{**{k: None for k in history[-1]}, **row} for row in history])
    run.save_model(model)

    # === Figures: the frames, the final map, the curves, the animation ===
    run.save_figure(gan_plots.frame_sheet(frames, LIMITS), "frames.png")
    run.save_figure(gan_plots.decision_frame(**frames[-1], limits=LIMITS), "final_frame.png")
    curves = {key: [row.get(key, np.nan) for row in history[1:]]
              for key in ("d_loss", "g_loss", "frechet_2d", "parabola_error")}
    run.save_figure(plots.learning_curves(curves, metrics=tuple(curves),
                                          title=f"per frame ({bounds[1]} steps each; x axis: frame)"),
                    "curves.png")
    gif = gan_plots.gif_bytes([gan_plots.decision_frame(**f, limits=LIMITS) for f in frames])
    runs.atomic_write(run.path("training.gif"), gif)

    # === Metrics and report ===
    final = history[-1]
    metrics = {"steps": config.steps, "train_seconds": round(train_seconds, 1),
               **{k: v for k, v in final.items() if k not in ("frame", "step")},
               "initial_frechet_2d": history[0]["frechet_2d"]}
    run.write_report(_report(config, metrics, history, run))
    return metrics


HEADLINE = ("frechet_2d", "parabola_error", "x_coverage", "d_loss", "g_loss", "train_seconds")


def _report(config, m, history, run):
    columns = {"step": "step", "d_loss": "D loss", "g_loss": "G loss", "d_real": "D(real)",
               "d_fake": "D(fake)", "frechet_2d": "Fréchet distance (2-D)",
               "parabola_error": "mean abs(y - x^2)", "x_coverage": "x coverage"}
    # The frame before training has no losses yet: '-'.
    rows = [{label: row.get(key) for key, label in columns.items()} for row in history]
    table = report.table(rows, digits=3, formats={
        "Fréchet distance (2-D)": lambda v: report.fmt(v, 4), "mean abs(y - x^2)": lambda v: report.fmt(v, 4),
        "x coverage": lambda v: report.fmt(v, 2)})
    noise = f" + N(0, {config.noise}^2)" if config.noise else ""
    return report.join(
        report.header(run, "A GAN on the parabola y = x^2",
                      data=f"generated, (x, x^2{noise}) with x ~ U(-1, 1); {config.batch_size} fresh "
                           "points a step"),
        f"Model: generator MLP z ({config.z_dim}-d normal) -> {report.fmt(config.hidden)} ReLU -> (x, y); "
        f"discriminator MLP (x, y) -> {report.fmt(config.hidden)} LeakyReLU(0.2) -> logit; BCE with "
        f"logits, non-saturating generator loss; Adam lr {config.learning_rate}, beta1 {config.beta_1}, "
        "one D update per G update.",
        table,
        "Losses and D's outputs are means over the steps since the previous frame. The Fréchet "
        "distance is computed on the points themselves (2,000 real vs 2,000 generated); mean "
        "abs(y - x^2) says how far generated points sit from the curve; x coverage is the share of "
        "20 equal bins of x in [-1, 1] that generated points reach (mode collapse leaves bins empty).",
        report.budget(run, m["train_seconds"], report.plural(config.steps, "generator update")),
        "Each frame: colour is D(x) = P(real), the black line D = 0.5, black dots real points, red "
        "dots generated ones, red arrows the gradient of log D at each generated point (the "
        "direction the generator's loss moves it; lengths scaled per frame). The animation of the "
        "same frames is `training.gif` in the run folder.",
        report.figure("frames.png", "frames"),
        report.figure("final_frame.png", "final frame"),
        report.figure("curves.png", "curves"),
    )
