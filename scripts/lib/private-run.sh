# Sourced by the long runs (scripts/soak.sh, scripts/sweep.sh): build the test binary TEST,
# copy the kprov binary aside (a long run must not pick up a binary rebuilt meanwhile in a
# shared target directory), start a private moto on PORT, point everything at it with dummy
# credentials (never real AWS), and clean up on exit. Sets `exe` (the test binary) and `work`.
#   private_run TEST PORT
private_run() {
  local test="$1" port="$2" target
  exe="$(cargo test --locked --no-run --test "$test" --message-format=json 2>/dev/null |
    TEST="$test" python3 -c 'import json,os,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == os.environ["TEST"] and m.get("executable"):
        print(m["executable"])')"
  target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  work="$(mktemp -d)"
  cp "$target/debug/kprov" "$work/kprov"
  export KPROV_BIN="$work/kprov"
  scripts/moto.sh install
  scripts/moto.sh start "$port" >/dev/null
  # shellcheck disable=SC2064 # expand now: the port and directory of this run
  trap "scripts/moto.sh stop '$port'; rm -rf '$work'" EXIT
  export KPROV_MOTO_ENDPOINT="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_DEFAULT_PROFILE
}
