"""A GAN on a 2-D parabola, drawn as it learns: D's decision map, real and fake points,
and the arrows along which the generator's loss moves each fake point.

Real points are (x, x^2) with x uniform in [-1, 1] (plus optional noise on y).
The generator and discriminator are small MLPs (kerasdl.models.gan) trained
by the same two-optimizer step as the image GANs (BCE with logits, Adam).
Every `steps / frames` generator updates a frame is drawn: the colour is
D(x) = P(real) over the plane, the black line D = 0.5, and each red arrow is
the gradient of log D at a generated point - the direction the
non-saturating generator loss -log D(G(z)) pushes it (lengths scaled per
frame). The frames become one sheet (PNG) and an animation (GIF).
"""

import time
from dataclasses import dataclass

import numpy as np

from kerasdl import plots, runs
from kerasdl.errors import UserError
from kerasdl.plots import gan as gan_plots
from kerasdl.training import frechet

NAME = "gan-2d"
LIMITS = ((-1.6, 1.6), (-0.6, 1.6))


@dataclass
class Config:
    steps: int = 3000  # generator updates in all
    frames: int = 12  # frames drawn, evenly spaced over training (plus one before it)
    batch_size: int = 128  # real points per step
    z_dim: int = 2  # latent size (z ~ N(0, I))
    hidden: tuple[int, ...] = (64, 64)  # hidden widths of both MLPs
    learning_rate: float = 1e-3  # Adam, both networks
    beta_1: float = 0.5  # Adam's beta1, both networks (as the DCGAN)
    noise: float = 0.0  # standard deviation of Gaussian noise added to the parabola's y
    n_points: int = 400  # real and generated points drawn per frame
    seed: int = 0  # seeds weights, noise and the drawn points

    def __post_init__(self):
        for name in ("steps", "frames", "batch_size", "z_dim", "n_points"):
            if getattr(self, name) < 1:
                raise UserError(f"{name}={getattr(self, name)}: expected a positive integer")
        if self.frames > self.steps:
            raise UserError(f"frames={self.frames} > steps={self.steps}: at most one frame a step")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise UserError(f"hidden={self.hidden}: expected positive widths, e.g. 64,64")
        if self.learning_rate <= 0 or not 0 <= self.beta_1 < 1 or self.noise < 0:
            raise UserError(f"learning_rate={self.learning_rate}, beta_1={self.beta_1}, noise={self.noise}: "
                            "expected lr > 0, 0 <= beta_1 < 1, noise >= 0")


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

    from kerasdl.models import gan

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

    from kerasdl.training.backends import two_optimizers

    gx, gy = np.meshgrid(np.linspace(*LIMITS[0], 90), np.linspace(*LIMITS[1], 70))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype("float32")
    prob = keras.ops.convert_to_numpy(ops.sigmoid(model.discriminator(grid))).reshape(gx.shape)
    fake = keras.ops.convert_to_numpy(model.generator(z))
    push = two_optimizers.input_gradient(
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
    import keras

    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    model = build_gan(config)
    z_show = rng.normal(size=(config.n_points, config.z_dim)).astype("float32")
    real_show = parabola(config.n_points, config.noise, rng)

    # === Train, a chunk of steps between frames ===
    bounds = np.linspace(0, config.steps, config.frames + 1).round().astype(int)
    frames = [frame(model, z_show, real_show, 0)]
    history = [{"frame": 0, "step": 0, **quality(model, config)}]
    for k, (begin, end) in enumerate(zip(bounds[:-1], bounds[1:]), 1):
        x = parabola((end - begin) * config.batch_size, config.noise, rng)
        logs = model.fit(x, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0).history
        row = {"frame": k, "step": int(end), **{key: float(v[-1]) for key, v in logs.items()},
               **quality(model, config)}
        history.append(row)
        frames.append(frame(model, z_show, real_show, int(end)))
        print(f"step {end}/{config.steps}: d_loss {row['d_loss']:.3f} g_loss {row['g_loss']:.3f} "
              f"frechet_2d {row['frechet_2d']:.4f}")
    train_seconds = time.perf_counter() - started
    run.write_csv("history.csv", [{**{k: None for k in history[-1]}, **row} for row in history])
    run.save_model(model, "gan_2d.keras")

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
               "keras_backend": keras.backend.backend(),
               **{k: v for k, v in final.items() if k not in ("frame", "step")},
               "initial_frechet_2d": history[0]["frechet_2d"]}
    run.write_report(_report(config, metrics, history, run))
    return metrics


def _report(config, m, history, run):
    command = run.read_json("config.json")["command"]
    def cell(row, key):  # the frame before training has no losses yet
        return f"{row[key]:.3f}" if key in row else "-"

    rows = "\n".join(
        f"| {r['step']} | {cell(r, 'd_loss')} | {cell(r, 'g_loss')} | {cell(r, 'd_real')} | "
        f"{cell(r, 'd_fake')} | {r['frechet_2d']:.4f} | {r['parabola_error']:.4f} | {r['x_coverage']:.2f} |"
        for r in history)
    return f"""## A GAN on the parabola y = x^2

Command: `{command}`
(backend {m['keras_backend']}; {config.steps} generator updates in {m['train_seconds']:.0f} s on
this machine, a 2-core CPU).

Data: generated, (x, x^2{f' + N(0, {config.noise}^2)' if config.noise else ''}) with x ~ U(-1, 1);
{config.batch_size} fresh points a step, seed {config.seed}.

Model: generator MLP z ({config.z_dim}-d normal) -> {config.hidden} ReLU -> (x, y); discriminator
MLP (x, y) -> {config.hidden} LeakyReLU(0.2) -> logit; BCE with logits, non-saturating generator
loss; Adam lr {config.learning_rate}, beta1 {config.beta_1}, one D update per G update.

| step | D loss | G loss | D(real) | D(fake) | Fréchet distance (2-D) | mean abs(y - x^2) | x coverage |
|---|---|---|---|---|---|---|---|
{rows}

Losses and D's outputs are means over the steps since the previous frame. The Fréchet
distance is computed on the points themselves (2,000 real vs 2,000 generated); mean abs(y - x^2)
says how far generated points sit from the curve; x coverage is the share of 20 equal
bins of x in [-1, 1] that generated points reach (mode collapse leaves bins empty).

Each frame: colour is D(x) = P(real), the black line D = 0.5, black dots real points, red
dots generated ones, red arrows the gradient of log D at each generated point (the
direction the generator's loss moves it; lengths scaled per frame). The animation of the same
frames is `training.gif` in the run folder.

![frames](frames.png)

![final frame](final_frame.png)

![curves](curves.png)
"""
