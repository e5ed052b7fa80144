#!/usr/bin/env bash
# Installs what authscale needs and is missing: redis-server (and curl for
# the quick start). Debian/Ubuntu via apt; elsewhere it says what to do.
# Extras on request: wrk, nginx, haproxy (balancer comparisons), nodejs
# (Node.js and npm, for examples/express-app) and chromium (the test of report.html in a real browser; optional: when it
# cannot be installed, setup says so and that test skips).
# Usage: scripts/setup.sh [EXTRA...]   (sourced or run; idempotent)
set -euo pipefail

say() { printf 'setup: %s\n' "$*" >&2; }

need_cmd_pkgs=()
want_browser=0
command -v redis-server >/dev/null 2>&1 || need_cmd_pkgs+=(redis-server)
command -v curl >/dev/null 2>&1 || need_cmd_pkgs+=(curl)
for extra in "$@"; do
  case "$extra" in
    wrk) command -v wrk >/dev/null 2>&1 || need_cmd_pkgs+=(wrk) ;;
    nginx) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_cmd_pkgs+=(nginx) ;;
    haproxy) command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_cmd_pkgs+=(haproxy) ;;
    nodejs)
      command -v node >/dev/null 2>&1 || need_cmd_pkgs+=(nodejs)
      command -v npm >/dev/null 2>&1 || need_cmd_pkgs+=(npm) ;;
    chromium)
      for b in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$b" >/dev/null 2>&1 && continue 2
      done
      want_browser=1 ;;
    *) say "unknown extra '$extra' (known: wrk, nginx, haproxy, nodejs, chromium)"; exit 2 ;;
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

# The browser is optional: Debian's chromium package; Ubuntu's
# chromium-browser is a snap stub that cannot run in most containers.
if [ "$want_browser" = 1 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] \
      && { apt-cache show chromium >/dev/null 2>&1 || apt-get update -qq >/dev/null 2>&1; } \
      && apt-cache show chromium >/dev/null 2>&1 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
    say "chromium installed"
  else
    say "chromium not installed (Debian: apt-get install chromium; elsewhere set AUTHSCALE_CHROMIUM to a Chrome or Chromium binary): the browser test of report.html will skip"
  fi
fi

version=$(redis-server --version | sed -n 's/.*v=\([0-9]*\.[0-9]*\).*/\1/p')
say "redis-server ${version:-?} at $(command -v redis-server)"
