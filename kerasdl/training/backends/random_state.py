"""The global random state that shuffles `fit`'s data, saved and restored for `--resume`
(kerasdl.training.checkpoint): numpy's (Keras's numpy iterator shuffles with it on JAX and
PyTorch), and on the PyTorch backend torch's own generator (its DataLoader's shuffle).
TensorFlow's data adapter shuffles with op seeds that set_random_seed fixes per run."""

import keras
import numpy as np


def capture():
    """{name: array} of the global random state, for an .npz file."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state = {"numpy_keys": keys, "numpy_position": np.array([position, has_gauss]),
             "numpy_gauss": np.array(gauss)}
    if keras.backend.backend() == "torch":
        import torch

        state["torch_rng"] = torch.get_rng_state().numpy()
    return state


def restore(saved):
    """Restore what `capture` saved (`saved`: a mapping such as an open .npz)."""
    position, has_gauss = (int(v) for v in saved["numpy_position"])
    np.random.set_state(("MT19937", saved["numpy_keys"], position, has_gauss, float(saved["numpy_gauss"])))
    if "torch_rng" in saved and keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(saved["torch_rng"].copy()))
