# shellcheck shell=bash
# The book's Python environment, shared by book/build.sh and tests/run.sh.
#
#   source tests/env.sh
#
# Works from any directory. Creates <repo>/.venv when it is missing, and installs
# requirements.txt (exact pins) and then tlbook itself (editable, without dependencies)
# whenever requirements.txt or pyproject.toml changed since the last install: a
# sha256 stamp of both files is kept inside .venv. Then puts .venv/bin first on PATH.
# Exports TLBOOK_REPO, the repository root.
#
# Set PYTHON to choose the interpreter that creates .venv (default: python3).
# Any failure returns non-zero; callers run with `set -euo pipefail`.

TLBOOK_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
export TLBOOK_REPO

_tlbook_env_setup() {
    local repo="$TLBOOK_REPO"
    local venv="$repo/.venv"
    local python="${PYTHON:-python3}"
    local stamp="$venv/.tlbook-install.sha256"
    local want have=""

    if [ ! -x "$venv/bin/python" ]; then
        echo "env: creating $venv with $("$python" --version 2>&1)"
        "$python" -m venv "$venv" || {
            echo "env: ERROR: '$python -m venv $venv' failed (on Debian: apt-get install python3-venv)" >&2
            return 1
        }
    fi

    want="$(cd "$repo" && sha256sum requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)" || {
        echo "env: ERROR: cannot read requirements.txt and pyproject.toml in $repo" >&2
        return 1
    }
    [ -f "$stamp" ] && have="$(cat "$stamp")"

    # Reinstall when the pins changed, or when tlbook is no longer installed in .venv.
    if [ "$want" != "$have" ] || ! "$venv/bin/python" -I -c \
        "import importlib.metadata as m; m.version('tlbook')" >/dev/null 2>&1; then
        echo "env: installing requirements.txt into $venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
            -r "$repo/requirements.txt" || {
            echo "env: ERROR: pip install -r requirements.txt failed" >&2
            return 1
        }
        echo "env: installing tlbook (editable) from $repo"
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
            --no-deps -e "$repo" || {
            echo "env: ERROR: pip install -e . --no-deps failed" >&2
            return 1
        }
        echo "$want" > "$stamp"
    fi
}

_tlbook_env_setup || { unset -f _tlbook_env_setup; return 1; }
unset -f _tlbook_env_setup

export VIRTUAL_ENV="$TLBOOK_REPO/.venv"
case ":$PATH:" in
    "$VIRTUAL_ENV/bin:"*) ;;
    *) export PATH="$VIRTUAL_ENV/bin:$PATH" ;;
esac
unset PYTHONHOME
