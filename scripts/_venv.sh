# shellcheck shell=bash
# Sourced by scripts/serve.sh, scripts/test.sh and scripts/demo_cutover.sh (not run on its
# own): make sure .venv exists and holds the locked versions, without reinstalling when
# nothing changed.
#
#   wf_ensure_venv runtime   requirements.lock: what serving needs
#   wf_ensure_venv [dev]     requirements-dev.lock: the same pins plus the test and lint tools
#
# A dev install serves too, so a venv set up for the tests is not reinstalled to serve.
#
#   PYTHON=/path/to/python   the interpreter for a new .venv (default: python3.11, else python3)
#   WF_REINSTALL=1           reinstall even though the stamp says the install is current
#
# The venv keeps the pip it was created with (the one Python ships, 23.2 with 3.11): a lock
# leaves pip nothing to search. The project itself is installed editable (-e) and without
# dependencies: the app finds migrations/ beside its package, in this tree.

WF_VENV=.venv
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

wf_lock_file() {
    case "$1" in
        runtime) echo requirements.lock ;;
        dev) echo requirements-dev.lock ;;
        *)
            echo "error: wf_ensure_venv takes runtime or dev, not '$1'" >&2
            return 1
            ;;
    esac
}

wf_install_key() {
    # "KIND DIGEST": the digest changes whenever the lock, the project's metadata or the
    # interpreter change.
    local kind="$1" lock
    lock="$(wf_lock_file "$kind")"
    {
        cat "$lock" setup.cfg pyproject.toml
        "$WF_VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1 | sed "s/^/$kind /"
}

wf_install_is_current() {
    local kind="$1" installed
    [[ "${WF_REINSTALL:-0}" != "1" && -f "$WF_STAMP" ]] || return 1
    installed="$(cat "$WF_STAMP")"
    [[ "$installed" == "$(wf_install_key "$kind")" ]] && return 0
    [[ "$kind" == runtime && "$installed" == "$(wf_install_key dev)" ]]
}

wf_ensure_venv() {
    local kind="${1:-dev}" lock key
    lock="$(wf_lock_file "$kind")"
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

    wf_install_is_current "$kind" && return 0
    key="$(wf_install_key "$kind")"
    echo "==> installing $lock and the project into $WF_VENV" >&2
    rm -f "$WF_STAMP"
    local pip=("$WF_VENV/bin/python" -m pip --disable-pip-version-check)
    "${pip[@]}" install --quiet -r "$lock"
    "${pip[@]}" install --quiet --no-deps -e .
    local problems
    if ! problems="$("${pip[@]}" check)"; then
        echo "$problems" >&2
        echo "error: $lock does not hold what setup.cfg asks for: run scripts/lock.sh" >&2
        return 1
    fi
    echo "$key" >"$WF_STAMP"
}
