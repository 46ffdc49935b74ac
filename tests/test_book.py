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


# ----------------------------------------------------------------------------- numbers from the run
# A result the prose states is glued from the executed notebook (tlbook.report.glue and the
# {glue:text} role), never typed (BOOK_DESIGN.md §4). Typed numbers may stay only in math, in
# code, and in a sentence that cites its source (a published number).
UNIT = r"(?:%|percent\b|percentage points?\b|points?\b|pp\b|×|(?:s|sec|seconds?|ms|min|minutes?|h|hours?)\b)"
SPELLED = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
           r"forty|fifty|sixty|seventy|eighty|ninety|hundred)")
# "11.4 points", "3.2 s", "8×", "2x"; "twenty points" (a spelled number needs the space: "ones" is no unit)
TYPED_NUMBER = re.compile(rf"(?<![\w.])(?:\d+(?:[.,]\d+)?(?:\s?{UNIT}|x\b)|{SPELLED}\s+{UNIT})", re.IGNORECASE)
# The few typed numbers that are not results: (notebook, the exact phrase), each with its reason.
TYPED_ALLOWED = {
}
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`")


def prose_without_math_code_glue(cell):
    text = "\n".join(prose_lines(cell))
    text = re.sub(r"```\{math\}.*?```", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", " ", text, flags=re.S)
    text = GLUE_ROLE.sub(" ", text)
    text = re.sub(r"\{\w+(?::\w+)*\}`[^`]*`", " ", text)   # other roles: {cite}`key`, {doc}`path`
    return re.sub(r"`[^`\n]*`", " ", text)


def typed_numbers(path):
    """The typed result numbers of a notebook's markdown: (phrase, sentence) pairs."""
    rel = path.relative_to(ROOT).as_posix()
    found = []
    for cell in cells(path):
        if cell["cell_type"] != "markdown":
            continue
        raw = "\n".join(prose_lines(cell))
        for sentence in re.split(r"(?<=[.!?])\s+|\n\s*\n", raw):
            if "{cite" in sentence:      # a published number, with its citation in the sentence
                continue
            clean = prose_without_math_code_glue({"source": sentence})
            for match in TYPED_NUMBER.finditer(clean):
                phrase = match.group(0).strip()
                if phrase not in TYPED_ALLOWED.get(rel, ()):
                    found.append((phrase, " ".join(sentence.split())[:160]))
    return found


def test_the_typed_number_scan_finds_typed_numbers():
    fake = {"cell_type": "markdown", "source": ["DANN gains 11.4 points, about twenty points in all; "
                                                "it took 3.2 s. The 8× speed-up and a 2x gain; "
                                                "ones and hundreds of images, 32x32 pixels.\n"]}
    clean = prose_without_math_code_glue(fake)
    assert [m.group(0).strip() for m in TYPED_NUMBER.finditer(clean)] == [
        "11.4 points", "twenty points", "3.2 s", "8×", "2x"]
    spared = {"cell_type": "markdown", "source": ["$\\epsilon = 5 \\%$ and `lr=0.1 s` and "
                                                  "{glue:text}`gain:.1f` points\n"]}
    assert not TYPED_NUMBER.search(prose_without_math_code_glue(spared))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_typed_result_numbers(path):
    typed = typed_numbers(path)
    assert not typed, ("typed result numbers in the prose; glue them from the run "
                       "(tlbook.report.glue + {glue:text}), or cite the source of a published one:\n"
                       + "\n".join(f"  {phrase!r} in: {sentence}" for phrase, sentence in typed))


def glued_keys(path):
    """The keys a notebook's code glues: literal names, and f-string names as patterns."""
    keys = []
    for cell in cells(path):
        if cell["cell_type"] != "code":
            continue
        for fstring, name in re.findall(r"\bglue\(\s*(f?)[\"']([^\"']+)[\"']", "".join(cell["source"])):
            if fstring:
                parts = re.split(r"\{[^}]*\}", name)
                keys.append(re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$"))
            else:
                keys.append(re.compile("^" + re.escape(name) + "$"))
    return keys


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_glue_role_is_glued_in_its_notebook(path):
    keys = glued_keys(path)
    roles = {key for cell in cells(path) if cell["cell_type"] == "markdown"
             for key in GLUE_ROLE.findall("".join(cell["source"]))}
    missing = sorted(k for k in roles if not any(pattern.match(k) for pattern in keys))
    assert not missing, f"{{glue}} roles with no glue(...) in this notebook's code: {missing}"
