"""MkDocs hook: the site's home page is README.md and its benchmarks page is benchmarks/README.md.

Both files live outside ``docs/`` so that they read well on the repository's front page; the hook adds them to
the site and rewrites their relative links (and the guides' links to them), so ``mkdocs build --strict`` checks
one set of links that works in both places.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
PAGES = {"index.md": ROOT / "README.md", "benchmarks.md": ROOT / "benchmarks" / "README.md"}
#: Link targets as written in the repository -> the same target on the site, per page.
REWRITES = {
    "index.md": (("docs/", ""), ("benchmarks/README.md", "benchmarks.md")),
    "benchmarks.md": (("../docs/", ""),),
    "guide": (("../benchmarks/README.md", "benchmarks.md"), ("../README.md", "index.md")),
}
LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def _rewrite(markdown: str, rules: tuple[tuple[str, str], ...]) -> str:
    def target(match: re.Match[str]) -> str:
        link = match.group(2)
        for old, new in rules:
            if link.startswith(old):
                link = new + link[len(old):]
                break
        return match.group(1) + link + match.group(3)

    return LINK.sub(target, markdown)


def on_files(files: Files, config) -> Files:
    for name, source in PAGES.items():
        content = _rewrite(source.read_text(encoding="utf-8"), REWRITES[name])
        files.append(File.generated(config, name, content=content))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri in PAGES:
        return markdown
    return _rewrite(markdown, REWRITES["guide"])
