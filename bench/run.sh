#!/usr/bin/env bash
# Open-rate benchmark: slamon's load engine against a loopback target, and a peer load tool
# (oha at the same fixed rate when installed, else wrk, which has no rate control) against the
# same target in the same run. Prints achieved rate vs target, CPU seconds per 10,000 requests
# and peak memory for each, as medians of RUNS runs, and the ratios.
#
#   bench/run.sh                      # RATE=500 DURATION=20 RUNS=3
#   RATE=1000 DURATION=30 RUNS=5 bench/run.sh
#
# Every request goes to 127.0.0.1; every run stops by itself after DURATION seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-500}
DURATION=${DURATION:-20}
RUNS=${RUNS:-3}
PORT=${PORT:-18090}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)"; exit 2; }

cargo build --release --quiet
bin=target/release/slamon
work=$(mktemp -d)
"$bin" target --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
target=$!
trap 'kill $target 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1

cat >"$work/bench.toml" <<TOML
# Far above the conservative default caps, on purpose: this is a loopback benchmark.
[server.limits]
max_rate = "100000/s"
max_total_rate = "100000/s"
max_in_flight = 1000
[[monitors]]
name = "bench"
base_url = "http://127.0.0.1:$PORT"
duration = "${DURATION}s"
schedule = { every = "1h" }
load = { type = "open", rate = "$RATE/s", max_in_flight = 200 }
[[monitors.tasks]]
steps = [{ path = "/health" }]
TOML

# One line per run: tool requests seconds cpu_seconds max_rss_kib
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "%U %S %M" -o "$work/time" "$bin" once --config "$work/bench.toml" --json "$work/out.json" >/dev/null 2>&1 || true
  read -r u s m <"$work/time"
  reqs=$(python3 -c "import json,sys; d=json.load(open('$work/out.json')); print(sum(e['requests'] for e in d['endpoints'] if e['endpoint']=='*'))")
  echo "slamon $reqs $DURATION $(python3 -c "print($u+$s)") $m" >>"$work/results"
  if command -v oha >/dev/null; then
    peer="oha"
    /usr/bin/time -f "%U %S %M" -o "$work/time" oha -z "${DURATION}s" -q "$RATE" -c 200 --latency-correction --no-tui --output-format json "http://127.0.0.1:$PORT/health" >"$work/oha.json" 2>/dev/null || true
    reqs=$(python3 -c "import json; d=json.load(open('$work/oha.json')); print(sum(d['statusCodeDistribution'].values()))")
  else
    peer="wrk"
    /usr/bin/time -f "%U %S %M" -o "$work/time" wrk -t2 -c50 -d"${DURATION}s" "http://127.0.0.1:$PORT/health" >"$work/wrk.txt" 2>&1 || true
    reqs=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  fi
  read -r u s m <"$work/time"
  echo "$peer $reqs $DURATION $(python3 -c "print($u+$s)") $m" >>"$work/results"
done

python3 - "$work/results" "$RATE" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
rate = float(sys.argv[2])
def med(tool, f):
    return statistics.median(f(r) for r in rows if r[0] == tool)
tools = []
for r in rows:
    if r[0] not in tools:
        tools.append(r[0])
stats = {}
for t in tools:
    achieved = med(t, lambda r: float(r[1]) / float(r[2]))
    cpu = med(t, lambda r: float(r[3]) / float(r[1]) * 10000)
    rss = med(t, lambda r: float(r[4]) / 1024)
    stats[t] = (achieved, cpu, rss)
    print(f"{t:7} achieved {achieved:9.1f}/s (target {rate:.0f}/s: {achieved / rate * 100:6.2f}%)  cpu {cpu:6.3f} s per 10k requests  peak rss {rss:6.1f} MiB")
if len(tools) == 2:
    a, b = stats[tools[0]], stats[tools[1]]
    print(f"ratio {tools[0]}/{tools[1]}: cpu per request {a[1] / b[1]:.2f}x, peak memory {a[2] / b[2]:.2f}x (medians of {len(rows) // 2} runs)")
PY
