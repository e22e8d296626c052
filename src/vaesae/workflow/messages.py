"""What the workflow says to its user when a target is unknown (:func:`unknown_targets_message`), and JSON for the
rules' ``--params``."""

from __future__ import annotations

import re


def as_json(obj) -> str:
    """A rule's ``--params`` value (sorted keys: the same config gives the same string, so no spurious reruns)."""
    import json

    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def unknown_targets_message(unknown: list[str], rules: list[str], patterns: list[str], cfg: dict) -> str:
    """Why ``snakemake <target>`` cannot run, with the nearest match of each unknown target and what exists."""
    import difflib

    patterns = sorted({re.sub(r"\{(\w+),[^}]*\}", r"{\1}", p) for p in patterns})  # constraints hidden
    lines = []
    for target in unknown:
        lines.append(f"unknown target {target!r}: it is neither a rule nor a file any rule makes")
        close = difflib.get_close_matches(target, rules + patterns, n=3, cutoff=0.6)
        if close:
            lines.append(f"  did you mean: {', '.join(close)}?")
    lines.append(f"rules you can ask for: {', '.join(rules)}")
    lines.append(f"or files (results_dir is {cfg['results_dir']!r}, resources_dir is {cfg['resources_dir']!r}), "
                 "for example one of:")  # fmt: skip
    lines += [f"  {p}" for p in patterns]
    lines.append(f"datasets are {', '.join(cfg['datasets'])}; seeds are {', '.join(map(str, cfg['seeds']))}")
    return "\n".join(lines)
