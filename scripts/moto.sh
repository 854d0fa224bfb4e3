#!/usr/bin/env bash
# The local AWS emulator (moto server) for the demo and the tests. Loopback only.
#   scripts/moto.sh install        create .venv with moto[server] (idempotent)
#   scripts/moto.sh start [PORT]   start on 127.0.0.1:PORT (default 5000), wait until it answers
#   scripts/moto.sh stop [PORT]    stop the server started on PORT
#   scripts/moto.sh endpoint [PORT]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
run="$root/.moto"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
# The reference Prometheus text parser, used by the drift tests to check kprov's exposition.
PROM_CLIENT_VERSION="0.21.1"
cmd="${1:-}"; port="${2:-${MOTO_PORT:-5000}}"

install() {
  if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c "import moto, prometheus_client, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    return 0
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "moto[server]==$MOTO_VERSION" \
    "prometheus_client==$PROM_CLIENT_VERSION"
}

start() {
  install
  mkdir -p "$run"
  if [ -f "$run/$port.pid" ] && kill -0 "$(cat "$run/$port.pid")" 2>/dev/null; then
    echo "moto already running on 127.0.0.1:$port"; return 0
  fi
  # moto's server with kprov's EKS extension (scripts/moto_ext; see docs/testing.md).
  # ACM certificates turn ISSUED after MOTO_ACM_VALIDATION_WAIT seconds (moto's default: 60).
  MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ACM_VALIDATION_WAIT="${MOTO_ACM_VALIDATION_WAIT:-1}" \
    PYTHONPATH="$root/scripts/moto_ext" nohup "$venv/bin/python" -m kprov_moto_eks \
    -H 127.0.0.1 -p "$port" >"$run/$port.log" 2>&1 &
  echo $! >"$run/$port.pid"
  for _ in $(seq 1 150); do
    if "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      echo "moto listening on http://127.0.0.1:$port"; return 0
    fi
    sleep 0.2
  done
  echo "moto did not start; see $run/$port.log" >&2; exit 1
}

stop() {
  if [ -f "$run/$port.pid" ]; then
    kill "$(cat "$run/$port.pid")" 2>/dev/null || true
    rm -f "$run/$port.pid"
  fi
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  endpoint) echo "http://127.0.0.1:$port" ;;
  *) echo "usage: $0 install|start [PORT]|stop [PORT]|endpoint [PORT]" >&2; exit 2 ;;
esac
