"""DCGAN and WGAN-GP on 64x64 images, a latent-size sweep, and a Fréchet distance.

The course's DCGAN (Radford et al. 2016: BCE with logits, Adam 2e-4 with
beta1 0.5) on Oxford Flowers 102 at 64x64, or `--set variant=wgan-gp`
(Gulrajani et al. 2017: Wasserstein loss, a layer-norm critic updated
`d_steps` times per generator step, gradient penalty weight 10). One run
trains one GAN with `--set z_dim=10|100|500`, or, with
`--sweep z_dim`, the three latent sizes in turn and compares them;
`model.keras` is the GAN of `z_dim`, a sweep's others go to `models/`.

Pictures are not a comparison, so every GAN is scored: the Fréchet distance
between generated and real test images, measured on the features of a CNN
that this run trains on the same data set (Inception-v3, the FID's network,
cannot be downloaded here), plus that classifier's confidence / diversity
score. Real training images scored the same way give the floor.
"""

import json
import time
from dataclasses import dataclass

import numpy as np

from kerasdl import data, plots, report
from kerasdl.config import TaskConfig, field, fraction, non_negative, one_of, positive
from kerasdl.data import images64  # noqa: F401  (registers flowers102, faces, caltech_faces)
from kerasdl.errors import UserError
from kerasdl.tasks.gan import figures as gan_plots
from kerasdl.tasks.gan import frechet
from kerasdl.training import feed
from kerasdl.training.fit import bn_momentum
from kerasdl.training.progress import fit_options

NAME = "gan"
VARIANTS = ("dcgan", "wgan-gp")
Z_SWEEP = (10, 100, 500)  # the course's latent sizes


def _covariance_sample(value):
    return None if value >= 2 else "expected 2 or more (a covariance needs at least 2 images)"


@dataclass
class Config(TaskConfig):
    dataset: str = field("flowers102", "square images, side a multiple of 16: flowers102, faces, "
                         "caltech_faces, ...")
    variant: str = field("dcgan", "dcgan (BCE with logits) or wgan-gp (Wasserstein + gradient penalty)",
                         one_of(*VARIANTS))
    z_dim: int = field(100, "latent size (the course compared 10, 100 and 500); with --sweep z_dim, "
                       "the latent size of the GAN saved as model.keras", positive)
    sweep: str | None = field(None, "z_dim: train z_dim 10, 100 and 500 in turn and compare them",
                              one_of("z_dim"), shown="none (one GAN, of z_dim)")
    width: int = field(32, "generator/discriminator filters at the finest scale (the DCGAN paper: 128)",
                       positive)
    # 12 epochs: 3 gave flower-coloured blobs, 12 blooms, in a default run of minutes on a
    # CPU (reports/gan.md has both runs and their times).
    epochs: int = field(12, "passes over the training images (one generator update per batch)", positive)
    batch_size: int = field(64, "real images per step", positive)
    learning_rate: float = field(2e-4, "Adam, both networks (DCGAN paper)", positive)
    beta_1: float = field(0.5, "Adam's beta1, both networks (DCGAN paper)", fraction)
    d_steps: int = field(0, "discriminator updates per generator update (0: 1 for dcgan, 5 for wgan-gp)",
                         non_negative)
    gp_weight: float = field(10.0, "gradient penalty weight (wgan-gp)", non_negative)
    n_train: int = field(0, "train on at most this many images (0: all)", non_negative)
    classifier_epochs: int = field(0, "epochs of the CNN whose features give the Fréchet distance "
                                   "(0: at least 8 and at least 400 steps)", non_negative)
    n_score: int = field(800, "generated images scored (real test images: at most as many)",
                         _covariance_sample)
    stream: str = feed.stream_field()
    seed: int = field(0, "seeds weights, noise and the scored latent codes", non_negative)
    data_dir: str | None = field(None, "look here first for the data set")

    def check(self):
        if self.sweep and self.z_dim not in Z_SWEEP:
            raise UserError(f"z_dim={self.z_dim}: expected 10, 100 or 500 with --sweep z_dim "
                            "(the sweep's GAN saved as model.keras)")


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
    # Images on disk may stay there: `run` streams them (config.stream)
    ds = data.load(config.dataset, data_dir=config.data_dir, in_memory=config.stream == "no")
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


def steps_per_epoch(config, n_train):
    return int(np.ceil(n_train / config.batch_size))


def build_gan(config, z_dim, image_shape, steps):
    """The config's GAN for a run of `steps` generator updates (batch norm's momentum)."""
    import keras

    from kerasdl.tasks.gan import model as gan

    wgan = config.variant == "wgan-gp"
    momentum = bn_momentum(steps)
    model = gan.GAN(
        gan.dcgan_generator(z_dim, image_shape, config.width, bn_momentum=momentum, name="generator"),
        gan.dcgan_discriminator(image_shape, config.width, norm="layer" if wgan else "batch",
                                bn_momentum=momentum, name="critic" if wgan else "discriminator"),
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

        # Kept by the run's checkpoint, so that a resumed run's figures start at step 1.
        def checkpoint_state(self):
            return {"rows": np.array(json.dumps(self.rows)), "epoch_number": np.array(self.epoch_number)}

        def restore_checkpoint_state(self, state):
            self.rows, self.epoch_number = json.loads(str(state["rows"])), int(state["epoch_number"])

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

        def checkpoint_state(self):
            return {"epochs": np.array([e for e, _ in self.images], dtype=np.int64),
                    **{f"images_{k}": images for k, (_, images) in enumerate(self.images)}}

        def restore_checkpoint_state(self, state):
            self.images = [(int(e), state[f"images_{k}"]) for k, e in enumerate(state["epochs"])]

    return StepLosses(), Snapshots()


def train_one(config, ds, z_dim, train_data):
    """Train one GAN on `train_data` (fit's data arguments, made in `run`); returns a dict
    with the model, histories, snapshots and time."""
    per_epoch = steps_per_epoch(config, len(ds.x_train))
    model = build_gan(config, z_dim, ds.input_shape, config.epochs * per_epoch)
    fixed_z = np.random.default_rng(config.seed).normal(size=(8, z_dim)).astype("float32")
    steps, snapshots = _callbacks(fixed_z, config.epochs)
    print(f"training {model.name}: {report.plural(config.epochs, 'epoch')} of "
          f"{report.plural(per_epoch, 'step')}, {report.plural(d_steps(config), 'discriminator update')} "
          "per step")
    started = time.perf_counter()
    history = model.fit(**train_data, epochs=config.epochs,
                        **fit_options([steps, snapshots, *feed.callbacks(train_data)]))
    return {"model": model, "z_dim": z_dim, "history": history.history, "steps": steps.rows,
            "snapshots": snapshots.images, "seconds": time.perf_counter() - started}


# === Evaluate ===


class Scorer:
    """The feature classifier and the real images' statistics, computed once a run."""

    def __init__(self, config, ds, streamed=False):
        import keras

        self.epochs = classifier_epochs(config, len(ds.x_train))
        print(f"feature classifier ({report.plural(self.epochs, 'epoch')}; trained once per data set and "
              "recipe, then read from the cache)")
        # Two convs per block: one was too weak to tell the 40 Olivetti faces apart
        # (reports/gan.md).
        self.model, self.accuracy, self.cached = frechet.cached_feature_classifier(
            ds, epochs=self.epochs, widths=(16, 32, 64), convs_per_block=2, seed=config.seed,
            streamed=streamed)
        if self.cached:
            print("feature classifier: from the cache")
        # The GANs start from the same random state whether the classifier was trained or loaded.
        keras.utils.set_random_seed(config.seed)
        n = min(config.n_score, len(ds.x_test))
        self.real_features, _ = frechet.features(self.model, ds.x_test[:n])
        train_pick = np.random.default_rng(config.seed).permutation(len(ds.x_train))[:n]
        train_features, train_probs = frechet.features(self.model, ds.x_train[train_pick])
        self.reference = {"frechet": frechet.frechet_distance(train_features, self.real_features),
                          **frechet.classifier_scores(train_probs)}
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
    z = np.random.default_rng(seed + 2).normal(size=(n, z_dim)).astype("float32")
    coords, explained = plots.principal_components(z, 2)
    return coords, generate(model, z), explained


# === Experiment ===


def run(config, run):
    started = time.perf_counter()
    # === Data ===
    ds = load_data(config)
    streamed = feed.streams(ds.x_train, config.stream)
    # Scaled to the generator's [-1, 1] once in memory, or batch by batch as read from disk
    train_data = feed.arguments((ds.x_train, None, None), config.batch_size, streamed, shuffle=True,
                                seed=config.seed, transform=lambda x: to_tanh_range(ds, x))
    print(f"{ds.name}: {len(ds.x_train)} training images {ds.input_shape}; {ds.provenance}"
          + ("; batches read from the decoded images on disk" if streamed else ""))

    # === Score set-up: the classifier whose features give the Fréchet distance ===
    scorer = Scorer(config, ds, streamed) if ds.num_classes >= 2 else None
    if scorer is None:
        print(f"{ds.name} has one class: no feature classifier, no Fréchet distance")

    # === Train and evaluate each GAN ===
    z_dims = Z_SWEEP if config.sweep else (config.z_dim,)
    results = []
    for z_dim in z_dims:
        trained = train_one(config, ds, z_dim, train_data)
        model, suffix = trained["model"], f"_z{z_dim}" if config.sweep else ""
        z = np.random.default_rng(config.seed + 3).normal(size=(config.n_score, z_dim)).astype("float32")
        samples = generate(model, z)
        trained["scores"] = scorer.score(to_pixels(ds, samples)) if scorer else {}
        trained["samples"] = samples[:32]
        # model.keras: the run's own GAN (with --sweep, the one of z_dim); the others beside it.
        run.save_model(model, "model.keras" if z_dim == config.z_dim else f"models/gan_z{z_dim}.keras")
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
    metrics = _metrics(config, ds, scorer, results, time.perf_counter() - started, streamed)
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


def _metrics(config, ds, scorer, results, seconds, streamed):
    """Per latent size under "z<size>"; the GAN of model.keras (z_dim) also at the top level."""
    out = {"dataset": ds.name, "variant": config.variant, "epochs": config.epochs,
           "total_seconds": round(seconds, 1), "streamed": streamed}
    if scorer:
        out.update(classifier_test_accuracy=scorer.accuracy, classifier_epochs=scorer.epochs,
                   real_train_frechet=scorer.reference["frechet"],
                   real_train_score=scorer.reference["score"])
    for r in results:
        last = {k: float(v[-1]) for k, v in r["history"].items()}
        out[f"z{r['z_dim']}"] = {"train_seconds": round(r["seconds"], 1), **last, **r["scores"]}
    out.update(out[f"z{config.z_dim}"], z_dim=config.z_dim)
    return out


HEADLINE = ("frechet", "score", "real_train_frechet", "z_dim", "classifier_test_accuracy",
            "total_seconds")


def _report(config, ds, scorer, results, m, run):
    wgan = config.variant == "wgan-gp"
    title = f"{'WGAN-GP' if wgan else 'DCGAN'} on {ds.name}"
    title += ": latent sizes 10, 100, 500" if config.sweep else f", z_dim {results[0]['z_dim']}"
    updates = config.epochs * steps_per_epoch(config, len(ds.x_train))
    model = (f"Model: the DCGAN of the course (Radford et al.), width {config.width} (filters at "
             f"64x64; the paper used 128), batch norm in {'the generator' if wgan else 'both networks'} "
             f"(momentum {bn_momentum(updates):.4f} for {updates:,} steps), "
             + (f"a layer-norm critic, Wasserstein loss + gradient penalty {config.gp_weight}" if wgan
                else "BCE with logits (non-saturating G loss)")
             + f"; Adam lr {config.learning_rate}, beta1 {config.beta_1}; "
             f"{report.plural(d_steps(config), 'discriminator update')} per generator update; "
             f"batch {config.batch_size}. `model.keras` is the GAN of z_dim {config.z_dim}"
             + (", `models/` holds the others." if config.sweep else ".") + "\n\n")

    # === The table: one row per GAN, and the floor ===
    loss_keys = [k for k in results[0]["history"] if k not in ("d_loss", "g_loss")]
    rows = []
    for r in results:
        h, s = r["history"], r["scores"]
        rows.append({"z_dim": r["z_dim"], "Fréchet distance ↓": s.get("frechet"),
                     "classifier score ↑": s.get("score"), "confidence": s.get("confidence"),
                     "diversity": s.get("diversity"), "D loss": h["d_loss"][-1], "G loss": h["g_loss"][-1],
                     **{k: h[k][-1] for k in loss_keys}, "train min": r["seconds"] / 60})
    if scorer:
        floor = scorer.reference
        rows.append({"z_dim": "real train images", "Fréchet distance ↓": floor["frechet"],
                     "classifier score ↑": floor["score"], "confidence": floor["confidence"],
                     "diversity": floor["diversity"]})
        scoring = (f"Scores: {config.n_score} generated images against {scorer.n_real} real test images, "
                   f"on the 64-d global-pool features of a small CNN trained by this run on {ds.name} "
                   f"({report.plural(scorer.epochs, 'epoch')}, test accuracy {scorer.accuracy:.3f}). This is "
                   "*not* the FID: Inception-v3 is not available offline, so the distances compare runs "
                   "of this project only. The row *real train images* scores real training images the "
                   "same way: the floor a perfect generator would reach. Classifier score = "
                   "exp(E KL(p(y|x) || p(y))) (the Inception Score's formula); confidence = mean top "
                   "probability; diversity = exp(entropy of the mean prediction), in classes.")
    else:
        scoring = f"{ds.name} has a single class: no classifier, so no Fréchet distance or score."
    digits = {"Fréchet distance ↓": 2, "classifier score ↑": 2, "diversity": 1, "train min": 1}
    table = report.table(rows, columns=list(rows[0]), digits=3,
                         formats={c: (lambda v, d=d: report.fmt(v, d)) for c, d in digits.items()})

    figures = []
    if config.sweep:
        if scorer:
            figures.append(report.figure("z_dim_scores.png", "scores per latent size"))
        figures.append(report.figure("z_dim_samples.png", "samples per latent size"))
    for r in results:
        suffix = f"_z{r['z_dim']}" if config.sweep else ""
        name = f" (z={r['z_dim']})" if config.sweep else ""
        figures += [report.figure(f"losses{suffix}.png", f"losses{name}"),
                    report.figure(f"samples_through_training{suffix}.png", f"samples through training{name}"),
                    report.figure(f"samples{suffix}.png", f"samples{name}"),
                    report.figure(f"interpolation{suffix}.png", f"interpolation{name}"),
                    report.figure(f"latent_pca{suffix}.png", f"latent PCA{name}")]
    return report.join(
        report.header(run, title, data=f"{ds.provenance}; {len(ds.x_train)} training images scaled "
                                       "to [-1, 1]"),
        model,
        table,
        scoring,
        "Losses and scores are from the last epoch (means over its steps); a GAN's losses do not "
        "fall like a classifier's: they measure a game, the scores measure the images.",
        report.budget(run, m["total_seconds"],
                      f"{report.plural(config.epochs, 'epoch')} = "
                      f"{report.plural(updates, 'generator update')}"
                      f"{' per latent size' if config.sweep else ''}, with the feature classifier "
                      "and the scores"),
        *figures,
    )
