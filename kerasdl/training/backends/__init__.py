"""The one place for code Keras has no backend-neutral API for.

Each module here holds one concern (the gradient of a loss with respect to
the input; a train step with two optimizers; data-parallel training; the
global random state that `--resume` restores; TensorFlow's input pipeline for
arrays, which stalled at each epoch's end) as a small function per backend
behind one interface, picked once by `keras.backend.backend()`. Each function
is tested on its own backend.
"""
