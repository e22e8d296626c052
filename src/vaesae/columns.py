"""The columns of the pipeline's summary files (docs/FORMATS.md), declared once: the writer (``vaesae.summary``),
the report's loader (``vaesae.report.collect``) and the test that checks FORMATS.md all read these tuples.

No imports: the report rules read this module without the training code's dependencies.
"""

#: summary/evaluations.csv, one row per evaluation file, in the order ``vaesae.summary`` writes them.
EVALUATION_COLUMNS = (
    "dataset", "seed", "phase", "method", "k", "k_latent", "n_neurons", "n_latent_neurons", "n_eval", "n_bins",
    "mig", "mse", "dead_pct", "specialized", "latent_dead_pct", "latent_specialized",
    "specialized_topk", "specialized_pre_topk", "active_topk", "active_pre_topk", "h_min",
    "bound_topk", "bound_pre_topk", "specialized_bound", "dead_floor",
    "dead_threshold", "specialization_threshold", "specialization_activations", "specialization_mi", "data_source",
    "data_description",
    "path",
)  # fmt: skip
#: The SAP/DCI scores of eval/{dataset}/seed{seed}/{phase}.global.csv (the ``global_metrics`` rule), which the report
#: merges into the evaluation rows.
GLOBAL_COLUMNS = ("sap", "dci_disentanglement", "dci_completeness", "dci_informativeness")
