#!/usr/bin/env bash
# weft serve's configuration keys and their documentation agree:
#   - docs/SERVE.md's key table (the one under "| key |") lists exactly the
#     keys of serve's option table (`weft serve --config-keys`), each once;
#   - docs/serve.example.conf is accepted: it is read with a model path
#     that does not exist and the metrics off, which fails (exit 1) on the
#     model after every key and librdkafka property was checked, before
#     any Kafka client exists (a bad key or value would exit 2).
# Usage: serve_keys.sh WEFT SOURCE_ROOT
#        serve_keys.sh --table WEFT   prints the table for docs/SERVE.md
set -euo pipefail
if [ "$1" = "--table" ]; then
  # key | value | default | meaning, from --config-keys and --help
  WEFT=$2
  help=$(mktemp)
  trap 'rm -f "$help"' EXIT
  "$WEFT" serve --help > "$help"
  "$WEFT" serve --config-keys | python3 -c '
import re, sys
defaults = {}
for line in open(sys.argv[1]):
    m = re.match(r"^  --(\S+)(?: \S+)? .*?(?:\[([^\]]*)\])?$", line.rstrip("\n"))
    if m and m.group(2) is not None:
        defaults[m.group(1)] = m.group(2)
cell = lambda s: s.replace("|", "\\|")
print("| key | value | default | meaning |")
print("|---|---|---|---|")
for line in sys.stdin:
    key, meta, text = line.rstrip("\n").split("\t")
    d = cell(defaults.get(key, ""))
    print(f"| `{key}` | {cell(meta)} | {d} | {cell(text)} |")
' "$help"
  exit 0
fi
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$WEFT" serve --config-keys > "$TMP/keys" || fail "weft serve --config-keys"
[ -s "$TMP/keys" ] || fail "weft serve --config-keys printed nothing"
python3 - "$TMP/keys" "$SRC/docs/SERVE.md" <<'PY' || fail "docs/SERVE.md's key table differs from weft serve's keys"
import collections, re, sys
keys = [l.split("\t")[0] for l in open(sys.argv[1]) if l.strip()]
lines = open(sys.argv[2]).read().split("\n")
start = next((i for i, l in enumerate(lines) if re.match(r"^\|\s*key\s*\|", l)), None)
if start is None:
    sys.exit("docs/SERVE.md: no table with a 'key' column")
doc = []
for l in lines[start + 1:]:
    if not l.startswith("|"):
        break
    first = l.split("|")[1]
    if re.match(r"^\s*:?-+:?\s*$", first):
        continue
    doc += re.findall(r"`([^`]+)`", first)
dups = [k for k, n in collections.Counter(doc).items() if n > 1]
missing = [k for k in keys if k not in doc]
extra = [k for k in doc if k not in keys]
for what, ks in (("listed twice", dups), ("not in docs/SERVE.md", missing),
                 ("in docs/SERVE.md but not a key", extra)):
    if ks:
        print(f"{what}: {', '.join(ks)}", file=sys.stderr)
if dups or missing or extra:
    sys.exit(1)
print(f"serve_keys: docs/SERVE.md lists the {len(keys)} keys")
PY

rc=0
"$WEFT" serve --config "$SRC/docs/serve.example.conf" --model "$TMP/no.model" \
  --metrics off > "$TMP/out" 2> "$TMP/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no.model" "$TMP/err" ||
  fail "docs/serve.example.conf not accepted (exit $rc): $(cat "$TMP/err")"
echo "serve_keys: ok"
