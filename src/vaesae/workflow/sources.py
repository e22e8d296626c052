"""The checkout's sources: where the package lives (:data:`SRC_DIR`), what a run of the workflow reads
(:data:`WORKFLOW_SOURCES`) and a private copy of them (:func:`copy_workflow`)."""

from __future__ import annotations

from pathlib import Path


PACKAGE_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = PACKAGE_DIR.parent
#: What a run of the workflow reads from its checkout; everything else it touches (results/, resources/, .snakemake/)
#: is its own. A private copy of these (:func:`copy_workflow`) runs as a fresh clone would.
WORKFLOW_SOURCES = ("Snakefile", "config.yaml", "workflow", "src", "envs")


def copy_workflow(dest: Path, root: Path = SRC_DIR.parent) -> Path:
    """A private copy of the workflow of the checkout ``root`` (:data:`WORKFLOW_SOURCES`) at ``dest``; returns ``dest``.

    Snakemake run in the copy imports the copy's ``src/`` (the rules put it first on PYTHONPATH) and keeps its
    results, resources and metadata there: nothing in ``root`` is read beyond the sources or written. Links would not
    do: Snakemake resolves a linked Snakefile to the checkout, and the rules' source inputs become paths into it."""
    import shutil

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("*.egg-info", ".snakemake", "results", "resources", ".venv")
    for name in WORKFLOW_SOURCES:
        src = Path(root) / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest
