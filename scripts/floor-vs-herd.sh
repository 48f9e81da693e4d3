#!/usr/bin/env bash
# Runs the bare-client floor and herd side by side against the same target
# process, with the same number of cameras, and prints their figures.
#
#   scripts/floor-vs-herd.sh [CAMERAS] [PORT]
#
# Not part of CI: a benchmark for a quiet machine. It waits out the
# kernel's TIME_WAIT (about 60 s) between the runs, and restarts the target
# so that both runs start from an empty store.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
port=${2:-18080}
dialing=${DIALING:-128} # handshakes in flight at once, the same for both
out=${OUT:-bench-out}
mkdir -p "$out"
bin="$out/herd"
go build -o "$bin" ./cmd/herd
url="http://127.0.0.1:$port"
tpid=""
start_target() {
  "$bin" target --listen "127.0.0.1:$port" --admin-token bench >"$out/target.log" 2>&1 &
  tpid=$!
  for _ in $(seq 50); do
    grep -q listening "$out/target.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "target did not start; see $out/target.log" >&2
  exit 1
}
stop_target() { [ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null || true; tpid=""; }
trap stop_target EXIT

start_target
echo "== floor: $n bare clients" >&2
"$bin" bench floor --target "$url" --admin-token bench --cameras "$n" --max-dialing "$dialing" >"$out/floor.json"
stop_target
echo "== waiting 65 s for TIME_WAIT to drain" >&2
sleep 65
start_target
echo "== herd: $n cameras, aws-outage" >&2
# Like the floor, herd retries a refused connect after 20 ms rather than
# after the target's whole-second Retry-After, so both measure the client;
# its first attempts are spread at 8,000/s, above what either reaches here,
# so that the fleet is connected before its first phase starts.
"$bin" scenarios show aws-outage |
  sed -e 's/honour_retry_after: true/honour_retry_after: false/' -e 's/policy: immediate/policy: fixed/' -e 's/base: 1s/base: 20ms/' \
  >"$out/aws-outage-eager.yaml"
set +e
"$bin" run "$out/aws-outage-eager.yaml" --target "$url" --admin-token bench --cameras "$n" \
  --ramp-rate 8000 --max-dialing "$dialing" --out "$out/herd.json" --quiet >"$out/herd-summary.txt"
rc=$?
set -e
stop_target
python3 - "$out/floor.json" "$out/herd.json" "$n" "$rc" <<'PY'
import json, sys
fl = json.load(open(sys.argv[1])); hd = json.load(open(sys.argv[2])); n = int(sys.argv[3])
g = hd["generator"]
herd_rate = n / (g["all_connected_ms"] / 1000) if g["all_connected_ms"] else 0
print(f"cameras                {n}")
print(f"floor connects/s       {fl['connects_per_sec']:.0f}   (all {n} in {fl['elapsed_s']:.1f} s)")
print(f"herd connects/s        {herd_rate:.0f}   ratio {herd_rate / fl['connects_per_sec']:.2f}")
print(f"floor RSS/conn         {fl['rss_per_conn_kb']:.1f} KB")
print(f"herd RSS/camera        {g['rss_per_camera_kb']:.1f} KB (peak, whole process)")
print(f"herd T100              {hd['recovery']['t100_ms']} ms; verdict {hd['verdict']} (exit {sys.argv[4]})")
PY
