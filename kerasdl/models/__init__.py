"""Model builders shared by several tasks: plain values in, an uncompiled keras.Model
out; backend-neutral.

classifiers.py serves classify, adversarial, bench and the GAN's feature
classifier. A model only one experiment uses lives in its task's package
(tasks/clock/model.py, tasks/gan/model.py, tasks/vae/model.py). Builders never
read files and name their layers.
"""
