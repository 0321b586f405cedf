"""The one place for code Keras has no backend-neutral API for.

Each module here holds one concern (the gradient of a loss with respect to
the input; a train step with two optimizers; data-parallel training; the
global random state that `--resume` restores; TensorFlow's input pipeline for
arrays, which stalled at each epoch's end; the warm-up schedule's conditional
and the deferred build that made TensorFlow trace each training step twice) as
a small function per backend behind one interface, picked once by
`keras.backend.backend()`. Each function is tested on its own backend.
"""


def prepare():
    """What every kerasdl run (and bench measurement) sets up once, before building models:
    the fixes to Keras on this backend. Returns {fix: whether it applied}."""
    from kerasdl.training.backends import input_pipeline, single_trace, warmup_schedule

    return {"input_pipeline": input_pipeline.prepare(), "warmup_schedule": warmup_schedule.prepare(),
            "single_trace": single_trace.prepare()}
