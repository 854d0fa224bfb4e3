#!/usr/bin/env bash
# The crash-point sweep (tests/crash_sweep.rs; docs/reliability.md): kills `kprov apply` and
# `kprov destroy` of the whole dev platform at every crash point — each kind's create answer
# lost, a kill before each step of a create, each kind's delete answer lost — and checks that
# apply → plan → destroy converge, through the AWS SDK. Runs on a private moto server and prints
# the table (point, result, seconds).
#   scripts/sweep.sh [full|all|sample|record]
# full (default): one point per action (~65 points); all: every mutating call of the recorded
# apply and destroy (~230); sample: the CI sample; record: only list the recorded calls and the
# points. KPROV_SWEEP_PORT picks moto's port (5171); KPROV_SWEEP_TABLE=PATH keeps the table.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode="${1:-full}"
[ "$mode" = sample ] && mode=""
port="${KPROV_SWEEP_PORT:-5171}"
test_name=every_crash_point_converges_with_exactly_the_plan_and_destroy_leaves_nothing

# shellcheck source=scripts/lib/private-run.sh
. scripts/lib/private-run.sh
private_run crash_sweep "$port"
export KPROV_SWEEP="$mode"
export KPROV_SWEEP_TABLE="${KPROV_SWEEP_TABLE:-$work/table.md}"
start=$(date +%s)
set +e
"$exe" --exact "$test_name" --nocapture 2>&1 | tee "$work/log"
rc=${PIPESTATUS[0]}
set -e
echo
echo "== sweep ${mode:-sample}: exit $rc, $(( $(date +%s) - start )) s"
[ -f "$KPROV_SWEEP_TABLE" ] && cat "$KPROV_SWEEP_TABLE"
exit "$rc"
