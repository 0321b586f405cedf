"""The task registry: every experiment of `python -m kerasdl <task>`.

Names map to modules that are imported only when the task runs (the backend
must be chosen first), so `list` stays fast.

A task module reads in the order of an experiment and provides:

    NAME        the task's name
    Config      a dataclass, one commented field per value that shapes a run
    QUICK       dict of Config overrides for --quick (a tiny budget, seconds)
    variant(c)  optional: the key of the run's section in reports/<task>.md
    run(c, run) does the experiment, writes into `run` (kerasdl.runs.Run),
                returns the metrics dict (also written to metrics.json)
"""

import importlib
import importlib.util

# name -> (module, one line for `list`)
TASKS = {
    "classify": ("kerasdl.tasks.classify",
                 "MLP / CNN image classifiers on Fashion-MNIST, CIFAR-10, MNIST, SVHN, image folders"),
    "distance": ("kerasdl.tasks.distance",
                 "nearest-centroid and k-NN classifiers, with PCA / t-SNE / UMAP views"),
    "perceptron": ("kerasdl.tasks.perceptron",
                   "multi-class perceptron by hand: batch vs online updates"),
    "xor": ("kerasdl.tasks.xor",
            "the 2-2-1 sigmoid network on XOR by hand: learning-rate and init sweeps"),
    "scratch-mlp": ("kerasdl.tasks.scratch_mlp",
                    "784-128-10 MLP on MNIST with hand-written backprop, learning-rate sweep"),
    "softmax-regression": ("kerasdl.tasks.softmax_regression",
                           "logistic and softmax regression by hand, early stopping"),
    "random-labels": ("kerasdl.tasks.random_labels",
                      "memorising random labels: train accuracy 100%, test at chance"),
    "clock": ("kerasdl.tasks.clock",
              "read the time from analog clock images: regression, classification, multi-head"),
    "adversarial": ("kerasdl.tasks.adversarial",
                    "FGSM / PGD attacks and FGSM adversarial training"),
    "vae": ("kerasdl.tasks.vae",
            "convolutional VAE: reconstructions, samples, latent interpolation"),
    "gan": ("kerasdl.tasks.gan",
            "DCGAN and WGAN-GP on 64x64 images, latent-size sweep, Frechet distance"),
    "gan-2d": ("kerasdl.tasks.gan_2d",
               "a GAN on a 2-D parabola, with the discriminator's decision map"),
    "semisupervised": ("kerasdl.tasks.semisupervised",
                       "linear SVM on VAE latent features with 100-3000 labels (M1)"),
}


def available():
    """The registered tasks whose module exists in this checkout, in registry order."""
    return {name: desc for name, (module, desc) in TASKS.items()
            if importlib.util.find_spec(module) is not None}


def load(name):
    """Import a task's module (keras is imported with it: choose the backend first)."""
    return importlib.import_module(TASKS[name][0])
