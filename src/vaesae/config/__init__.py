"""The typed configuration, below every module that reads it (models, sparsifiers, training, evaluation).

    base.py      :class:`~vaesae.config.base.Section`, the one loader of a ``--params`` section (unknown and
                 missing keys, enum-like keys, nested sections), and :class:`~vaesae.config.base.ConfigKeyError`
    keys.py      the ``sparsify`` keys of each stage-3 method, one frozen dataclass per method (the methods table
                 and the method's sparsifier name the same class); light: the Snakefile imports it at parse time
    sections.py  the other sections (``model``, ``optim`` ...) and the bundles an entry point types its
                 ``--params`` into: :class:`~vaesae.config.sections.StageConfig` (training),
                 :class:`~vaesae.config.sections.EvalConfig` (the final evaluation)

This package imports neither torch nor anything above it (``vaesae.train``, ``vaesae.sparsifiers``, ``vaesae.cli``).
"""
