#!/usr/bin/env bash
# Build the fuzz corpora (fuzz/corpus/<target>/, not committed) from the repository's
# reference plans and the committed seeds (fuzz/seeds/) and regression inputs (fuzz/regressions/).
# Usage: fuzz/seed.sh   (idempotent; files are named by content hash)
set -euo pipefail
cd "$(dirname "$0")"
plans=../plans

add() { # add TARGET < input
    local tmp; tmp=$(mktemp)
    cat >"$tmp"
    mkdir -p "corpus/$1"
    mv "$tmp" "corpus/$1/seed-$(sha1sum <"$tmp" | cut -c1-16)"
}

for f in "$plans"/*.toml "$plans"/env/*.toml; do add plan_file <"$f"; done
for f in "$plans"/env/*.toml; do add overlay <"$f"; done
# Whole directories: up to four base files and an overlay, NUL-separated.
for env in "$plans"/env/*.toml; do
    { cat "$plans/stack.toml"; printf '\0'; cat "$plans/network.toml"; printf '\0'; cat "$env"; } | add plans_dir
    { cat "$plans/stack.toml"; printf '\0'; cat "$plans/security.toml"; printf '\0'
      cat "$plans/iam.toml"; printf '\0'; cat "$plans/cluster.toml"; printf '\0'; cat "$env"; } | add plans_dir
done
# Every "${...}" string of the reference plans, in each of the six slots of the expr target.
grep -ohE '"[^"]*\$\{[^"]*"' "$plans"/*.toml | sed 's/^"//; s/"$//' | sort -u | while IFS= read -r e; do
    for slot in 0 1 2 3 4 5; do { printf "\\x0$slot"; printf '%s' "$e"; } | add expr; done
done
for e in "30s" "1m30s" "\${format(\"%ss\", var.n)}" "\${merge(var.cidrs, {c = \"x\"})}" \
         "\${slice(var.azs, 0, var.n)}" "\${lookup(var.cidrs, \"a\", \"z\")}" "\${length(local.prefix)}" \
         "\${var.on ? ec2_subnet.s[*].id : []}" "\${ec2_subnet.s[\"a\"].arn}" "ec2_subnet.s[\"b\"]"; do
    for slot in 0 1 2 3 4 5; do { printf "\\x0$slot"; printf '%s' "$e"; } | add expr; done
done
for f in seeds/state/*.json; do add state <"$f"; done
for t in plan_file plans_dir overlay expr state; do
    if [ -d "regressions/$t" ]; then for f in "regressions/$t"/*; do add "$t" <"$f"; done; fi
    echo "$t: $(ls "corpus/$t" | wc -l) inputs"
done
