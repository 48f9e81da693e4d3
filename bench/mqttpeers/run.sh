#!/usr/bin/env bash
# run.sh: MQTT client libraries side by side on one Mosquitto (not run by
# CI): herd's way (mochi-mqtt's codec, one reader goroutine) against
# paho.golang and paho.mqtt.golang, each holding N connections (default
# 15,000) that connected, subscribed and published one 1 KiB QoS 1
# message. One JSON line per library, in bench-results/mqttpeers.jsonl.
# Each library dials from its own loopback source addresses, so that no
# run waits for another's TIME_WAIT. Loopback only; bounded; stops itself.
#
#   bench/mqttpeers/run.sh [N]
set -euo pipefail
cd "$(dirname "$0")"
n=${1:-15000}
out=../../bench-results
mkdir -p "$out"
go build -o "$out/mqttpeers" .
mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
port=$(( 30000 + RANDOM % 20000 ))
conf=$(mktemp)
user=""; [ "$(id -u)" != 0 ] || user="user root"
printf '%s\nlistener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_keepalive 65535\n' "$user" "$port" > "$conf"
"$mosq" -c "$conf" > "$out/mqttpeers-mosquitto.log" 2>&1 &
mpid=$!
trap 'kill $mpid 2>/dev/null || true; rm -f "$conf"' EXIT
sleep 1
: > "$out/mqttpeers.jsonl"
first=10
for lib in mochi paho.golang paho.mqtt.golang; do
  echo "== $lib: $n connections" >&2
  "$out/mqttpeers" --lib "$lib" --broker "127.0.0.1:$port" --conns "$n" --first-source "$first" | tee -a "$out/mqttpeers.jsonl"
  first=$(( first + (n + 7999) / 8000 + 1 ))
  sleep 5
done
echo "mosquitto RSS after the runs: $(ps -o rss= -p $mpid) KB" >&2
