"""vaesae: the reproduction pipeline's library (models, sparsifiers, training, metrics, report)."""

#: The datasets the pipeline knows, in the order every table, figure and claim shows them (one definition).
DATASETS = ("dsprites", "shapes3d")
#: The readings of the SAE bias (``model.sae_bias``; ``vaesae.models.sae``): none (eqs. (1)–(3) as printed), a learned
#: decoder bias, b_dec centring (Bricken et al. 2023).
SAE_BIASES = ("none", "decoder", "centred")
