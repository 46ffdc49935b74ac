#!/usr/bin/env bash
# The build command of the book:
#
#   bash book/build.sh
#
# Builds the whole book with every notebook executed, warnings as errors; the HTML
# goes to _build/html at the repository root (open _build/html/index.html).
# Execution results are cached in _build/.jupyter_cache: a notebook that has not
# changed since the last build is not run again. Extra arguments go to
# `jupyter-book build` (e.g. --all to rewrite every page).
#
# The profile is TLBOOK_PROFILE when set, otherwise detected by tlbook
# (gpu when CUDA is available, else cpu).
set -euo pipefail

# shellcheck source=SCRIPTDIR/../tests/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/env.sh"
cd "$TLBOOK_REPO"

# Figures must be drawn inline into the pages: a non-interactive backend chosen
# in the calling shell (MPLBACKEND=Agg) would leave them out.
unset MPLBACKEND

echo "profile: ${TLBOOK_PROFILE:-detected by tlbook (gpu if CUDA is available, else cpu)}"
start=$(date +%s)
jupyter-book build . --warningiserror "$@"
echo "book built in $(( $(date +%s) - start )) s: $TLBOOK_REPO/_build/html/index.html"
