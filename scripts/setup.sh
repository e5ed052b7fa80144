#!/usr/bin/env bash
# Installs what authscale needs and is missing: redis-server (and curl for
# the quick start). Debian/Ubuntu via apt; elsewhere it says what to do.
# Usage: scripts/setup.sh            (sourced or run; idempotent)
set -euo pipefail

say() { printf 'setup: %s\n' "$*" >&2; }

need_cmd_pkgs=()
command -v redis-server >/dev/null 2>&1 || need_cmd_pkgs+=(redis-server)
command -v curl >/dev/null 2>&1 || need_cmd_pkgs+=(curl)
for extra in "$@"; do
  case "$extra" in
    wrk) command -v wrk >/dev/null 2>&1 || need_cmd_pkgs+=(wrk) ;;
    nginx) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_cmd_pkgs+=(nginx) ;;
    haproxy) command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_cmd_pkgs+=(haproxy) ;;
    *) say "unknown extra '$extra' (known: wrk, nginx, haproxy)"; exit 2 ;;
  esac
done

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo not found: install Rust (stable) from https://rustup.rs and re-run."
  exit 1
fi

if [ ${#need_cmd_pkgs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        say "need root to install ${need_cmd_pkgs[*]}: run 'apt-get install ${need_cmd_pkgs[*]}' as root."
        exit 1
      fi
    fi
    say "installing ${need_cmd_pkgs[*]} with apt-get"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_cmd_pkgs[@]}" >/dev/null
  else
    say "missing: ${need_cmd_pkgs[*]}."
    say "install them with your package manager, for example:"
    say "  macOS:  brew install redis curl"
    say "  Fedora: sudo dnf install redis curl"
    say "  Arch:   sudo pacman -S redis curl"
    say "or point AUTHSCALE_REDIS_SERVER at a redis-server binary (Redis >= 6.2)."
    exit 1
  fi
fi

version=$(redis-server --version | sed -n 's/.*v=\([0-9]*\.[0-9]*\).*/\1/p')
say "redis-server ${version:-?} at $(command -v redis-server)"
