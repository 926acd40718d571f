#!/usr/bin/env bash
# Normal clients beside hostile ones: wrk sends single-name GET /v1/score at 16 connections
# from 127.0.0.1, first alone, then while benches/hostile_clients.py runs slowloris,
# never-reading and abandon-after-send clients from other loopback addresses. Prints the
# normal clients' requests/s, p50 and p99 in both runs, and the service's /metrics counters
# for what the hostile clients met.
#
# Usage: benches/hostile_load.sh [MODEL.safetensors] [DURATION]
#   HOSTILE="--abandon 0" benches/hostile_load.sh   (any hostile_clients.py options)
#   DGA_LITE=/path/to/other/dga-lite benches/hostile_load.sh   (another build, to compare)
#   needs: wrk (apt-get install wrk), a release build (cargo build --release), python3.
set -euo pipefail
model=${1:-}
duration=${2:-10}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=18191
model_args=()
[ -n "$model" ] && model_args=(--model "$model")

cat >"$work/single.lua" <<'LUA'
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/score?domain=q" .. (i % 1000) .. "xkwhjvbnrtplm.biz")
end
LUA

"${DGA_LITE:-./target/release/dga-lite}" serve "${model_args[@]}" --listen 127.0.0.1:$port 2>"$work/serve.log" &
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

measure() {
  local out
  out=$(wrk -t 1 -c 16 -d "${duration}s" --timeout 10s --latency -s "$work/single.lua" "http://127.0.0.1:$port" 2>&1)
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
  printf '%-28s %12s %10s %10s %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-no errors}"
}

printf '%-28s %12s %10s %10s %s\n' "normal clients (16 conns)" "requests/s" p50 p99 errors
measure "alone"
# shellcheck disable=SC2086
python3 benches/hostile_clients.py 127.0.0.1 $port --seconds $((duration + 4)) ${HOSTILE:-} >"$work/hostile.json" &
hostile=$!
sleep 3
measure "beside hostile clients"
wait "$hostile"
echo "hostile clients made (connections or requests): $(cat "$work/hostile.json")"
echo "service counters:"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^dga_lite_(requests_total\{route="/v1/score"|connections_refused|connection_errors|abandoned|queue_expired|connections_open)' | sed 's/^/  /'
