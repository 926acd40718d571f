#!/usr/bin/env bash
# Load benchmark of the scoring service: `dga-lite serve` and the Flask + PyTorch peer
# (benches/peer_flask.py) serving the same model file, measured with wrk on loopback in one
# run. Bounded: each measurement lasts DURATION seconds.
#
# Each dga-lite scoring row is printed beside GET /healthz at the same connection count (the
# HTTP stack's own ceiling in the same run), with the ratio. Rows: `single` cycles through
# 1,000 names (after the first pass dga-lite answers them from its score cache, as it would
# the names a network asks again and again); `fresh` sends a name never sent before on every
# request (every one scored by the model: the worst case); `batch` posts 100 names.
#
# Usage: benches/load.sh MODEL.safetensors [PYTHON] [DURATION]
#   SERVE_ARGS="--cache-names 0" benches/load.sh ... measures the service without its cache.
#   needs: wrk (apt-get install wrk), a release build (cargo build --release),
#          PYTHON with torch, flask, safetensors and numpy (PYTHON=none: dga-lite only).
set -euo pipefail
model=${1:?usage: benches/load.sh MODEL.safetensors [PYTHON] [DURATION]}
python=${2:-python3}
duration=${3:-5}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# 1,000 names to send: generated, half word-like, half random (no data file needed).
python3 - "$work" <<'PY'
import random, sys
random.seed(1)
words = ["shop", "news", "mail", "cloud", "bank", "play", "home", "web", "game", "data"]
names = []
for i in range(1000):
    if i % 2:
        names.append("".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(random.randint(8, 20))) + ".net")
    else:
        names.append(random.choice(words) + random.choice(words) + str(i) + ".com")
lua_names = ",".join(f'"{n}"' for n in names)
open(f"{sys.argv[1]}/single.lua", "w").write(f"""
local names = {{{lua_names}}}
local i = 0
request = function()
  i = i % #names + 1
  return wrk.format("GET", "/v1/score?domain=" .. names[i])
end
""")
open(f"{sys.argv[1]}/fresh.lua", "w").write("""
-- every request a name never sent before: the thread's id and a counter in the label
-- (setup runs in the main state and numbers the threads; `id` is then a global of each)
local counter = 0
local made = 0
setup = function(thread)
  made = made + 1
  thread:set("id", made)
end
request = function()
  counter = counter + 1
  local label = string.format("q%dx%dkz%dv", id or 0, counter, (counter * 7919) % 10007)
  return wrk.format("GET", "/v1/score?domain=" .. label .. ".net")
end
""")
body = '{"domains": [' + ",".join(f'"{n}"' for n in names[:100]) + "]}"
open(f"{sys.argv[1]}/batch.lua", "w").write(f"""
wrk.method = "POST"
wrk.path = "/v1/score"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{body}'
""")
PY

# Every wrk connection comes from 127.0.0.1: the per-address cap is lifted to the global one.
./target/release/dga-lite serve --model "$model" --listen 127.0.0.1:18181 --max-connections 1024 --max-connections-per-client 1024 ${SERVE_ARGS:-} 2>"$work/ours.log" &
servers="dga-lite flask"
ports="18181 18182"
if [ "$python" = none ]; then
  servers="dga-lite"
  ports="18181"
else
  "$python" benches/peer_flask.py "$model" 18182 2 >"$work/peer.log" 2>&1 &
fi
for port in $ports; do
  for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$port/v1/score?domain=warm.up" >/dev/null 2>&1 && break
    sleep 0.2
  done
done

printf '' >"$work/healthz.lua"
printf '%-10s %-14s %6s %12s %12s %10s %10s %9s\n' server request conns "requests/s" "names/s" p50 p99 "/healthz"
declare -A healthz
for kind in healthz single fresh batch; do
  per=1; [ "$kind" = batch ] && per=100; [ "$kind" = healthz ] && per=0
  for conns in 1 16 64; do
    for server in $servers; do
      [ "$kind" = healthz ] && [ "$server" = flask ] && continue
      port=18181; [ "$server" = flask ] && port=18182
      threads=2; [ "$conns" -lt 2 ] && threads=1
      out=$(wrk -t "$threads" -c "$conns" -d "${duration}s" --timeout 10s --latency -s "$work/$kind.lua" "http://127.0.0.1:$port/healthz" 2>&1)
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
      p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
      errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
      names=$(python3 -c "print(round(float('${rps:-0}') * $per))")
      [ "$kind" = healthz ] && healthz[$conns]=$rps
      ratio=$(python3 -c "h=float('${healthz[$conns]:-0}'); print(f'{float(\"${rps:-0}\") / h:.0%}' if h else '-')")
      [ "$server" = flask ] && ratio="-"
      printf '%-10s %-14s %6s %12s %12s %10s %10s %9s %s\n' "$server" "$kind x$per" "$conns" "$rps" "$names" "$p50" "$p99" "$ratio" "$errors"
    done
  done
done
echo "/healthz: the row's requests/s over GET /healthz's at the same connections, same run."
