"""A convolutional VAE: ELBO curves, reconstructions, samples, latent interpolation.

The VAE of Kingma & Welling (2014) with a Bernoulli decoder, trained by `fit`
on the images alone (model.py: the loss is the negative ELBO,
reconstruction + KL, in nats per image). The test set gives the curves beside
the training ones; nothing is chosen on it, so its final numbers are honest.
With `latent_dim=2` the report also draws the learned manifold: the decoder
evaluated on a grid of the 2-D latent space.
"""

import time
from dataclasses import dataclass

import numpy as np

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, field, format_value, fraction, non_negative, positive
from kerasdl.errors import UserError
from kerasdl.tasks.vae import figures
from kerasdl.tasks.vae import model as vae_models
from kerasdl.training import feed
from kerasdl.training import fit as fitting
from kerasdl.training.progress import fit_options

NAME = "vae"


@dataclass
class Config(TaskConfig):
    dataset: str = field("fashion_mnist", "any registered image set: fashion_mnist, mnist, cifar10, "
                         "leiden_digits, ...")
    latent_dim: int = field(32, "size of z; 2 adds the latent-manifold map to the report", positive)
    filters: tuple[int, ...] = field((32, 64), "channels of the encoder's stride-2 convs (decoder "
                                     "mirrors them)", positive)
    hidden: int = field(256, "dense layer between convs and z, both ways (0: none)", non_negative)
    beta: float = field(1.0, "weight of the KL term (1: the ELBO)", non_negative)
    epochs: int = field(10, "passes over the training set", positive)
    batch_size: int = field(128, "images per gradient step", positive)
    learning_rate: float = field(1e-3, "Adam's step size", positive)
    validation_fraction: float = field(0.0, "share of the training images held out for validation "
                                       "(its -ELBO is what `tune` optimises); 0: none, the test "
                                       "images give the second curve", fraction)
    train_limit: int | None = field(None, "use at most this many training images (None: all)", positive)
    test_limit: int | None = field(None, "use at most this many test images (None: all)", positive)
    stream: str = feed.stream_field()
    seed: int = field(0, "seeds weights, the sampler's noise and the figures' picks", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")

    def check(self):
        check_filters(self.filters)


def check_filters(filters):
    """At least one conv (a Config's `positive` passes an empty tuple)."""
    if not filters:
        raise UserError("filters=: expected positive channel counts, e.g. 32,64")


QUICK = dict(epochs=1, train_limit=512, test_limit=128, batch_size=64, filters=(8, 16), hidden=32)

# What `python -m kerasdl tune vae` optimises: the -ELBO (beta = 1, whatever beta trained
# with) of held-out training images, never of the test set; the search holds out 10%.
TUNE_OBJECTIVE = ("val_neg_elbo", "min")
TUNE_MONITOR = ("val_loss", "min")


def search_space(hp, config):
    """The KerasTuner search space, {Config field: value drawn from `hp`}: latent size, beta,
    the encoder's conv widths and the dense width. Each default is the task's."""
    default = Config()
    return {
        "validation_fraction": hp.Fixed("validation_fraction", 0.1),
        "latent_dim": hp.Choice("latent_dim", [2, 8, 16, 32, 64], default=default.latent_dim),
        "beta": hp.Float("beta", 0.25, 4.0, sampling="log", default=default.beta),
        "filters": hp.Choice("filters", ["16,32", "32,64", "64,128", "32,64,128"],
                             default=format_value(default.filters)),
        "hidden": hp.Choice("hidden", [0, 128, 256, 512], default=default.hidden),
    }


def variant(config):
    return f"{config.dataset}-z{config.latent_dim}"


# === Data ===
def load_data(config, in_memory=True):
    """The config's image set; `in_memory=False`: images on disk may stay there (the caller
    streams them, see kerasdl.training.feed)."""
    ds = data.load(config.dataset, data_dir=config.data_dir, train_limit=config.train_limit,
                   test_limit=config.test_limit, subset_seed=config.seed, in_memory=in_memory)
    if len(ds.input_shape) != 3:
        raise UserError(f"data set {config.dataset!r} holds {ds.input_shape}-shaped examples, "
                        "not images (H, W, C): choose an image data set")
    return ds


# === Model and training (semisupervised trains the same VAE) ===
def train_vae(ds, latent_dim, filters, hidden, beta, epochs, batch_size, learning_rate, seed,
              validation=True, train=None, val=None, streamed=False):
    """Build and fit a VAE on ds.x_train, or on the split `train` (no labels); the second
    curve is the split `val`'s, else the test set's (`validation`). Splits are (x, None, rows)
    (see feed.arguments); `streamed`: read batch by batch from disk. Returns (model, history,
    seconds)."""
    import keras

    model = vae_models.vae(ds.input_shape, latent_dim=latent_dim, filters=filters, hidden=hidden,
                           beta=beta, value_range=ds.value_range, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  jit_compile=fitting.jit_compile_default())
    started = time.perf_counter()
    if val is None and validation and len(ds.x_test):
        val = (ds.x_test, None, None)
    train_data = feed.arguments((ds.x_train, None, None) if train is None else train, batch_size, streamed,
                                shuffle=True, seed=seed)
    val_data = feed.arguments(val, 256, streamed) if val is not None else None
    history = model.fit(**train_data, epochs=epochs,
                        validation_data=(val_data["x"],) if val_data else None,
                        **fit_options(feed.callbacks(train_data)))
    return model, history, time.perf_counter() - started


EVALUATION_CHUNK = 4096  # images decoded at a time for the pixel error: memory of a few batches


def evaluate(model, x, batch_size=256, streamed=False):
    """-ELBO and its two terms (nats per image), and the pixel MSE of reconstructions decoded
    from the latent means, of images `x` or of a split given as (x, None, rows) (read batch by
    batch from disk if `streamed`)."""
    split = x if isinstance(x, tuple) else (x, None, None)
    values = model.evaluate(**feed.arguments(split, batch_size, streamed), verbose=0, return_dict=True)
    squared, count = 0.0, 0
    for images in feed.RowBatches(*split, batch_size=EVALUATION_CHUNK):
        squared += float(np.sum((model.reconstruct(images, batch_size) - _unit(model, images)) ** 2))
        count += images.size
    reconstruction, kl = float(values["reconstruction_loss"]), float(values["kl_loss"])
    return {"neg_elbo": reconstruction + kl, "reconstruction": reconstruction, "kl": kl,
            "reconstruction_mse": squared / count}


def _unit(model, x):
    lo, hi = model.value_range
    return np.clip((np.asarray(x, np.float32) - lo) / (hi - lo), 0, 1)


def run(config, run):
    # === Data ===
    ds = load_data(config, in_memory=config.stream == "no")
    streamed = feed.streams(ds.x_train, config.stream)
    print(f"{ds.name}: {len(ds.x_train)} train / {len(ds.x_test)} test images {ds.input_shape}; "
          f"{ds.provenance}" + ("; batches read from the decoded images on disk" if streamed else ""))
    if len(ds.x_test) < 2:
        raise UserError(f"the VAE report needs at least 2 test images; {ds.name} has {len(ds.x_test)}")

    # === Model, train ===
    train, val = (ds.x_train, None, None), None
    if config.validation_fraction:
        train, val = ((x, None, rows) for x, _, rows in ds.split_rows(config.validation_fraction,
                                                                      seed=config.seed))  # no labels
        print(f"held out {feed.size(val)} training images for validation")
    if not streamed:  # copied into memory once, for fit and for the evaluation after it
        train, val = feed.in_memory(train), None if val is None else feed.in_memory(val)
    model, history, seconds = train_vae(
        ds, config.latent_dim, config.filters, config.hidden, config.beta, config.epochs,
        config.batch_size, config.learning_rate, config.seed, train=train, val=val, streamed=streamed)
    load = report.machine_load()
    run.write_history(history)
    run.save_model(model)

    # === Evaluate ===
    train_scores = evaluate(model, feed.rows_of(train, 10000), streamed=streamed)
    validation = evaluate(model, val, streamed=streamed) if val is not None and feed.size(val) else None
    test = evaluate(model, (ds.x_test, None, None), streamed=streamed)
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
    test_means = model.encode(feed.images(ds.x_test, streamed))[0]
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
        "train_neg_elbo": train_scores["neg_elbo"], "train_reconstruction": train_scores["reconstruction"],
        "train_kl": train_scores["kl"], "machine_load": load, "streamed": streamed,
        "train_images": feed.size(train), "val_neg_elbo": validation["neg_elbo"] if validation else None,
    }
    run.write_report(_report(config, ds, metrics, run))
    return metrics


HEADLINE = ("test_neg_elbo", "test_bits_per_dim", "test_kl", "test_reconstruction_mse", "train_seconds")


def _data_words(m, test_images):
    """Which images trained the model and which gave its second curve."""
    if m["val_neg_elbo"] is None:
        return (f"All {m['train_images']:,} training images, no labels; the {test_images:,} test images "
                "give the second curve and the numbers below (nothing was tuned on them)")
    return (f"{m['train_images']:,} training images, no labels; held-out training images give the "
            f"second curve (validation -ELBO {m['val_neg_elbo']:.2f}), the {test_images:,} test images "
            "the numbers below")


def _report(config, ds, m, run):
    rows = {
        f"train ({min(m['train_images'], 10000):,} images)": {
            "-ELBO (nats/image)": m["train_neg_elbo"], "reconstruction -log p(x\\|z)": m["train_reconstruction"],
            "KL(q(z\\|x) \\|\\| p(z))": m["train_kl"]},
        "test": {"-ELBO (nats/image)": m["test_neg_elbo"], "reconstruction -log p(x\\|z)": m["test_reconstruction"],
                 "KL(q(z\\|x) \\|\\| p(z))": m["test_kl"],
                 "pixel MSE of mean reconstruction": m["test_reconstruction_mse"]},
    }
    formats = {column: (lambda v: report.fmt(v, 2)) for column in rows["test"]}
    formats["pixel MSE of mean reconstruction"] = report.fmt
    return report.join(
        report.header(run, f"VAE on {ds.name}, latent size {config.latent_dim}",
                      data=f"{ds.provenance}. {_data_words(m, len(ds.x_test))}"),
        report.table(rows, index="split", bold=["test"], formats=formats),
        f"Test -ELBO is {m['test_bits_per_dim']:.3f} bits per pixel. The numbers are single-sample "
        "estimates of the bound (one z per image), with a Bernoulli decoder on pixels scaled to "
        "[0, 1]; grey levels are not binary, so the reconstruction term does not reach 0 even for a "
        "perfect reconstruction.",
        f"Model: encoder convs {', '.join(map(str, config.filters))} (3x3, stride 2, ReLU) -> dense "
        f"{config.hidden} -> z_mean, z_log_var ({config.latent_dim} each); the decoder mirrors it with "
        f"transposed convs; {m['parameters']:,} parameters. Loss reconstruction + beta x KL with "
        f"beta = {config.beta}, Adam {config.learning_rate}, batch {config.batch_size}.",
        report.budget(run, m["train_seconds"],
                      f"{report.plural(m['epochs'], 'epoch')} ({m['seconds_per_epoch']} s each"
                      f"{report.load_words(m['machine_load'])})"),
        report.figure("elbo_curves.png", "ELBO, reconstruction and KL per epoch"),
        report.figure("reconstructions.png", "test images and their reconstructions"),
        report.figure("samples.png", "samples from the prior"),
        report.figure("interpolation.png", "interpolation between the latent means of two test images"),
        report.figure("latent_scatter.png", "latent means of the test images"),
        report.figure("latent_map.png", "latent map: the decoder on a grid of the 2-D latent space")
        if config.latent_dim == 2 else "",
    )
