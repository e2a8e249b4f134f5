#!/usr/bin/env bash
# Benchmarks one Meridian region against redis-server on this machine, in the
# same run, with durability on in both (Meridian --fsync everysec, Redis
# appendonly yes + appendfsync everysec), and prints the ratio per command.
#
#   scripts/bench-vs-redis.sh [REQUESTS] [PIPELINE] [ROUNDS] [TESTS]
#
# Defaults: 1000000 requests, pipeline 16, 50 clients, 2 rounds (alternating
# peer and Meridian; the best round of each is kept), tests set,get,incr.
# Needs redis-server and redis-benchmark (Debian: redis-server, redis-tools).
# MERIDIAN_BIN=path uses an existing binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
P=${2:-16}
ROUNDS=${3:-2}
TESTS=${4:-set,get,incr}
CLIENTS=${CLIENTS:-50}

for tool in redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install redis-server redis-tools" >&2; exit 1; }
done
if [ -z "${MERIDIAN_BIN:-}" ]; then
  cargo build --release --quiet
fi
BIN=${MERIDIAN_BIN:-target/release/meridian}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPORT=$(free_port); MPORT=$(free_port); MREPL=$(free_port)
cleanup() {
  redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
  [ -n "${MPID:-}" ] && kill "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$work" --appendonly yes \
  --appendfsync everysec --save "" --daemonize yes --logfile "$work/redis.log"
"$BIN" server --region bench --listen "127.0.0.1:$MPORT" --repl "127.0.0.1:$MREPL" \
  --data "$work/meridian" --fsync everysec --cluster-secret bench-secret 2>"$work/meridian.log" &
MPID=$!
for port in "$RPORT" "$MPORT"; do
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
done

run() { # port -> lines "TEST rps", one redis-benchmark run per test
  for t in $(echo "$TESTS" | tr ',' ' '); do
    rps=$(redis-benchmark -p "$1" -t "$t" -P "$P" -c "$CLIENTS" -n "$N" 2>/dev/null |
      tr '\r' '\n' | sed -nE 's/.*throughput summary: ([0-9.]+) requests per second.*/\1/p' | tail -1)
    echo "$(echo "$t" | tr 'a-z' 'A-Z') ${rps:-0}"
  done
}
declare -A best_r best_m
for round in $(seq "$ROUNDS"); do
  while read -r t v; do [ "${v%.*}" -gt "${best_r[$t]:-0}" ] && best_r[$t]=${v%.*}; done < <(run "$RPORT")
  while read -r t v; do [ "${v%.*}" -gt "${best_m[$t]:-0}" ] && best_m[$t]=${v%.*}; done < <(run "$MPORT")
done
echo "redis-benchmark -P $P -c $CLIENTS -n $N, best of $ROUNDS rounds; durability: everysec in both"
printf '%-8s %14s %14s %8s\n' test redis-server meridian ratio
for t in $(echo "$TESTS" | tr 'a-z,' 'A-Z '); do
  r=${best_r[$t]:-0}; m=${best_m[$t]:-0}
  ratio=$(python3 -c "print(f'{$m/$r:.2f}x' if $r else 'n/a')")
  printf '%-8s %14s %14s %8s\n' "$t" "$r" "$m" "$ratio"
done
