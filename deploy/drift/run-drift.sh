#!/bin/sh
# Run `kprov drift` for one environment and publish the result.
#   KPROV_ENV           environment (required)
#   PUSHGATEWAY_URL     optional: push the Prometheus metrics there
#   TEXTFILE_DIR        optional: write <env>.prom there (node-exporter textfile collector)
# Exit code: kprov's own (0 no drift, 2 drift, 1 error), so the scheduler sees failures.
set -u
env="${KPROV_ENV:?set KPROV_ENV}"
out="$(mktemp)"
kprov drift --env "$env" --format prometheus >"$out"
rc=$?
# The job's log gets the metrics too (a table would need a second refresh).
cat "$out"
if [ -n "${PUSHGATEWAY_URL:-}" ]; then
  curl -fsS --data-binary @"$out" "$PUSHGATEWAY_URL/metrics/job/kprov-drift/env/$env" || rc=1
fi
if [ -n "${TEXTFILE_DIR:-}" ]; then
  cp "$out" "$TEXTFILE_DIR/kprov-drift-$env.prom.tmp" && mv "$TEXTFILE_DIR/kprov-drift-$env.prom.tmp" "$TEXTFILE_DIR/kprov-drift-$env.prom"
fi
rm -f "$out"
exit $rc
