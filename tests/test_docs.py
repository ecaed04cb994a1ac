"""The docs stay true: generated pages current, relative links resolve, every error explained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.docgen import GENERATED, generate, missing_descriptions
from reefdask import errors

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
REGENERATE = "regenerate with `make docs` (python -m pipelines.docgen docs/) and commit the result"

# [text](target) outside code; images too. Targets with a scheme or only an anchor are not files.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _links(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # fenced code is not prose
    text = re.sub(r"`[^`\n]*`", "", text)
    return _LINK.findall(text)


def test_generated_pages_are_current(tmp_path):
    generate(tmp_path)
    for name in GENERATED:
        committed = DOCS / name
        assert committed.exists(), f"docs/{name} is missing: {REGENERATE}"
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        assert committed.read_text(encoding="utf-8") == fresh, f"docs/{name} is stale: {REGENERATE}"


def test_every_config_field_is_described():
    assert missing_descriptions() == [], "add Field(description=...) to these config fields"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_point_to_existing_files(page):
    broken = []
    for target in _links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # URLs (http:, mailto:) and same-page anchors
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_index_links_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {t.split("#", 1)[0] for t in _links(index)}
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not link {sorted(pages - linked)}"
    assert "docs/index.md" in _links((ROOT / "README.md").read_text(encoding="utf-8"))


def test_troubleshooting_explains_every_error_class():
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    missing = [name for name in errors.__all__ if name != "ReefdaskError" and f"## `{name}`" not in text]
    assert not missing, f"docs/troubleshooting.md has no section for {missing}"


def test_cli_reference_lists_every_command():
    import typer

    from reefdask.cli import app

    root = typer.main.get_command(app)
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name, cmd in root.commands.items():
        assert f"## `reefdask {name}`" in text
        for sub in getattr(cmd, "commands", {}):
            assert f"## `reefdask {name} {sub}`" in text


def test_link_finder_sees_links_and_skips_code():
    text = "See [a](a.md) and ![img](p.png#x).\n```\n[b](b.md)\n```\n`[c](c.md)` [d](https://x.org)"
    assert _links(text) == ["a.md", "p.png#x", "https://x.org"]
