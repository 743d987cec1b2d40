#!/usr/bin/env bash
# Batched decoding (issue 18, point 4): tokens/s of DecodeStep for B = 1, 4
# and 16 sequences at once, each at its own position, for the bench gpt
# (vocab 65, d 128, 4 heads, 2 layers, ffn 512; see generate.go) with a
# context of CTX (default 256). BenchmarkDecodeStep is the mean step over
# every position of the context; a step decodes B tokens. It compiles the
# three packages with this checkout's mlc and runs their benchmarks in one
# go, in interleaved rounds (ROUNDS, default 5), and prints the medians.
#   bench/batchdecode.sh
#   GOMAXPROCS=1 CTX=64 bench/batchdecode.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ctx=${CTX:-256}
(cd "$root" && go build -o "$tmp/mlc" ./cmd/mlc)
printf 'module batchbench\n\ngo 1.26\n' >"$tmp/go.mod"
for b in 1 4 16; do
	"$tmp/mlc" compile -model gpt -config "vocab=65,ctx=$ctx,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=true,dropout=0,batch=$b" -o "$tmp/b$b" -pkg gpt >/dev/null
	(cd "$tmp" && go test -c -o "b$b.test" "./b$b")
done
cd "$tmp"
for r in $(seq "${ROUNDS:-5}"); do
	for b in 1 4 16; do
		"./b$b.test" -test.run '^$' -test.bench 'DecodeStep$' -test.benchtime "${BENCHTIME:-1s}" | awk -v b="$b" '/^Benchmark/ { print b, $3 }'
	done
done | tee bench.txt
echo
awk '
	{ n[$1]++; t[$1, n[$1]] = $2 }
	function median(b,   i, j, k, m, v) {
		m = n[b]
		for (i = 1; i <= m; i++) v[i] = t[b, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { k = v[i]; v[i] = v[j]; v[j] = k }
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	END {
		one = 1e9 / median(1)
		printf "| B | step (median) | tokens/s | ×B=1 |\n|---:|---:|---:|---:|\n"
		split("1 4 16", bs, " ")
		for (i = 1; i <= 3; i++) {
			b = bs[i]; s = median(b); tps = b * 1e9 / s
			printf "| %d | %.1f µs | %.0f | %.2f× |\n", b, s / 1000, tps, tps / one
		}
	}' bench.txt
