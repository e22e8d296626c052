"""Print the README's Quickstart commands, one per line, in the order the README gives them.

The commands are the lines of the first ```bash block under the "## Quickstart" heading, each without its trailing
comment. `.ci/run` runs exactly these, so that CI and the README cannot drift; tests/test_docs.py checks the parse.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def quickstart_commands(readme: str) -> list[str]:
    """The commands of the Quickstart's first bash block; ValueError if there is no such section or block."""
    start = readme.find("\n## Quickstart\n")
    if start < 0:
        raise ValueError("README.md has no '## Quickstart' section")
    section = readme[start + 1 :]
    end = section.find("\n## ")
    section = section if end < 0 else section[:end]
    block = re.search(r"^```bash\n(.*?)^```", section, flags=re.M | re.S)
    if block is None:
        raise ValueError("the Quickstart section of README.md has no ```bash block")
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.group(1).splitlines()]
    commands = [c for c in commands if c and not c.startswith("#")]
    if not commands:
        raise ValueError("the Quickstart's bash block holds no command")
    return commands


if __name__ == "__main__":
    readme = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "README.md")
    print("\n".join(quickstart_commands(readme.read_text())))
