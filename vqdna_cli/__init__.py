"""vqdna: genome language modelling with a learned (vector-quantized) DNA vocabulary."""

__version__ = "0.1.0"
