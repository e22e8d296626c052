"""The report's golden set (issue 36): the renderers run on committed evidence, their outputs kept under
tests/golden/<case>/, so that a refactor of ``vaesae.report`` can show it changed no table, verdict or figure.

A case is a committed evidence folder (a ladder rung or a reading: summary/, sweeps/, eval/*.global.csv,
runs/*/*/vae/history.csv, benchmarks/, config.resolved.yaml). :func:`render` runs the three renderers the workflow's
``tables``, ``claims`` and ``figures`` rules run, with the rule params of the folder's own resolved config, into a
folder. The golden copy keeps every text output as it is and each figure as the sha256 of its PNG (figures.sha256),
so the set stays small.

    python tests/golden.py            # rewrite tests/golden/ from the current code (only when an output SHOULD change)

``tests/test_golden.py`` renders every case again and compares.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
#: case name -> committed evidence folder it renders
CASES = {
    "r3-converged": ROOT / "evidence/ladder/r3-converged",
    "r3-converged-centred": ROOT / "evidence/readings/r3-converged/reading-centred",
}
FIGURE_DIGESTS = "figures.sha256"


def _inputs(d: Path) -> list[str]:
    files = lambda pattern: sorted(str(p) for p in d.glob(pattern))  # noqa: E731
    return ["--evaluations", str(d / "summary/evaluations.csv"), "--globals", *files("eval/*/*/*.global.csv"),
            "--history", str(d / "summary/history.csv"), "--sweep", str(d / "sweeps/thresholds.csv")]


def render(evidence: Path, out: Path, threads: int = 1) -> Path:
    """Tables, claims (claims.md/csv, gates.csv) and figures of one evidence folder into ``out``; returns ``out``."""
    import yaml

    from vaesae import workflow as wf
    from vaesae.cli import claims, figures, tables

    cfg = yaml.safe_load((evidence / "config.resolved.yaml").read_text())
    cfg = dict(cfg, claims=wf.deep_merge(wf.load_config()["claims"], cfg.get("claims") or {}))
    params = lambda rule: json.dumps(wf.rule_params(cfg, rule))  # noqa: E731
    out.mkdir(parents=True, exist_ok=True)
    tables.main([*_inputs(evidence), "--benchmarks", *sorted(str(p) for p in evidence.glob("benchmarks/*.tsv")),
                 "--params", params("tables"), "--outdir", str(out / "tables")])
    claims.main([*_inputs(evidence), "--params", params("claims"), "--out-md", str(out / "claims.md"),
                 "--out-csv", str(out / "claims.csv"), "--out-gates", str(out / "gates.csv"), "--pretrain-history",
                 *sorted(str(p) for p in evidence.glob("runs/*/*/vae/history.csv"))])
    figures.main([*_inputs(evidence), "--params", params("figures"), "--outdir", str(out / "figures"),
                  "--threads", str(threads)])
    return out


def texts(out: Path) -> dict[str, bytes]:
    """relative path -> bytes of every text output (tables, claims, gates)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix in (".md", ".csv") and not p.match(OLD_LAYOUTS)}


def layout_cells(markdown: str) -> set[str]:
    """The table cells (bold marks stripped; not the headers) and bullet items of a claims.md: its verdicts, values
    and reasons."""
    cells, lines = set(), markdown.splitlines()
    for i, line in enumerate(lines):
        header = i + 1 < len(lines) and lines[i + 1].startswith("|---")
        if line.startswith("|") and not line.startswith("|---") and not header:
            cells |= {cell.strip().strip("*").strip() for cell in line.strip().strip("|").split(" | ")}
        elif line.startswith("- "):
            cells.add(line[2:].strip())
    return cells - {""}


def figure_digests(out: Path) -> dict[str, str]:
    """figures/<name>.png -> sha256 of its bytes."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "figures").glob("*.png"))}


#: claims.md as an earlier layout rendered it, kept by ``write_golden``: the test checks that the current layout
#: still carries every verdict, value and reason of it (claims.csv, byte-identical, holds every field).
OLD_LAYOUTS = "claims.layout-*.md"


def write_golden(case: str, out: Path) -> None:
    dest = GOLDEN / case
    kept = {p.name: p.read_bytes() for p in dest.glob(OLD_LAYOUTS)} if dest.exists() else {}
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name, data in kept.items():
        (dest / name).write_bytes(data)
    for rel, data in texts(out).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    (dest / FIGURE_DIGESTS).write_text(f"# matplotlib {matplotlib_version()}\n"
                                       + "".join(f"{h}  {rel}\n" for rel, h in figure_digests(out).items()))


def matplotlib_version() -> str:
    import matplotlib

    return matplotlib.__version__


def digests_version(case: str) -> str:
    """The matplotlib version the golden figure digests were rendered with (PNG bytes differ across versions)."""
    first = (GOLDEN / case / FIGURE_DIGESTS).read_text().splitlines()[0]
    return first.removeprefix("# matplotlib ").strip()


def read_digests(case: str) -> dict[str, str]:
    lines = [line for line in (GOLDEN / case / FIGURE_DIGESTS).read_text().splitlines() if not line.startswith("#")]
    return {rel: h for h, rel in (line.split("  ", 1) for line in lines)}


def main() -> int:
    sys.path.insert(0, str(ROOT / "src"))
    for case, evidence in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            write_golden(case, render(evidence, Path(tmp), threads=2))
        print(f"{GOLDEN / case}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
