#!/usr/bin/env bash
# KV-cache scaling (issue 8): per-token latency of gpt (d 128, 4 heads,
# 4 layers, batch 1) at contexts 64, 256 and 1024, with the cache
# (BenchmarkDecodeStep: the mean over every position of the context) and
# without it (BenchmarkPredict: the whole window recomputed, which is what
# generating a token without a cache costs). It compiles the three packages
# with this checkout's mlc and runs their generated benchmarks in one go.
#   bench/kvcache.sh               # the table
#   BENCHTIME=5s bench/kvcache.sh  # longer runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/mlc" ./cmd/mlc)
printf 'module kvbench\n\ngo 1.26\n' >"$tmp/go.mod"
for ctx in 64 256 1024; do
	"$tmp/mlc" compile -model gpt -config "ctx=$ctx,d=128,heads=4,layers=4,batch=1" -o "$tmp/ctx$ctx" -pkg gpt >/dev/null
done
cd "$tmp"
go test -run '^$' -bench 'DecodeStep|Predict' -benchtime "${BENCHTIME:-2s}" ./ctx64 ./ctx256 ./ctx1024 | tee bench.txt
echo
# pkg: kvbench/ctxN, then "BenchmarkX-P  iterations  ns/op ..." lines.
awk '
	/^pkg: / { split($2, p, "ctx"); ctx = p[2] }
	/^BenchmarkDecodeStep/ { dec[ctx] = $3 }
	/^BenchmarkPredict/ { pre[ctx] = $3 }
	END {
		printf "| ctx | with cache (DecodeStep) | ×ctx 64 | without cache (Predict) | ×ctx 64 | cache speedup |\n"
		printf "|---:|---:|---:|---:|---:|---:|\n"
		n = split("64 256 1024", cs, " ")
		for (i = 1; i <= n; i++) {
			c = cs[i]
			printf "| %d | %.1f µs | %.2f× | %.1f µs | %.2f× | %.0f× |\n", c, dec[c] / 1000, dec[c] / dec[64], pre[c] / 1000, pre[c] / pre[64], pre[c] / dec[c]
		}
	}' bench.txt
