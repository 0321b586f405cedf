"""DCGAN and WGAN-GP on 64x64 images, a latent-size sweep, and a Fréchet distance.

The course's DCGAN (Radford et al. 2016: BCE with logits, Adam 2e-4 with
beta1 0.5) on Oxford Flowers 102 at 64x64, or `--set variant=wgan-gp`
(Gulrajani et al. 2017: Wasserstein loss, a layer-norm critic updated
`d_steps` times per generator step, gradient penalty weight 10). One run
trains one GAN with `--set z_dim=10|100|500`, or, with
`--sweep z_dim`, the three latent sizes in turn and compares them.

Pictures are not a comparison, so every GAN is scored: the Fréchet distance
between generated and real test images, measured on the features of a CNN
that this run trains on the same data set (Inception-v3, the FID's network,
cannot be downloaded here), plus that classifier's confidence / diversity
score. Real training images scored the same way give the floor.
"""

import time
from dataclasses import dataclass

import numpy as np

from kerasdl import data, plots
from kerasdl.data import images64  # noqa: F401  (registers flowers102, faces, caltech_faces)
from kerasdl.errors import UserError
from kerasdl.plots import gan as gan_plots
from kerasdl.training import frechet

NAME = "gan"
VARIANTS = ("dcgan", "wgan-gp")
Z_SWEEP = (10, 100, 500)  # the course's latent sizes


@dataclass
class Config:
    dataset: str = "flowers102"  # square images, side a multiple of 16: flowers102, faces, caltech_faces, ...
    variant: str = "dcgan"  # dcgan (BCE with logits) or wgan-gp (Wasserstein + gradient penalty)
    z_dim: int = 100  # latent size (the course compared 10, 100 and 500)
    sweep: str | None = None  # z_dim: train z_dim 10, 100 and 500 in turn and compare them (z_dim unused)
    width: int = 32  # generator/discriminator filters at the finest scale (paper: 128; 32 fits a 2-core CPU)
    # 12 epochs of Flowers 102 (1,236 generator updates): the default run took 11.1 min on 2
    # idle cores (7.8 min of GAN training, the rest the feature classifier and scoring), FD 14.27;
    # 3 epochs (309 updates) gave flower-coloured blobs, FD 27.54 (reports/gan.md).
    epochs: int = 12  # passes over the training images (one generator update per batch)
    batch_size: int = 64  # real images per step
    learning_rate: float = 2e-4  # Adam, both networks (DCGAN paper)
    beta_1: float = 0.5  # Adam's beta1, both networks (DCGAN paper)
    d_steps: int = 0  # discriminator updates per generator update (0: 1 for dcgan, 5 for wgan-gp)
    gp_weight: float = 10.0  # gradient penalty weight (wgan-gp)
    n_train: int = 0  # train on at most this many images (0: all)
    classifier_epochs: int = 0  # epochs of the CNN whose features give the Fréchet distance (0: auto)
    n_score: int = 800  # generated images scored (real test images: at most as many)
    seed: int = 0  # seeds weights, noise and the scored latent codes
    data_dir: str | None = None  # look here first for the data set

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise UserError(f"variant={self.variant!r}: choose dcgan or wgan-gp")
        if self.sweep not in (None, "z_dim"):
            raise UserError(f"sweep={self.sweep!r}: the one sweep is z_dim (or none)")
        for name in ("z_dim", "width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name}={getattr(self, name)}: expected a positive integer")
        if self.n_score < 2:
            raise UserError(f"n_score={self.n_score}: at least 2 images are needed for a covariance")
        for name in ("d_steps", "n_train", "classifier_epochs"):
            if getattr(self, name) < 0:
                raise UserError(f"{name}={getattr(self, name)}: expected 0 (automatic) or more")
        if self.learning_rate <= 0 or not 0 <= self.beta_1 < 1 or self.gp_weight < 0:
            raise UserError(f"learning_rate={self.learning_rate}, beta_1={self.beta_1}, "
                            f"gp_weight={self.gp_weight}: expected lr > 0, 0 <= beta_1 < 1, gp_weight >= 0")


QUICK = dict(epochs=1, n_train=48, batch_size=16, width=4, classifier_epochs=1, n_score=24)


def variant(config):
    return f"{config.variant}-{config.dataset}" + ("-zsweep" if config.sweep else f"-z{config.z_dim}")


def classifier_epochs(config, n_train):
    """0 means automatic: at least 8 epochs and at least 400 steps of 64 images (a small
    set such as the 320 Olivetti faces needs many epochs to learn anything)."""
    return config.classifier_epochs or max(8, int(np.ceil(400 / np.ceil(n_train / 64))))


def d_steps(config):
    return config.d_steps or (5 if config.variant == "wgan-gp" else 1)


# === Data ===


def load_data(config):
    ds = data.load(config.dataset, data_dir=config.data_dir)
    h, w = ds.input_shape[:2]
    if len(ds.input_shape) != 3 or h != w or h % 16:
        raise UserError(f"data set {ds.name!r} has images of shape {ds.input_shape}: the DCGAN "
                        "needs square images whose side is a multiple of 16 (flowers102, faces)")
    if config.n_train:
        ds = ds.limit(config.n_train, max(config.n_score, 2), seed=config.seed)
    return ds


def to_tanh_range(ds, x):
    """Pixels in the data set's range -> float32 in [-1, 1], the generator's tanh range."""
    return ds.scaled(x) * 2.0 - 1.0


def to_pixels(ds, images):
    """Generated images in [-1, 1] -> the data set's pixel range (what the classifier eats)."""
    lo, hi = ds.value_range
    return (np.clip(images, -1, 1) + 1.0) / 2.0 * (hi - lo) + lo


# === Model ===


def build_gan(config, z_dim, image_shape):
    import keras

    from kerasdl.models import gan

    wgan = config.variant == "wgan-gp"
    model = gan.GAN(
        gan.dcgan_generator(z_dim, image_shape, config.width, name="generator"),
        gan.dcgan_discriminator(image_shape, config.width, norm="layer" if wgan else "batch",
                                name="critic" if wgan else "discriminator"),
        loss="wasserstein" if wgan else "bce", d_steps=d_steps(config),
        gp_weight=config.gp_weight, seed=config.seed, name=f"{config.variant.replace('-', '_')}_z{z_dim}")
    # WGAN-GP: beta2 0.9 as in the paper and the keras-io example; DCGAN: Adam's default.
    beta_2 = 0.9 if wgan else 0.999
    model.compile(
        d_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=beta_2),
        g_optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=beta_2))
    return model


# === Train ===


def _callbacks(fixed_z, epochs):
    import keras

    class StepLosses(keras.callbacks.Callback):
        """Each step's own losses, recovered from the epoch's running means that
        fit reports: value_k = k * mean_k - (k - 1) * mean_(k-1)."""

        def __init__(self):
            super().__init__()
            self.rows = []

        def on_epoch_begin(self, epoch, logs=None):
            self.previous, self.k = {}, 0

        def on_train_batch_end(self, batch, logs=None):
            self.k += 1
            row = {"step": len(self.rows) + 1, "epoch": self.epoch_number}
            for key, mean in (logs or {}).items():
                mean = float(mean)
                row[key] = self.k * mean - (self.k - 1) * self.previous.get(key, 0.0)
                self.previous[key] = mean
            self.rows.append(row)

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_number += 1

        def on_train_begin(self, logs=None):
            self.epoch_number = 1

    class Snapshots(keras.callbacks.Callback):
        """The same latent codes drawn at (up to) 6 epochs spread over training."""

        def __init__(self):
            super().__init__()
            self.at = set(np.unique(np.linspace(0, epochs, min(epochs, 5) + 1).round().astype(int)))
            self.images = []

        def _take(self, epoch):
            if epoch in self.at:
                # A direct call, not predict(): predict would trace a new function each time.
                images = self.model.generator(fixed_z, training=False)
                self.images.append((epoch, keras.ops.convert_to_numpy(images)))

        def on_train_begin(self, logs=None):
            self._take(0)

        def on_epoch_end(self, epoch, logs=None):
            self._take(epoch + 1)

    return StepLosses(), Snapshots()


def train_one(config, ds, z_dim, x_train):
    """Train one GAN; returns a dict with the model, histories, snapshots and time."""
    model = build_gan(config, z_dim, ds.input_shape)
    fixed_z = np.random.default_rng(config.seed).normal(size=(8, z_dim)).astype("float32")
    steps, snapshots = _callbacks(fixed_z, config.epochs)
    print(f"training {model.name}: {config.epochs} epochs of {int(np.ceil(len(x_train) / config.batch_size))} "
          f"steps, {d_steps(config)} discriminator update(s) per step")
    started = time.perf_counter()
    history = model.fit(x_train, batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
                        callbacks=[steps, snapshots], verbose=2)
    return {"model": model, "z_dim": z_dim, "history": history.history, "steps": steps.rows,
            "snapshots": snapshots.images, "seconds": time.perf_counter() - started}


# === Evaluate ===


class Scorer:
    """The feature classifier and the real images' statistics, computed once a run."""

    def __init__(self, config, ds):
        self.epochs = classifier_epochs(config, len(ds.x_train))
        print(f"training the feature classifier ({self.epochs} epochs)")
        # Two convs per block: on the 320 Olivetti faces one conv per block reached 25% test
        # accuracy over 40 people in 80 epochs, two reached 84% (same epochs and seed).
        self.model, self.accuracy = frechet.train_feature_classifier(
            ds, epochs=self.epochs, widths=(16, 32, 64), convs_per_block=2,
            seed=config.seed)
        n = min(config.n_score, len(ds.x_test))
        self.real_features, real_probs = frechet.features(self.model, ds.x_test[:n])
        train_pick = np.random.default_rng(config.seed).permutation(len(ds.x_train))[:n]
        train_features, train_probs = frechet.features(self.model, ds.x_train[train_pick])
        self.reference = {"frechet": frechet.frechet_distance(train_features, self.real_features),
                          **frechet.classifier_scores(train_probs)}
        self.test_scores = frechet.classifier_scores(real_probs)
        self.n_real = n

    def score(self, images_pixels):
        feats, probs = frechet.features(self.model, images_pixels)
        return {"frechet": frechet.frechet_distance(feats, self.real_features),
                **frechet.classifier_scores(probs)}


def generate(model, z, batch_size=64):
    return model.generator.predict(z, batch_size=batch_size, verbose=0)


def interpolations(model, z_dim, seed, rows=6, steps=10):
    rng = np.random.default_rng(seed + 1)
    a, b = rng.normal(size=(2, rows, 1, z_dim))
    t = np.linspace(0, 1, steps)[None, :, None]
    z = ((1 - t) * a + t * b).astype("float32").reshape(rows * steps, z_dim)
    images = generate(model, z)
    return images.reshape((rows, steps) + images.shape[1:])


def latent_pca(model, z_dim, seed, n=80):
    from sklearn.decomposition import PCA

    z = np.random.default_rng(seed + 2).normal(size=(n, z_dim)).astype("float32")
    pca = PCA(n_components=2, random_state=seed).fit(z)
    return pca.transform(z), generate(model, z), pca.explained_variance_ratio_


# === Experiment ===


def run(config, run):
    started = time.perf_counter()
    # === Data ===
    ds = load_data(config)
    x_train = to_tanh_range(ds, ds.x_train)
    print(f"{ds.name}: {len(x_train)} training images {ds.input_shape}; {ds.provenance}")

    # === Score set-up: the classifier whose features give the Fréchet distance ===
    scorer = Scorer(config, ds) if ds.num_classes >= 2 else None
    if scorer is None:
        print(f"{ds.name} has one class: no feature classifier, no Fréchet distance")

    # === Train and evaluate each GAN ===
    z_dims = Z_SWEEP if config.sweep else (config.z_dim,)
    results = []
    for z_dim in z_dims:
        trained = train_one(config, ds, z_dim, x_train)
        model, suffix = trained["model"], f"_z{z_dim}" if config.sweep else ""
        z = np.random.default_rng(config.seed + 3).normal(size=(config.n_score, z_dim)).astype("float32")
        samples = generate(model, z)
        trained["scores"] = scorer.score(to_pixels(ds, samples)) if scorer else {}
        trained["samples"] = samples[:32]
        run.save_model(model, f"gan{suffix}.keras")
        run.write_csv(f"steps{suffix}.csv", trained["steps"])
        run.write_history(trained["history"], f"history{suffix}.csv")
        _figures(run, config, ds, trained, suffix)
        results.append(trained)

    # === Figures comparing the runs ===
    if config.sweep and scorer:
        run.save_figure(gan_plots.score_comparison(
            [f"z={r['z_dim']}" for r in results], [r["scores"]["frechet"] for r in results],
            [r["scores"]["score"] for r in results],
            reference=(scorer.reference["frechet"], scorer.reference["score"]),
            title=f"{config.variant} on {ds.name}: latent size"), "z_dim_scores.png")
    if config.sweep:
        grid = np.concatenate([r["samples"][:8] for r in results])
        run.save_figure(plots.image_grid(grid, [f"z={r['z_dim']}" for r in results for _ in range(8)],
                                         ncols=8, value_range=(-1, 1),
                                         title="final samples, one row per latent size"),
                        "z_dim_samples.png")

    # === Metrics and report ===
    metrics = _metrics(config, ds, scorer, results, time.perf_counter() - started)
    if not config.sweep:
        # history.csv at the usual name: the single run's epochs
        run.write_history(results[0]["history"])
    run.write_report(_report(config, ds, scorer, results, metrics, run))
    return metrics


def _figures(run, config, ds, trained, suffix):
    model, z_dim = trained["model"], trained["z_dim"]
    label = f"{config.variant} z={z_dim} on {ds.name}"
    steps = {k: [row.get(k) for row in trained["steps"]] for k in trained["steps"][0]} if trained["steps"] else {}
    run.save_figure(gan_plots.loss_curves(steps, trained["history"], title=label), f"losses{suffix}.png")
    run.save_figure(gan_plots.samples_through_training(trained["snapshots"],
                                                       title=f"{label}: samples through training"),
                    f"samples_through_training{suffix}.png")
    run.save_figure(plots.image_grid(trained["samples"], ncols=8, value_range=(-1, 1),
                                     title=f"{label}: samples"), f"samples{suffix}.png")
    run.save_figure(gan_plots.interpolation(interpolations(model, z_dim, config.seed),
                                            title=f"{label}: linear paths between latent codes"),
                    f"interpolation{suffix}.png")
    coords, images, explained = latent_pca(model, z_dim, config.seed)
    run.save_figure(gan_plots.latent_pca(coords, images, explained,
                                         title=f"{label}: PCA of 80 latent codes, drawn as their images"),
                    f"latent_pca{suffix}.png")


def _metrics(config, ds, scorer, results, seconds):
    import keras

    out = {"dataset": ds.name, "variant": config.variant, "epochs": config.epochs,
           "keras_backend": keras.backend.backend(), "total_seconds": round(seconds, 1)}
    if scorer:
        out.update(classifier_test_accuracy=scorer.accuracy, classifier_epochs=scorer.epochs,
                   real_train_frechet=scorer.reference["frechet"],
                   real_train_score=scorer.reference["score"])
    for r in results:
        key = f"z{r['z_dim']}"
        last = {k: float(v[-1]) for k, v in r["history"].items()}
        out[key] = {"train_seconds": round(r["seconds"], 1), **last, **r["scores"]}
        if len(results) == 1:
            out.update({k: v for k, v in out[key].items()})
            out["z_dim"] = r["z_dim"]
    return out


def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def _report(config, ds, scorer, results, m, run):
    command = run.read_json("config.json")["command"]
    title = f"{'WGAN-GP' if config.variant == 'wgan-gp' else 'DCGAN'} on {ds.name}"
    title += ": latent sizes 10, 100, 500" if config.sweep else f", z_dim {results[0]['z_dim']}"
    loss_keys = [k for k in results[0]["history"] if k not in ("d_loss", "g_loss")]
    rows = []
    for r in results:
        h, s = r["history"], r["scores"]
        rows.append(f"| {r['z_dim']} | {_fmt(s.get('frechet'), 2)} | {_fmt(s.get('score'), 2)} | "
                    f"{_fmt(s.get('confidence'))} | {_fmt(s.get('diversity'), 1)} | "
                    f"{_fmt(h['d_loss'][-1])} | {_fmt(h['g_loss'][-1])} | "
                    + " | ".join(_fmt(h[k][-1]) for k in loss_keys) + f" | {r['seconds'] / 60:.1f} |")
    if scorer:
        reference_row = (f"| real train images | {_fmt(scorer.reference['frechet'], 2)} | "
                      f"{_fmt(scorer.reference['score'], 2)} | {_fmt(scorer.reference['confidence'])} | "
                      f"{_fmt(scorer.reference['diversity'], 1)} |" + " |" * (3 + len(loss_keys)))
        rows.append(reference_row)
        scoring = (f"Scores: {config.n_score} generated images against {scorer.n_real} real test images, "
                   f"on the 64-d global-pool features of a small CNN trained by this run on {ds.name} "
                   f"({scorer.epochs} epochs, test accuracy {scorer.accuracy:.3f}). This is "
                   "*not* the FID: Inception-v3 is not available offline, so the distances compare runs "
                   "of this project only. The row *real train images* scores real training images the "
                   "same way: the floor a perfect generator would reach. Classifier score = "
                   "exp(E KL(p(y|x) || p(y))) (the Inception Score's formula); confidence = mean top "
                   "probability; diversity = exp(entropy of the mean prediction), in classes.")
    else:
        scoring = f"{ds.name} has a single class: no classifier, so no Fréchet distance or score."
    figures = []
    for r in results:
        suffix = f"_z{r['z_dim']}" if config.sweep else ""
        name = f" (z={r['z_dim']})" if config.sweep else ""
        figures += [f"![losses{name}](losses{suffix}.png)",
                    f"![samples through training{name}](samples_through_training{suffix}.png)",
                    f"![samples{name}](samples{suffix}.png)",
                    f"![interpolation{name}](interpolation{suffix}.png)",
                    f"![latent PCA{name}](latent_pca{suffix}.png)"]
    if config.sweep:
        figures = ["![scores per latent size](z_dim_scores.png)" if scorer else "",
                   "![samples per latent size](z_dim_samples.png)"] + figures
    figures = "\n\n".join(f for f in figures if f)
    steps_per_epoch = int(np.ceil(len(ds.x_train) / config.batch_size))
    return f"""## {title}

Command: `{command}`
(backend {m['keras_backend']}; {m['total_seconds'] / 60:.1f} min in all on this machine, a
2-core CPU).

Data: {ds.provenance}; {len(ds.x_train)} training images scaled to [-1, 1].

Model: the DCGAN of the course (Radford et al.), width {config.width} (filters at 64x64; the
paper used 128), {'a layer-norm critic, Wasserstein loss + gradient penalty ' + str(config.gp_weight)
if config.variant == 'wgan-gp' else 'batch norm, BCE with logits (non-saturating G loss)'};
Adam lr {config.learning_rate}, beta1 {config.beta_1}; {d_steps(config)} discriminator update(s)
per generator update; batch {config.batch_size}; {config.epochs} epochs = {config.epochs * steps_per_epoch}
generator updates; seed {config.seed}.

| z_dim | Fréchet distance ↓ | classifier score ↑ | confidence | diversity | D loss | G loss | {" | ".join(loss_keys)} | train min |
|{"---|" * (8 + len(loss_keys))}
{chr(10).join(rows)}

{scoring}

Losses and scores are from the last epoch (means over its steps); a GAN's losses do not
fall like a classifier's: they measure a game, the scores measure the images.

{figures}
"""
