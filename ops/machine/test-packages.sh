#!/usr/bin/env bash
# What `make test` needs from the system, installed with apt-get on a fresh Debian
# machine: the PostgreSQL 15 server binaries (the suite starts throwaway clusters),
# Chromium (page tests), a CJK font (cards, reports), poppler-utils (PDF → PNG in
# tests), wrk (bench smoke tests). Idempotent: installs only what is missing.
# As root it installs; otherwise it prints the one command to run and fails.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
log() { printf '==> %s\n' "$*"; }

have_initdb() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  local d
  for d in /usr/local/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
  done
  return 1
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
have_python() {
  local p
  for p in python3 python3.13 python3.12 python3.11; do
    command -v "$p" >/dev/null 2>&1 &&
      "$p" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && return 0
  done
  return 1
}

pkgs=()
need_pg=0
have_initdb || need_pg=1
command -v make >/dev/null 2>&1 || pkgs+=(make)
command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
have_pkg fonts-wqy-microhei || pkgs+=(fonts-wqy-microhei)
command -v pdftoppm >/dev/null 2>&1 || pkgs+=(poppler-utils)
command -v wrk >/dev/null 2>&1 || pkgs+=(wrk)
have_python || pkgs+=(python3 python3-venv)
need_user=0
id postgres >/dev/null 2>&1 || need_user=1

if [ "$need_pg" = 0 ] && [ "${#pkgs[@]}" -eq 0 ] && [ "$need_user" = 0 ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  missing="${pkgs[*]}"
  [ "$need_pg" = 1 ] && missing="$missing postgresql-15"
  [ "$need_user" = 1 ] && missing="$missing (and an OS user 'postgres' for the test clusters)"
  echo "make test needs from the system:$missing" >&2
  echo "run once:  sudo bash $(realpath "$0")" >&2
  exit 1
fi

if [ "$need_pg" = 1 ] || [ "${#pkgs[@]}" -gt 0 ]; then
  APT_LOG="$(mktemp -t apt.XXXXXX.log)"
  trap 'rm -f "$APT_LOG"' EXIT
  apt_quiet() {
    if ! "$@" >>"$APT_LOG" 2>&1; then
      echo "FAILED: $*" >&2; cat "$APT_LOG" >&2; exit 1
    fi
  }
  log "apt-get update"
  apt_quiet apt-get update
  if [ "$need_pg" = 1 ]; then
    # Server binaries only: no system cluster is created or started; the tests
    # start their own (createcluster.d/ is read by the packaged createcluster.conf).
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/no-main-cluster.conf
    if apt-cache show postgresql-15 >/dev/null 2>&1; then pkgs+=(postgresql-15); else pkgs+=(postgresql); fi
  fi
  log "apt-get install ${pkgs[*]}"
  apt_quiet apt-get install -y --no-install-recommends "${pkgs[@]}"
  have_initdb || { echo "initdb still not found after installing ${pkgs[*]}" >&2; exit 1; }
fi

# PostgreSQL refuses to run as root: tests/pgcluster.py runs it as `postgres`.
if ! id postgres >/dev/null 2>&1; then
  log "creating unprivileged OS user postgres"
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi
