# shellcheck shell=bash
# Sourced by scripts/serve.sh and scripts/test.sh (not run on its own): make sure .venv
# exists and has the project installed, without reinstalling when nothing changed.
#
#   PYTHON=/path/to/python   the interpreter for a new .venv (default: python3.11, else python3)
#   WF_REINSTALL=1           reinstall even though the stamp says the install is current
#
# The install is editable (-e): the app finds migrations/ beside its package, in this tree.

WF_VENV=.venv
WF_INSTALL_SPEC=".[dev]"
WF_STAMP="$WF_VENV/.wfplatform-install.sha256"

wf_pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [[ -n "$candidate" ]] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: no Python 3.11 or newer found (tried \$PYTHON, python3.11, python3)" >&2
    return 1
}

wf_install_key() {
    # Changes whenever the dependencies, the install spec or the interpreter change.
    {
        cat setup.cfg pyproject.toml
        echo "spec=$WF_INSTALL_SPEC"
        "$WF_VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

wf_ensure_venv() {
    if [[ -d "$WF_VENV" ]] && ! "$WF_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "==> $WF_VENV is broken (its interpreter does not run): recreating it" >&2
        rm -rf "$WF_VENV"
    fi
    if [[ ! -d "$WF_VENV" ]]; then
        local python
        python="$(wf_pick_python)"
        echo "==> creating $WF_VENV with $python ($("$python" --version 2>&1))" >&2
        "$python" -m venv "$WF_VENV"
    fi

    local key
    key="$(wf_install_key)"
    if [[ "${WF_REINSTALL:-0}" != "1" && -f "$WF_STAMP" && "$(cat "$WF_STAMP")" == "$key" ]]; then
        return 0
    fi
    echo "==> installing the project into $WF_VENV (pip install -e '$WF_INSTALL_SPEC')" >&2
    rm -f "$WF_STAMP"
    "$WF_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e "$WF_INSTALL_SPEC"
    echo "$key" >"$WF_STAMP"
}
