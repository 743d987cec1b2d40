#!/usr/bin/env bash
# mlc bench over the whole zoo (issue 9): generated code against the
# interpreter for every model's TrainStep, Predict and DecodeStep, then the
# fusion figures (optimized against -O0 generated code) for mlp and gpt.
#   bench/zoo.sh                   # every model
#   bench/zoo.sh xor gpt           # some models
#   RUNS=9 bench/zoo.sh            # more timed runs per entry point
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/mlc" ./cmd/mlc)
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
	mapfile -t models < <("$tmp/mlc" list | awk '/^[^ ]/ { print $1 }')
fi
for m in "${models[@]}"; do
	echo "== mlc bench -model $m -runs ${RUNS:-5}"
	"$tmp/mlc" bench -model "$m" -runs "${RUNS:-5}"
	echo
done
for m in mlp gpt; do
	echo "== mlc bench -model $m -entries TrainStep -vs-O0 -runs ${RUNS:-5}"
	"$tmp/mlc" bench -model "$m" -entries TrainStep -vs-O0 -runs "${RUNS:-5}"
	echo
done
