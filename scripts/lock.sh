#!/usr/bin/env bash
# Compile the lock files from the ranges in setup.cfg with pip-tools (installed in a
# throwaway venv). Arguments go to pip-compile:
#   scripts/lock.sh                 # follow a changed range, keep every other pin
#   scripts/lock.sh --upgrade       # every package to the newest release its range admits
#   scripts/lock.sh -P flask        # only that package (and what it needs) to its newest
#
#   requirements-dev.lock  everything: the service with its redis, rq and otlp extras, and the
#                          test and lint tools; scripts/test.sh and CI install it
#   requirements.lock      the part of it that serving needs, at the same versions
#                          (scripts/serve.sh), so a venv set up for the tests also serves
#
# Exact versions with the hashes of their files, for the Python that runs this script
# (3.11, as scripts/_venv.sh picks it) on Linux.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

PIP_TOOLS="pip-tools==7.6.2"
TOOLS="$(mktemp -d)"
trap 'rm -rf "$TOOLS"' EXIT

python="$(wf_pick_python)"
echo "==> installing $PIP_TOOLS with $python ($("$python" --version 2>&1))" >&2
"$python" -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "$PIP_TOOLS"

compile() {
    # No index or find-links lines: the machine's own pip configuration picks the index.
    CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$TOOLS/bin/pip-compile" --quiet \
        --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
        "$@" setup.cfg
}

echo "==> requirements-dev.lock" >&2
compile --extra dev --extra redis --extra rq --extra otlp --output-file requirements-dev.lock "$@"
echo "==> requirements.lock" >&2
compile --extra redis --extra rq --extra otlp --constraint requirements-dev.lock \
    --output-file requirements.lock
