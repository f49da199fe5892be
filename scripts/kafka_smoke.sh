#!/usr/bin/env bash
# Self-test of scripts/kafka.sh against a real broker: start one in a
# temporary directory, create a 3-partition topic, produce 100 keyed messages
# with kcat, consume them back from the beginning, check that all 100 (and
# every key) came back, then stop it with --clean. Exit 0 only on success;
# the broker is stopped whatever happens.
#   scripts/kafka_smoke.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA="$HERE/kafka.sh"
N=100
TOPIC=weft-smoke

say() { echo "kafka_smoke: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/weft-kafka-smoke.XXXXXX")
cleanup() {
  local rc=$?
  "$KAFKA" stop "$DIR" --clean || true
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$(date +%s%N)
BS=$("$KAFKA" start "$DIR")
t1=$(date +%s%N)
[[ $BS =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "start printed '$BS', not 127.0.0.1:PORT"
[ "$("$KAFKA" bootstrap "$DIR")" = "$BS" ] || fail "bootstrap disagrees with start"
pid=$(cat "$DIR/kafka.pid")
say "broker at $BS started in $(( (t1 - t0) / 1000000 )) ms; RSS $(ps -o rss= -p "$pid" | tr -d ' ') KiB"

"$KAFKA" topic "$DIR" "$TOPIC" 3

for ((i = 0; i < N; i++)); do printf 'key-%03d:value-%03d\n' "$i" "$i"; done |
  kcat -P -b "$BS" -t "$TOPIC" -K: -X acks=all || fail "kcat could not produce"

out=$(kcat -C -b "$BS" -t "$TOPIC" -e -o beginning -q -f '%p %k %s\n') ||
  fail "kcat could not consume"
count=$(grep -c . <<<"$out" || true)
keys=$(awk '{print $2}' <<<"$out" | sort -u | grep -c '^key-' || true)
parts=$(awk '{print $1}' <<<"$out" | sort -u | tr '\n' ' ')
bad=$(awk '{ k = $2; v = $3; sub(/^key-/, "", k); sub(/^value-/, "", v); if (k != v) n++ } END { print n + 0 }' <<<"$out")
say "consumed $count messages, $keys distinct keys, partitions: $parts"
[ "$count" -eq "$N" ] || fail "expected $N messages, got $count"
[ "$keys" -eq "$N" ] || fail "expected $N distinct keys, got $keys"
[ "$bad" -eq 0 ] || fail "$bad messages with a value that does not match the key"

t2=$(date +%s%N)
"$KAFKA" stop "$DIR" --clean
t3=$(date +%s%N)
kill -0 "$pid" 2>/dev/null && fail "broker pid $pid still alive after stop"
[ ! -e "$DIR" ] || fail "stop --clean left $DIR"
say "stopped in $(( (t3 - t2) / 1000000 )) ms"
say "OK"
