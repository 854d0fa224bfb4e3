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

# shellcheck source=scripts/lib/private-run.sh
. scripts/lib/private-run.sh
private_run crash_moto "$port"
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
