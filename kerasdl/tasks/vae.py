"""A convolutional VAE: ELBO curves, reconstructions, samples, latent interpolation.

The VAE of Kingma & Welling (2014) with a Bernoulli decoder, trained by `fit`
on the images alone (`kerasdl.models.vae`: the loss is the negative ELBO,
reconstruction + KL, in nats per image). The test set gives the curves beside
the training ones; nothing is chosen on it, so its final numbers are honest.
With `latent_dim=2` the report also draws the learned manifold: the decoder
evaluated on a grid of the 2-D latent space.
"""

import os
import time
from dataclasses import dataclass

import numpy as np

from kerasdl import data, plots
from kerasdl.errors import UserError
from kerasdl.models import vae as vae_models
from kerasdl.plots import generative_vae as figures
from kerasdl.training import fit as fitting

NAME = "vae"


@dataclass
class Config:
    dataset: str = "fashion_mnist"  # any registered image set: fashion_mnist, mnist, cifar10, leiden_digits, ...
    latent_dim: int = 32  # size of z; 2 adds the latent-manifold map to the report
    filters: tuple[int, ...] = (32, 64)  # channels of the encoder's stride-2 convs (decoder mirrors them)
    hidden: int = 256  # dense layer between convs and z, both ways (0: none)
    beta: float = 1.0  # weight of the KL term (1: the ELBO)
    epochs: int = 10  # passes over the training set
    batch_size: int = 128  # images per gradient step
    learning_rate: float = 1e-3  # Adam's step size
    train_limit: int | None = None  # use at most this many training images (None: all)
    test_limit: int | None = None  # use at most this many test images (None: all)
    seed: int = 0  # seeds weights, the sampler's noise and the figures' picks
    data_dir: str | None = None  # look here first for the data set

    def __post_init__(self):
        for name in ("latent_dim", "epochs", "batch_size", "train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"{name}={value}: expected a positive number")
        if not self.filters or any(f <= 0 for f in self.filters):
            raise UserError(f"filters={self.filters!r}: expected positive channel counts, e.g. 32,64")
        if self.hidden < 0 or self.beta < 0 or self.learning_rate <= 0:
            raise UserError(f"hidden={self.hidden}, beta={self.beta}, learning_rate={self.learning_rate}: "
                            "expected hidden >= 0, beta >= 0 and learning_rate > 0")


QUICK = dict(epochs=1, train_limit=512, test_limit=128, batch_size=64, filters=(8, 16), hidden=32)


def variant(config):
    return f"{config.dataset}-z{config.latent_dim}"


# === Data ===
def load_data(config):
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed)
    if len(ds.input_shape) != 3:
        raise UserError(f"data set {config.dataset!r} holds {ds.input_shape}-shaped examples, "
                        "not images (H, W, C): choose an image data set")
    return ds


# === Model and training (semisupervised trains the same VAE) ===
def train_vae(ds, latent_dim, filters, hidden, beta, epochs, batch_size, learning_rate, seed,
              validation=True):
    """Build and fit a VAE on ds.x_train (no labels); returns (model, history, seconds)."""
    import keras

    model = vae_models.vae(ds.input_shape, latent_dim=latent_dim, filters=filters, hidden=hidden,
                           beta=beta, value_range=ds.value_range, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  jit_compile=fitting.jit_compile_default())
    started = time.perf_counter()
    history = model.fit(ds.x_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                        validation_data=(ds.x_test,) if validation and len(ds.x_test) else None,
                        verbose=0 if os.environ.get("KERASDL_QUIET") else 2)
    return model, history, time.perf_counter() - started


def machine_load():
    """'1-minute load average L on N CPUs': training times mean little without it
    on a shared machine."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"1-minute load average {load:.1f} on {os.cpu_count()} CPUs at the end of training"


def evaluate(model, x, batch_size=256):
    """Test -ELBO and its two terms (nats per image), and the pixel MSE of reconstructions
    decoded from the latent means."""
    values = model.evaluate(x, batch_size=batch_size, verbose=0, return_dict=True)
    mse = float(np.mean((model.reconstruct(x, batch_size) - _unit(model, x)) ** 2))
    reconstruction, kl = float(values["reconstruction_loss"]), float(values["kl_loss"])
    return {"neg_elbo": reconstruction + kl, "reconstruction": reconstruction, "kl": kl,
            "reconstruction_mse": mse}


def _unit(model, x):
    lo, hi = model.value_range
    return np.clip((np.asarray(x, np.float32) - lo) / (hi - lo), 0, 1)


def run(config, run):
    # === Data ===
    ds = load_data(config)
    print(f"{ds.name}: {len(ds.x_train)} train / {len(ds.x_test)} test images {ds.input_shape}; "
          f"{ds.provenance}")
    if len(ds.x_test) < 2:
        raise UserError(f"the VAE report needs at least 2 test images; {ds.name} has {len(ds.x_test)}")

    # === Model, train ===
    import keras

    model, history, seconds = train_vae(
        ds, config.latent_dim, config.filters, config.hidden, config.beta, config.epochs,
        config.batch_size, config.learning_rate, config.seed)
    load = machine_load()
    run.write_history(history)
    run.save_model(model)

    # === Evaluate ===
    train = evaluate(model, ds.x_train[:10000])
    test = evaluate(model, ds.x_test)
    pixels = int(np.prod(ds.input_shape))

    # === Figures ===
    rng = np.random.default_rng(config.seed)
    shown = rng.choice(len(ds.x_test), size=min(10, len(ds.x_test)), replace=False)
    originals = _unit(model, ds.x_test[shown])
    run.save_figure(figures.elbo_curves(history.history, title=f"VAE on {ds.name}"), "elbo_curves.png")
    run.save_figure(figures.reconstructions(originals, model.reconstruct(ds.x_test[shown])),
                    "reconstructions.png")
    z = rng.standard_normal((64, config.latent_dim)).astype("float32")
    run.save_figure(plots.image_grid(model.decode(z), ncols=8, value_range=(0, 1),
                                     title="samples: z ~ N(0, I) decoded"), "samples.png")
    pairs = rng.choice(len(ds.x_test), size=(min(5, len(ds.x_test) // 2), 2), replace=False)
    means = model.encode(ds.x_test[pairs.reshape(-1)])[0].reshape(len(pairs), 2, -1)
    steps = np.linspace(0, 1, 9, dtype="float32")
    path = (1 - steps)[None, :, None] * means[:, :1] + steps[None, :, None] * means[:, 1:]
    decoded = model.decode(path.reshape(-1, config.latent_dim)).reshape(len(pairs), len(steps),
                                                                       *ds.input_shape)
    run.save_figure(figures.interpolation(_unit(model, ds.x_test[pairs]), decoded, steps),
                    "interpolation.png")
    test_means = model.encode(ds.x_test)[0]
    run.save_figure(figures.latent_scatter(test_means, ds.y_test, ds.class_names), "latent_scatter.png")
    if config.latent_dim == 2:
        run.save_figure(figures.latent_manifold(model.decode, n=15), "latent_map.png")

    # === Report ===
    metrics = {
        "dataset": ds.name, "latent_dim": config.latent_dim, "beta": config.beta,
        "parameters": int(model.count_params()), "epochs": config.epochs,
        "train_seconds": round(seconds, 1), "seconds_per_epoch": round(seconds / config.epochs, 1),
        "test_neg_elbo": test["neg_elbo"], "test_reconstruction": test["reconstruction"],
        "test_kl": test["kl"], "test_reconstruction_mse": test["reconstruction_mse"],
        "test_bits_per_dim": test["neg_elbo"] / (pixels * np.log(2)),
        "train_neg_elbo": train["neg_elbo"], "train_reconstruction": train["reconstruction"],
        "train_kl": train["kl"], "keras_backend": keras.backend.backend(), "machine_load": load,
    }
    run.write_report(_report(config, ds, metrics, run))
    return metrics


def _report(config, ds, m, run):
    command = run.read_json("config.json")["command"]
    manifold = ("\n![latent map: the decoder on a grid of the 2-D latent space](latent_map.png)\n"
                if config.latent_dim == 2 else "")
    return f"""## VAE on {ds.name}, latent size {config.latent_dim}

Command: `{command}`
(backend {m['keras_backend']}; {m['parameters']:,} parameters; {m['epochs']} epochs in
{m['train_seconds'] / 60:.1f} min of training, {m['seconds_per_epoch']} s an epoch, on this machine:
{m['machine_load']}).

Data: {ds.provenance}. All {len(ds.x_train)} training images, no labels; the {len(ds.x_test)} test
images give the second curve and the numbers below (nothing was tuned on them).

| split | -ELBO (nats/image) | reconstruction -log p(x\\|z) | KL(q(z\\|x) \\|\\| p(z)) | pixel MSE of mean reconstruction |
|---|---|---|---|---|
| train (10,000 images) | {m['train_neg_elbo']:.2f} | {m['train_reconstruction']:.2f} | {m['train_kl']:.2f} | - |
| test | **{m['test_neg_elbo']:.2f}** | {m['test_reconstruction']:.2f} | {m['test_kl']:.2f} | {m['test_reconstruction_mse']:.4f} |

Test -ELBO is {m['test_bits_per_dim']:.3f} bits per pixel. The numbers are single-sample estimates
of the bound (one z per image), with a Bernoulli decoder on pixels scaled to [0, 1]; grey levels
are not binary, so the reconstruction term does not reach 0 even for a perfect reconstruction.

Model: encoder convs {', '.join(map(str, config.filters))} (3x3, stride 2, ReLU) -> dense
{config.hidden} -> z_mean, z_log_var ({config.latent_dim} each); the decoder mirrors it with
transposed convs. Loss reconstruction + beta x KL with beta = {config.beta}, Adam
{config.learning_rate}, batch {config.batch_size}, seed {config.seed}.

![ELBO, reconstruction and KL per epoch](elbo_curves.png)

![test images and their reconstructions](reconstructions.png)

![samples from the prior](samples.png)

![interpolation between the latent means of two test images](interpolation.png)

![latent means of the test images](latent_scatter.png)
{manifold}"""
