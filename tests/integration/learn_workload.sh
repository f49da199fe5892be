# Sourced by learn_loop.sh and serve_learn.sh (needs WEFT, SRC, TMP): the
# learning loop's workload, generated from a bundled normal run.
#   train.jsonl   fs -mkdir only -> m.model (and its copy m0.model)
#   stream.jsonl  a: mkdir, 10 % exceptions; then b: fs -chmod appears and
#                 stays, one line in turn with mkdir traffic, 50 % exceptions
#   c.jsonl       fresh traffic of both (mkdir 30 % exceptions; chmod)
# Truth (trace id, kind, injection, title) in NAME.tsv for each part.
learn_workload() {
	local run="$SRC/data/tracebench/NM_CL_rwrpc_05C_1to19B_0to120INTR_0to600INTW_0to0INTRPC_50RT_10WT"
	gen() { # name title traces seed [inject-rate]
		"$WEFT" sim generate --from "$run" -o "$TMP/$1.jsonl" --truth "$TMP/$1.tsv" \
		  --title "$2" --traces "$3" --seed "$4" \
		  ${5:+--inject-rate $5 --kinds exception} 2>/dev/null
	}
	# two streams, one line of each in turn (each trace's events stay in order)
	merge() {
		awk 'NR==FNR{a[NR]=$0;n=NR;next}{print; if(FNR<=n) print a[FNR]}
		     END{for(i=FNR+1;i<=n;i++)print a[i]}' "$1" "$2"
	}
	gen train "fs -mkdir" 400 1
	gen a "fs -mkdir" 600 2 0.1
	gen bm "fs -mkdir" 600 3 0.5
	gen bc "fs -chmod" 600 4
	gen cm "fs -mkdir" 300 5 0.3
	gen cc "fs -chmod" 300 6
	merge "$TMP/bm.jsonl" "$TMP/bc.jsonl" > "$TMP/b.jsonl"
	merge "$TMP/cm.jsonl" "$TMP/cc.jsonl" > "$TMP/c.jsonl"
	cat "$TMP/a.jsonl" "$TMP/b.jsonl" > "$TMP/stream.jsonl"
	"$WEFT" replay "$TMP/train.jsonl" --no-out --sample "$TMP/train.smp" --sample-size 0 2>/dev/null
	"$WEFT" train "$TMP/train.smp" -o "$TMP/m.model" 2>/dev/null
	cp "$TMP/m.model" "$TMP/m0.model"
}
