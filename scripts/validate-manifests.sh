#!/usr/bin/env bash
# Every Kubernetes manifest in deploy/kubernetes/ against the Kubernetes
# API schemas, offline and strict (unknown fields refused), with PyPI's
# kubernetes-validate (installed with pip when missing). CI runs this
# (scripts/test.sh); without Python's pip it says so and exits 2.
# Usage: scripts/validate-manifests.sh [MANIFEST ...]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate >/dev/null 2>&1 \
      || { echo "validate-manifests: pip install kubernetes-validate failed" >&2; exit 2; }
  else
    echo "validate-manifests: kubernetes-validate is needed (python3 -m pip install kubernetes-validate)" >&2
    exit 2
  fi
fi
# pip may install it where this shell's PATH does not look.
validate=(kubernetes-validate)
command -v kubernetes-validate >/dev/null 2>&1 || validate=(python3 -m kubernetes_validate)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(deploy/kubernetes/*.yaml)
"${validate[@]}" --strict --quiet "${files[@]}"
echo "validate-manifests: ${#files[@]} manifests valid (kubernetes-validate --strict)"
