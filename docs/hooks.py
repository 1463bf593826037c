"""MkDocs hooks (mkdocs.yml `hooks:`): what the site generates instead of copying.

- docs/config.md: the `<!-- config-reference -->` line becomes the tables of every config key, written
  from the typed config (hwflow.config_reference), so the page cannot drift from hwflow/config/sections.py.
- benchmarks/results/*.png are served at the site root under their own names (the results .md files
  link them that way), so pages show the plots the
  benchmarks wrote (no copies in docs/).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARKER = "<!-- config-reference -->"


def on_files(files, config):
    for png in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, png.name, abs_src_path=str(png)))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != "config.md":
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/config.md: the line {MARKER} is missing (the generated reference goes there)")
    if str(ROOT) not in sys.path[:1]:  # this checkout's hwflow, also when another checkout is installed
        sys.path.insert(0, str(ROOT))  # (mkdocs restores sys.path after loading a hook, so here)
    from hwflow.config_reference import reference_markdown

    return markdown.replace(MARKER, reference_markdown())
