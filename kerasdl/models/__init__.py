"""Model builders: plain values in, an uncompiled keras.Model out; backend-neutral.

One module per family (classifiers.py, clock.py, generative.py, ...). Builders
never read files and name their layers.
"""
