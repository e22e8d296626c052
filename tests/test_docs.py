"""README.md stays a front page (at most 200 lines, the Quickstart commands unchanged, the evidence section present)
and no relative link in README.md or docs/*.md points at a file or heading that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

#: The Quickstart's two commands, byte for byte as the README has always given them.
QUICKSTART = (
    "make quick   # creates .venv (torch 2.13.0 pinned), then runs the whole quick preset -> results/quick/\n"
    "make test    # same set-up if missing, then the test suite\n"
)

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans (where brackets are code, not links)."""
    out, fence = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            out.append("")
            continue
        out.append("" if fence else re.sub(r"`[^`]*`", "``", line))
    return "\n".join(out)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file: lower case, punctuation dropped, spaces to hyphens, -1, -2 ..."""
    seen: dict[str, int] = {}
    out = set()
    for line in prose(path.read_text()).split("\n"):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).replace("``", "").lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(prose(path.read_text())) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_readme_is_a_front_page_of_at_most_200_lines():
    assert len(README.read_text().splitlines()) <= 200


def test_the_quickstart_commands_are_unchanged():
    text = README.read_text()
    section = text[text.index("\n## Quickstart\n") :]
    section = section[: section.index("\n## ", 1)]
    assert f"```bash\n{QUICKSTART}```" in section


def test_ci_runs_the_quickstart_commands_read_from_the_readme():
    """.ci/run runs what .ci/quickstart.py reads from the README: exactly the two commands, in order."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("quickstart", ROOT / ".ci/quickstart.py")
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    assert quickstart.quickstart_commands(README.read_text()) == ["make quick", "make test"]
    run = (ROOT / ".ci/run").read_text()
    assert "python3 .ci/quickstart.py README.md" in run and "make " not in run.replace("`make ", "")
    with pytest.raises(ValueError, match="no '## Quickstart' section"):
        quickstart.quickstart_commands("# a README\n")
    with pytest.raises(ValueError, match="no ```bash block"):
        quickstart.quickstart_commands("x\n## Quickstart\n\nno block\n## Next\n")


def test_the_readme_has_the_evidence_section():
    assert "## What the evidence says so far" in README.read_text().splitlines()


def test_every_doc_is_linked_from_the_readme():
    linked = {(README.parent / t.split("#")[0]).resolve() for t in relative_links(README)}
    assert [d.name for d in DOCS if d.resolve() not in linked] == []


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_that_exists(path):
    links = relative_links(path)
    broken = []
    for target in links:
        file, _, fragment = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"


def test_the_link_check_sees_links_and_headings():
    """The checks above would pass vacuously if the patterns matched nothing."""
    assert "docs/CONFIGURATION.md" in relative_links(README)
    assert {"quickstart", "on-a-cluster-slurm", "what-the-evidence-says-so-far"} <= anchors(README)
    assert "what-the-quick-preset-is-and-is-not" in anchors(ROOT / "docs" / "RESULTS.md")


def _formats_table_columns(intro: str) -> list[str]:
    """The backticked names in the first column of the FORMATS.md table that follows the line starting ``intro``."""
    lines = (ROOT / "docs/FORMATS.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(intro))
    names, seen_table = [], False
    for line in lines[start + 1:]:
        if line.startswith("|"):
            seen_table = True
            first = line.strip("|").split("|")[0]
            names += re.findall(r"`([a-z_0-9]+)`", first)
        elif seen_table:
            break
    return names


def test_formats_md_documents_every_evaluation_column_the_summary_writes():
    from vaesae.columns import EVALUATION_COLUMNS
    from vaesae.report.collect import EVAL_COLUMNS

    documented = _formats_table_columns("`evaluations.csv`, one row per evaluation file")
    assert sorted(documented) == sorted(EVALUATION_COLUMNS)  # one list: the writer's, documented column by column
    assert set(EVALUATION_COLUMNS) <= set(EVAL_COLUMNS)  # and the report's loader keeps every one of them
