"""Learners written by hand with keras.ops: forward pass, gradient and update spelled out, no autodiff."""
