"""Studies across runs, read from committed evidence folders: the scale ladder (:mod:`vaesae.studies.ladder`: one
rung per preset of ``workflow/presets/ladder/``) and the readings of the paper's text (:mod:`vaesae.studies.readings`),
run by ``python -m vaesae.cli.ladder``.

A layer above the report and the workflow: a study reads a preset's resolved config (``vaesae.workflow``), re-renders
claims with the workflow's renderer (``vaesae.cli.claims``) and reuses the report's loaders, statistics and style
(``vaesae.report``); neither the report nor the workflow imports it (tests/test_layering.py).
"""
