"""The book's conventions, checked on every notebook (BOOK_DESIGN.md §4)."""
import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb")
                   if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts)


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)
    walk(toc)
    return found


def cells(path):
    return json.loads(path.read_text())["cells"]


def prose_lines(cell):
    """The lines of a markdown cell outside fenced code blocks (directives such as
    ```{exercise} hold prose, so only plain code fences are skipped)."""
    stack = []
    for line in "".join(cell["source"]).splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            rest = fence.lstrip("`").strip()
            if not rest and stack:
                stack.pop()
            else:
                stack.append("directive" if rest.startswith("{") else "code")
            continue
        if "code" not in stack:
            yield line


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


def test_toc_entries_exist():
    for entry in toc_files():
        assert any((ROOT / (entry + ext)).exists() for ext in (".md", ".ipynb")), entry


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_conventions(path):
    rel = path.relative_to(ROOT).with_suffix("").as_posix()
    assert rel in toc_files(), f"{rel} is not in _toc.yml"
    nb = cells(path)
    code = [c for c in nb if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        "store notebooks with outputs cleared"
    assert "find_spec(\"tlbook\")" in "".join(code[0]["source"]), "first code cell installs tlbook when missing"
    checks = [c for c in code if "remove-cell" in c.get("metadata", {}).get("tags", [])
              and re.search(r"\bassert\b", "".join(c["source"]))]
    assert checks, "a hidden check cell (tag remove-cell) must assert the chapter's claims"
    h1 = [line for c in nb if c["cell_type"] == "markdown" for line in prose_lines(c) if line.startswith("# ")]
    assert len(h1) == 1, f"exactly one top-level heading, found {h1}"
    source = "".join("".join(c["source"]) for c in code)
    assert "pretrained=True" not in source
    assert not re.search(r"(?<![\w.])/(work|home|root|tmp)/", source), "no absolute paths"
