# Sourced by the integration scripts that read weft replay's summary
# (replay_golden.sh, finish_helper.sh).
summary() { # file key -> first number after the key in a weft replay summary
  awk -v k="$2" 'index($0, "  "k" ") == 1 {sub("^  "k" +", ""); split($0, a, " "); print a[1]}' "$1"
}
