"""vaesae: the reproduction pipeline's library (models, sparsifiers, training, metrics, report)."""

#: The datasets the pipeline knows, in the order every table, figure and claim shows them (one definition).
DATASETS = ("dsprites", "shapes3d")
