#!/usr/bin/env bash
# scale-bench.sh: herd's scale benchmark (not run by CI). For each size, the
# full aws-outage drill against the built-in target (herd run spreads the
# fleet over worker processes and the target over cells by itself), then the
# bare-client floor against the same number of target cells, side by side.
# herd ramps up at 20,000 connects/s (its default is 3,000), so that its
# connect rate is comparable with the floor's. The drill's outage comes
# before a large fleet has finished its ramp, so herd's connect rate comes
# from a second run, scripts/ramp.yaml: the same cameras, events and app
# users, no outage; its time to connect every camera is set against the
# floor's.
#
#   scripts/scale-bench.sh                 # 100k, 200k and 300k cameras
#   scripts/scale-bench.sh 100000 200000   # chosen sizes
#   TRANSPORT=mqtt scripts/scale-bench.sh 100000   # herd/1 over MQTT: the
#       built-in target's embedded brokers, and the MQTT floor against them
#
# Results land in bench-results/: herd-N.json and ramp-N.json
# (herd.result/v1) and floor-N.json (herd-mqtt-N.json… over MQTT). Between runs it waits 65 s for the kernel's TIME_WAIT table
# to drain. Loopback only; every run is bounded and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 200000 300000)
out=bench-results
transport=${TRANSPORT:-ws}
case "$transport" in
  ws) tag="" listen=() ;;
  mqtt) tag="-mqtt" listen=(--mqtt-listen 127.0.0.1:0) ;;
  *) echo "TRANSPORT=$transport: want ws or mqtt" >&2; exit 2 ;;
esac
mkdir -p "$out"
go build -o "$out/herd" ./cmd/herd
herd="$out/herd"
pause() { echo "waiting 65 s for TIME_WAIT to drain"; sleep 65; }

for n in "${sizes[@]}"; do
  echo "== herd run --transport $transport --cameras $n"
  "$herd" run --transport "$transport" --cameras "$n" --ramp-rate 20000 --out "$out/herd$tag-$n.json" --html "$out/herd$tag-$n.html" --progress-every 10s > "$out/herd$tag-$n.txt" 2>&1 || true
  tail -n 30 "$out/herd$tag-$n.txt"
  pause

  echo "== herd run scripts/ramp.yaml --transport $transport --cameras $n"
  "$herd" run scripts/ramp.yaml --transport "$transport" --cameras "$n" --ramp-rate 20000 --out "$out/ramp$tag-$n.json" --progress-every 10s > "$out/ramp$tag-$n.txt" 2>&1 || true
  tail -n 12 "$out/ramp$tag-$n.txt"
  pause

  cells=$(( (n + 13999) / 14000 ))
  port=$(( 20000 + RANDOM % 20000 ))
  echo "== floor: $n bare $transport clients against $cells target cells"
  "$herd" target --cells "$cells" --listen "127.0.0.1:$port" --admin-token bench --lookup-timeout 250ms "${listen[@]}" > "$out/target$tag-$n.txt" 2>&1 &
  tpid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$out/target$tag-$n.txt" && break; sleep 0.2; done
  urls=$(sed -n 's/^herd target listening on \([^ ]*\) .*/\1/p' "$out/target$tag-$n.txt")
  brokers=$(sed -n 's/^herd target listening on .* mqtt=\([^ ]*\)$/\1/p' "$out/target$tag-$n.txt")
  floor=(--transport "$transport")
  [ -z "$brokers" ] || floor+=(--broker "$brokers")
  "$herd" bench floor "${floor[@]}" --target "$urls" --admin-token bench --cameras "$n" > "$out/floor$tag-$n.json" 2> "$out/floor$tag-$n.txt" || true
  kill -TERM "$tpid"; wait "$tpid" || true
  cat "$out/floor$tag-$n.json"
  pause
done

echo "== side by side"
for n in "${sizes[@]}"; do
  python3 - "$out" "$n" "$tag" <<'PY'
import json, sys
out, n, tag = sys.argv[1], sys.argv[2], sys.argv[3]
h = json.load(open(f"{out}/herd{tag}-{n}.json"))
r = json.load(open(f"{out}/ramp{tag}-{n}.json"))
f = json.load(open(f"{out}/floor{tag}-{n}.json"))
g, rc = h["generator"], h["recovery"]
ms = r["generator"]["all_connected_ms"]
ramp = f"ramp {r['cameras'] / (ms / 1000):.0f} connects/s ({ms / 1000:.1f} s to connect all, {r['cameras'] / (ms / 1000) / f['connects_per_sec']:.2f} of the floor)" if ms else "ramp never had every camera connected"
print(f"{n:>7} cameras: herd {h['verdict']}, violations {h['violations']['total']}, T99 {rc['t99_ms']} ms, T100 {rc['t100_ms']} ms, "
      f"{g['rss_per_camera_kb']:.1f} KB/camera over {g['processes']} processes, lag p99 {g['lag_p99_ms']:.0f} ms; {ramp} | "
      f"floor {f['connects_per_sec']:.0f} connects/s, {f['elapsed_s']:.1f} s to connect all, {f['rss_per_conn_kb']:.1f} KB/socket | "
      f"T100/floor {(rc['t100_ms'] or 0)/1000/f['elapsed_s']:.2f}")
PY
done
