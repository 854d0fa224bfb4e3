#!/usr/bin/env bash
# The kill -9 convergence soak: SIGKILLs `kprov apply` and `kprov destroy` at random moments for
# ROUNDS rounds (default 20) against a private moto server and checks, through the AWS SDK,
# that every following run converges (tests/crash_moto.rs; docs/reliability.md).
#   scripts/soak.sh [--full] [ROUNDS]
# --full: the whole reference dev platform (91 resources) instead of the network (44).
# KPROV_CRASH_SEED=N reproduces a run's kill times; KPROV_SOAK_PORT picks moto's port (5140).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "${1:-}" = "--full" ]; then
  export KPROV_CRASH_PLATFORM=full
  shift
fi
rounds="${1:-20}"
port="${KPROV_SOAK_PORT:-5140}"
test_name=sigkill_apply_and_destroy_at_random_moments_then_the_next_run_converges

# Build first, then run a private copy of the kprov binary: a long soak must not pick up a
# binary rebuilt meanwhile in a shared target directory.
exe="$(cargo test --locked --no-run --test crash_moto --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "crash_moto" and m.get("executable"):
        print(m["executable"])')"
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
work="$(mktemp -d)"
cp "$target/debug/kprov" "$work/kprov"
export KPROV_BIN="$work/kprov"

scripts/moto.sh install
scripts/moto.sh start "$port" >/dev/null
trap 'scripts/moto.sh stop "$port"; rm -rf "$work"' EXIT
export KPROV_MOTO_ENDPOINT="http://127.0.0.1:$port"
# No real AWS credentials, ever.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_DEFAULT_PROFILE
export KPROV_CRASH_ROUNDS="$rounds"
start=$(date +%s)
set +e
"$exe" --exact "$test_name" --nocapture 2>&1 | tee "$work/log"
rc=${PIPESTATUS[0]}
set -e
echo
echo "== soak: $rounds rounds, exit $rc, $(( $(date +%s) - start )) s"
grep -E '^(crash seed|calibration|crash soak)' "$work/log" || true
exit "$rc"
