#!/usr/bin/env bash
# Every command and subcommand of weft follows the one option parser's
# conventions (common/opt.h):
#   - `--help` exits 0 and prints "usage:" on stdout;
#   - `--bogus-option` exits 2 and the message names it;
#   - a numeric option given a word (`--opt=abc` and `--opt abc`) exits 2,
#     both spellings with the same message, which names the option.
# The commands are not listed here: they are read from `weft --help` and
# from the help of every command that lists commands of its own (weft sim,
# weft bench), so a new verb is covered as soon as it is added. The
# numeric option of a command is the first one whose help shows a number
# as its default ("[64]", "[0.15]"); commands without one are only checked
# for --help and --bogus-option.
# Then runtime failures: a missing input exits 1 from replay and train
# alike, an output that cannot be written fails before the run with its
# path (replay's --dot-dir, --out, --report, ...), and weft serve reports
# a bad model path or a metrics port in use at once, before it would
# wait for a broker that is not there.
# Usage: cli.sh WEFT
set -uo pipefail
WEFT=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

failed=()   # commands with a failure
checked=0
numeric=0
fail() { # command, message
  echo "FAIL: $1: $2" >&2
  case " ${failed[*]-} " in *" [$1] "*) ;; *) failed+=("[$1]") ;; esac
}

# weft ARGS..., stdin empty, stdout and stderr to files; the exit status
run() {
  timeout 30 "$WEFT" "$@" < /dev/null > "$TMP/out" 2> "$TMP/err"
}

# the verbs a group's help lists: the indented names under "commands"
verbs() {
  awk '/^commands/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}' "$1"
}

# the first option whose help shows a number as its default
numeric_option() {
  grep -E '^  --[A-Za-z0-9._-]+ [^ ]+ .*\[-?[0-9][0-9.e+-]*\]$' "$1" | head -n 1 |
    sed -E 's/^  --([^ ]+) .*/\1/'
}

check() { # the words after weft ("" for weft itself, "sim replay", ...)
  local words=$1 label="weft${1:+ $1}" rc rc2 opt v
  local -a cmd=()
  [ -n "$words" ] && read -r -a cmd <<< "$words"
  checked=$((checked + 1))

  run "${cmd[@]}" --help; rc=$?
  [ "$rc" -eq 0 ] || fail "$label" "--help exited $rc, not 0"
  grep -q "usage:" "$TMP/out" || fail "$label" "--help printed no 'usage:' on stdout"
  local help="$TMP/help.$checked"
  cp "$TMP/out" "$help"

  run "${cmd[@]}" --bogus-option; rc=$?
  [ "$rc" -eq 2 ] || fail "$label" "--bogus-option exited $rc, not 2"
  grep -q -- "--bogus-option" "$TMP/err" ||
    fail "$label" "the message for --bogus-option does not name it: $(head -c 300 "$TMP/err")"

  if grep -q '^commands' "$help"; then # a group: each of its verbs
    for v in $(verbs "$help"); do
      check "${words:+$words }$v"
    done
    return
  fi

  opt=$(numeric_option "$help")
  [ -n "$opt" ] || return
  numeric=$((numeric + 1))
  run "${cmd[@]}" "--$opt=abc"; rc=$?
  cp "$TMP/err" "$TMP/err.eq"
  run "${cmd[@]}" "--$opt" abc; rc2=$?
  [ "$rc" -eq 2 ] || fail "$label" "--$opt=abc exited $rc, not 2"
  [ "$rc2" -eq 2 ] || fail "$label" "--$opt abc exited $rc2, not 2"
  cmp -s "$TMP/err.eq" "$TMP/err" ||
    fail "$label" "--$opt=abc and --$opt abc give different messages: $(head -c 200 "$TMP/err.eq") / $(head -c 200 "$TMP/err")"
  grep -q -- "--$opt" "$TMP/err.eq" ||
    fail "$label" "the message for --$opt=abc does not name --$opt: $(head -c 300 "$TMP/err.eq")"
}

check ""
echo "cli: $checked commands checked ($numeric with a numeric option)"

# ---- runtime failures: exit 1, naming the path ---------------------------
expect1() { # label, path the message must name, weft args...
  local label=$1 path=$2 rc
  shift 2
  run "$@"; rc=$?
  [ "$rc" -eq 1 ] || fail "$label" "exited $rc, not 1: $(head -c 300 "$TMP/err")"
  grep -qF -- "$path" "$TMP/err" || fail "$label" "the message does not name $path: $(head -c 300 "$TMP/err")"
}
printf '{}\n' > "$TMP/in.jsonl"
gone=$TMP/no/such/dir
expect1 "weft replay (missing input)" "$gone/in.jsonl" replay --no-out "$gone/in.jsonl"
expect1 "weft train (missing input)" "$gone/s.smp" train "$gone/s.smp" -o "$TMP/m.model"
expect1 "weft replay --dot-dir" "$gone" replay --no-out --dot 1 --dot-dir "$gone" "$TMP/in.jsonl"
expect1 "weft replay --dot-dir (a file)" "$TMP/in.jsonl" replay --no-out --dot-dir "$TMP/in.jsonl" "$TMP/in.jsonl"
for o in out dead-letters sample; do
  expect1 "weft replay --$o" "$gone/x" replay "--$o" "$gone/x" "$TMP/in.jsonl"
done
for o in anomalies report; do
  expect1 "weft replay --$o" "$gone/x" replay --no-out --model "$TMP/m.model" "--$o" "$gone/x" "$TMP/in.jsonl"
done
expect1 "weft replay --model" "$gone/m.model" replay --no-out --model "$gone/m.model" "$TMP/in.jsonl"
# nothing listens on port 1: the checks come before any Kafka client
SERVE=(serve --brokers 127.0.0.1:1 --topics t)
start=$(date +%s)
expect1 "weft serve --model" "$gone/m.model" "${SERVE[@]}" --metrics off --model "$gone/m.model"
python3 - "$WEFT" "${SERVE[@]}" > "$TMP/busy" 2>&1 <<'PY' || fail "weft serve --metrics" "$(cat "$TMP/busy")"
import socket, subprocess, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
port = s.getsockname()[1]
r = subprocess.run(sys.argv[1:] + ["--metrics", f"127.0.0.1:{port}"],
                   capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
assert r.returncode == 1 and str(port) in r.stderr, (r.returncode, r.stderr)
PY
[ $(($(date +%s) - start)) -lt 5 ] || fail "weft serve" "the checks before Kafka took $(($(date +%s) - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "cli: failed: ${failed[*]}" >&2
  exit 1
fi
echo "cli: ok"
