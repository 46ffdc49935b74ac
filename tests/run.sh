#!/usr/bin/env bash
# The test command of the book:
#
#   bash tests/run.sh
#
# Stages, each timed:
#   1. environment  .venv created or refreshed (tests/env.sh)
#   2. unit tests   python -m pytest tests
#   3. notebooks    every notebook under book/ executed by nbval, profile `smoke`,
#                   in the order of _toc.yml (outputs are not compared: the hidden
#                   check cells carry the assertions), twice: with the book's seeds
#                   (TLBOOK_SEED_OFFSET=0) and with every experiment seed shifted by
#                   one (TLBOOK_SEED_OFFSET=1), so that a check which holds for one
#                   trajectory only fails here. The second pass also asks PyTorch and
#                   oneDNN for their AVX2 kernels (a no-op on a CPU without AVX-512):
#                   readers' CPUs differ, and so do their floating-point trajectories.
#                   It reuses the built domains and features of the first pass.
#   4. book         jupyter-book build with warnings as errors and execution off
#                   (nbval is the one executor here, so no notebook runs twice)
# Every stage runs even when an earlier one failed, so that one run shows every
# failure; the exit status is non-zero when any stage failed.
#
# TLBOOK_CACHE defaults to <repo>/.cache/tlbook, so a fresh clone starts from an empty
# cache. Extra arguments are passed to both pytest runs (e.g. -x, -k first_transfer).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
CHECK_DIR="$REPO/_build/check"   # everything this script writes, apart from the cache

STAGE_NAMES=()
STAGE_SECS=()
STAGE_RESULTS=()
FAILED=0
T_START=$(date +%s.%N)

seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# run_stage NAME COMMAND...: run COMMAND in this shell, record its time and result.
run_stage() {
    local name=$1 start rc=0
    shift
    echo
    echo "==> $name"
    start=$(date +%s.%N)
    "$@" || rc=$?
    STAGE_NAMES+=("$name")
    STAGE_SECS+=("$(seconds_since "$start")")
    if [ "$rc" -eq 0 ]; then
        STAGE_RESULTS+=("ok")
    else
        STAGE_RESULTS+=("FAILED (exit $rc)")
        FAILED=$((FAILED + 1))
    fi
    return 0
}

summary() {
    local i n=${#STAGE_NAMES[@]}
    echo
    echo "==> Timing summary"
    for ((i = 0; i < n; i++)); do
        printf '  %-26s %8ss  %s\n' "${STAGE_NAMES[$i]}" "${STAGE_SECS[$i]}" "${STAGE_RESULTS[$i]}"
    done
    printf '  %-26s %8ss\n' "total" "$(seconds_since "$T_START")"
    echo "stages: $((n - FAILED)) passed, $FAILED failed"
}

# The notebooks under book/, in reading order (_toc.yml), then any not listed there.
list_notebooks() {
    python - "$REPO" <<'PY'
import pathlib, sys, yaml

repo = pathlib.Path(sys.argv[1])
toc = yaml.safe_load((repo / "_toc.yml").read_text(encoding="utf8"))

def files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                yield from files(child)

ordered = [f + ".ipynb" for f in [toc["root"], *files(toc)] if (repo / (f + ".ipynb")).is_file()]
skip = {".ipynb_checkpoints", "_build"}
others = sorted(
    p.relative_to(repo).as_posix()
    for p in (repo / "book").rglob("*.ipynb")
    if not skip & set(p.relative_to(repo).parts)
)
for nb in ordered + [nb for nb in others if nb not in ordered]:
    print(nb)
PY
}

unit_tests() {
    python -m pytest tests -p no:cacheprovider "$@"
}

# notebooks OFFSET [pytest args]: every notebook under TLBOOK_SEED_OFFSET=OFFSET.
notebooks() {
    local offset=$1
    shift
    local nbs=()
    mapfile -t nbs < <(list_notebooks)
    if [ "${#nbs[@]}" -eq 0 ]; then
        echo "no notebook found under book/" >&2
        return 1
    fi
    mkdir -p "$CHECK_DIR"
    local rc=0
    echo "TLBOOK_SEED_OFFSET=$offset, $(python -c 'import torch; print("torch CPU kernels:", torch.backends.cpu.get_cpu_capability())')"
    TLBOOK_SEED_OFFSET=$offset python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 \
        --durations=0 -p no:cacheprovider \
        --junitxml="$CHECK_DIR/nbval-offset$offset.xml" -o junit_family=xunit1 \
        "$@" "${nbs[@]}" || rc=$?
    notebook_times "$CHECK_DIR/nbval-offset$offset.xml" || true
    return "$rc"
}

# Seconds per notebook, from nbval's JUnit report; the smoke budget is 90 s each.
notebook_times() {
    [ -f "$1" ] || return 0
    python - "$1" <<'PY'
import collections, sys, xml.etree.ElementTree as ET

per_nb = collections.OrderedDict()
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    nb = case.get("file") or case.get("classname", "?")  # "file": junit_family=xunit1
    per_nb[nb] = per_nb.get(nb, 0.0) + float(case.get("time", 0))
if per_nb:
    print("\nSeconds per notebook (smoke budget: 90 s each, 45 s on average)")
    for nb, secs in per_nb.items():
        print(f"  {secs:7.1f}  {nb}{'  OVER BUDGET' if secs > 90 else ''}")
    print(f"  {sum(per_nb.values()) / len(per_nb):7.1f}  average over {len(per_nb)} notebooks")
PY
}

# Execution off: jupyter-book 1.x has no command-line override for one setting, so
# the build reads a copy of _config.yml whose execute.execute_notebooks is "off".
book() {
    local cfg="$CHECK_DIR/_config.noexec.yml"
    mkdir -p "$CHECK_DIR"
    python - "$REPO/_config.yml" "$cfg" <<'PY'
import sys, yaml

src, dst = sys.argv[1:]
with open(src, encoding="utf8") as f:
    config = yaml.safe_load(f)
config.setdefault("execute", {})["execute_notebooks"] = "off"
# Without execution the notebooks have no outputs, so no glued value exists to insert: the
# {glue} roles' "not found" warnings are expected here (and only here; the executed build of
# book/build.sh keeps them as errors). tests/test_book.py checks statically that every role
# has its glue(...) call in its own notebook.
sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
sphinx_config["suppress_warnings"] = [*sphinx_config.get("suppress_warnings", []), "mystnb.glue"]
with open(dst, "w", encoding="utf8") as f:
    yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
PY
    # --all: a fresh Sphinx environment, so that warnings of unchanged pages are
    # reported again. HTML goes to _build/check/_build/html, leaving _build/html
    # (the executed book of book/build.sh) alone.
    jupyter-book build "$REPO" --config "$cfg" --path-output "$CHECK_DIR" \
        --warningiserror --keep-going --all
}

trap summary EXIT

run_stage environment source "$REPO/tests/env.sh"
if [ "${STAGE_RESULTS[0]}" != "ok" ]; then
    exit 1
fi

export TLBOOK_PROFILE=smoke
export MPLBACKEND=Agg
export TLBOOK_CACHE="${TLBOOK_CACHE:-$REPO/.cache/tlbook}"
echo "TLBOOK_PROFILE=$TLBOOK_PROFILE TLBOOK_CACHE=$TLBOOK_CACHE"

run_stage "unit tests" unit_tests "$@"
run_stage "notebooks, seed offset 0" notebooks 0 "$@"
ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 run_stage "notebooks, seed offset 1" notebooks 1 "$@"
run_stage book book

[ "$FAILED" -eq 0 ]
