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

# Build first, then run a private copy of the kprov binary: a long sweep must not pick up a
# binary rebuilt meanwhile in a shared target directory.
exe="$(cargo test --locked --no-run --test crash_sweep --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "crash_sweep" and m.get("executable"):
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
