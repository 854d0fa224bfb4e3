#!/usr/bin/env bash
# The main job on the embedded default: local state in state/, the AWS API emulated locally by
# moto on 127.0.0.1. plan → apply → plan (no changes) → destroy, for the dev environment.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${KPROV_DEMO_PORT:-5000}"
env="${KPROV_DEMO_ENV:-dev}"
scripts/moto.sh start "$port"
trap 'scripts/moto.sh stop "$port"' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
cargo build --quiet --locked --bin kprov
kprov="${CARGO_TARGET_DIR:-target}/debug/kprov"
# The demo state is throw-away: the emulator forgets everything when it stops.
rm -f "state/platform/$env.json" "state/$env.json"   # the latter: the old default path

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "kprov plan --env $env"
"$kprov" plan --env "$env"
step "kprov apply --env $env --auto-approve"
"$kprov" apply --env "$env" --auto-approve --progress plain
step "kprov plan --env $env --detailed-exitcode   (expect: no changes, exit 0)"
"$kprov" plan --env "$env" --detailed-exitcode
step "kprov destroy --env $env --auto-approve"
"$kprov" destroy --env "$env" --auto-approve --progress plain
step "done: state/platform/$env.json is empty again"
