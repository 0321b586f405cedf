"""kerasdl: the classic deep-learning course as reproducible Keras 3 experiments."""

__version__ = "0.1.0"
