#!/usr/bin/env bash
# Low-precision weights (issue 19): per-token latency of KV-cache decoding
# at batch 1 (the generated BenchmarkDecodeStep: the mean over every
# position of the context) with the weight matrices in f32, int8 and bf16,
# for the default gpt at ctx 64 and for bench's gptctx64 config. The three
# test binaries of a model are built once and run in turn, RUNS rounds, so
# that the ratios come from one run; the table gives the medians.
#   bench/lowp.sh                      # the table
#   RUNS=9 BENCHTIME=2s bench/lowp.sh  # longer runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/mlc" ./cmd/mlc)
printf 'module lowpbench\n\ngo 1.26\n' >"$tmp/go.mod"
declare -A configs=(
	[gpt]="ctx=64,batch=1"
	[gptctx64]="vocab=65,ctx=64,d=128,heads=4,layers=2,ffn=512,norm=pre,act=gelu,tied=true,dropout=0,batch=1"
)
for m in gpt gptctx64; do
	for w in f32 int8 bf16; do
		"$tmp/mlc" compile -model gpt -config "${configs[$m]}" -dtype f32 -weights "$w" -o "$tmp/$m$w" -pkg "g$w" >/dev/null 2>&1
		(cd "$tmp" && go test -c -o "$tmp/$m$w.test" "./$m$w")
	done
done
for r in $(seq "${RUNS:-5}"); do
	for m in gpt gptctx64; do
		for w in f32 int8 bf16; do
			"$tmp/$m$w.test" -test.run '^$' -test.bench DecodeStep -test.benchtime "${BENCHTIME:-1s}" |
				awk -v m="$m" -v w="$w" '/^BenchmarkDecodeStep/ { print m, w, $3 }'
		done
	done
done | tee "$tmp/runs.txt"
echo
awk '
	{ v[$1 " " $2] = v[$1 " " $2] " " $3 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		printf "| model | f32 µs/token | int8 µs/token | int8 speedup | bf16 µs/token | bf16 speedup |\n"
		printf "|---|---:|---:|---:|---:|---:|\n"
		split("gpt gptctx64", ms, " ")
		for (i = 1; i <= 2; i++) {
			m = ms[i]
			f = median(v[m " f32"]); q = median(v[m " int8"]); h = median(v[m " bf16"])
			printf "| %s | %.1f | %.1f | %.2f× | %.1f | %.2f× |\n", m, f / 1000, q / 1000, f / q, h / 1000, f / h
		}
	}' "$tmp/runs.txt"
