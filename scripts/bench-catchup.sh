#!/usr/bin/env bash
# Catch-up after an outage, measured (docs/benchmarks.md, "Catch-up").
#
#   scripts/bench-catchup.sh [N] [MODE]
#
# Two regions on loopback, no emulated delay. eu-west takes N SETs
# (redis-benchmark -t set -P 16 -c 50 -r 1000000) while eu-london is down.
# Then eu-london starts and the time until its version vector equals
# eu-west's is printed, with the rate in ops/s.
#
# MODE log (default): eu-london starts with an empty data directory and
#   reads the backlog from eu-west's log.
# MODE snapshot: eu-west is started with --log-retention-secs 1 and, once
#   the writes are done, MERIDIAN.SNAPSHOT truncates its log, so eu-london
#   (which took one write before going down) can only catch up by a full
#   state transfer; the time and the transferred size are printed.
#
# MERIDIAN_BIN picks the binary (default target/release/meridian; build it
# with `cargo build --release`). Ports 7601/7602/7611/7612; data in a
# temporary directory, removed at the end.
set -euo pipefail
N=${1:-3000000}
MODE=${2:-log}
BIN=${MERIDIAN_BIN:-target/release/meridian}
export MERIDIAN_CLUSTER_SECRET=bench-catchup-secret
DIR=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$DIR"
}
trap cleanup EXIT

vv() { redis-cli -p "$1" info replication 2>/dev/null | tr -d '\r' | grep '^version_vector:' || true; }
wait_up() { for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done; echo "port $1 never came up" >&2; exit 1; }

west_args=(server --region eu-west --listen 127.0.0.1:7601 --repl 127.0.0.1:7602
    --peer eu-london=127.0.0.1:7612 --data "$DIR/west")
london_args=(server --region eu-london --listen 127.0.0.1:7611 --repl 127.0.0.1:7612
    --peer eu-west=127.0.0.1:7602 --data "$DIR/london")
if [ "$MODE" = snapshot ]; then
    west_args+=(--log-retention-secs 1)
    # eu-london exists, takes one write, and goes down before the load.
    "$BIN" "${london_args[@]}" >"$DIR/london0.log" 2>&1 &
    lp=$!
    wait_up 7611
    redis-cli -p 7611 set london-was-here 1 >/dev/null
    kill "$lp"
    sleep 0.5
fi
"$BIN" "${west_args[@]}" >"$DIR/west.log" 2>&1 &
PIDS+=($!)
wait_up 7601
redis-benchmark -p 7601 -t set -P 16 -c 50 -n "$N" -r 1000000 -q | tr '\r' '\n' | grep -v '^$' | tail -1
if [ "$MODE" = snapshot ]; then
    sleep 1.5
    echo "eu-west MERIDIAN.SNAPSHOT: $(redis-cli -p 7601 meridian.snapshot | tr '\n' ' ')"
fi
target=$(vv 7601)
echo "eu-west: $target"
start=$(date +%s.%N)
"$BIN" "${london_args[@]}" >"$DIR/london.log" 2>&1 &
PIDS+=($!)
got=""
for _ in $(seq 1 6000); do
    got=$(vv 7611)
    [ -n "$got" ] && [ "${got#*eu-west=}" = "${target#*eu-west=}" ] && break
    sleep 0.05
done
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc -l)
ops=${target#*eu-west=}
ops=${ops%%,*}
echo "eu-london: $got"
printf 'caught up %s ops of eu-west in %.2f s (process start included): %.0f ops/s\n' \
    "$ops" "$secs" "$(echo "$ops / $secs" | bc -l)"
echo "digests: west $(redis-cli -p 7601 meridian.digest) london $(redis-cli -p 7611 meridian.digest)"
if [ "$MODE" = snapshot ]; then
    redis-cli -p 7611 info | tr -d '\r' | grep -iE 'snapshot|transfer|truncat' || true
    echo "eu-london still has its own write: $(redis-cli -p 7611 get london-was-here)"
fi
