#!/usr/bin/env bash
# llama and seq2seq (issue 16), default configs, f32: the train step
# (mlc bench: generated TrainStep with the optimizer mlc train uses), the
# per-token latency of greedy decoding at batch 1 with the KV cache
# (BenchmarkGenerate: a whole context from one token, Prefill then
# DecodeStep) and without it (BenchmarkGenerateNoCache: Predict over the
# window for every token), and the memory mlc stats reports.
#   bench/modern.sh                       # the figures
#   RUNS=9 BENCHTIME=5s bench/modern.sh   # longer runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/mlc" ./cmd/mlc)
printf 'module modernbench\n\ngo 1.26\n' >"$tmp/go.mod"
for m in llama seq2seq; do
	echo "== mlc bench -model $m -entries TrainStep -no-interp -runs ${RUNS:-5}"
	"$tmp/mlc" bench -model "$m" -entries TrainStep -no-interp -runs "${RUNS:-5}"
	echo
	echo "== mlc stats -model $m"
	"$tmp/mlc" stats -model "$m"
	echo
	"$tmp/mlc" compile -model "$m" -config batch=1 -o "$tmp/$m" -pkg "$m" >/dev/null
done
echo "== generated Generate and GenerateNoCache, batch 1 (ns/token)"
cd "$tmp"
go test -run '^$' -bench 'Generate' -benchtime "${BENCHTIME:-2s}" ./llama ./seq2seq
