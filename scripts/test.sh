#!/usr/bin/env bash
# The test command: installs the local AWS emulator if needed, starts one moto server for the
# whole run (loopback only), runs every test, stops the server.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
port="${KPROV_TEST_MOTO_PORT:-5123}"
scripts/moto.sh install
scripts/moto.sh start "$port" >/dev/null
trap 'scripts/moto.sh stop "$port"' EXIT
export KPROV_MOTO_ENDPOINT="http://127.0.0.1:$port"
# No real AWS credentials, ever: tests talk to moto with dummy ones.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_DEFAULT_PROFILE
cargo test --locked "$@"
