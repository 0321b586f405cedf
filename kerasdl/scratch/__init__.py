"""Learners written by hand with keras.ops that several tasks share: forward pass,
gradient and update spelled out, no autodiff (networks.py: xor, scratch-mlp,
softmax-regression). A learner only one task uses lives in its task's package."""
