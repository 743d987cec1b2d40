#!/usr/bin/env bash
# Runs mlc's peer comparison: every workload and every tool in one run, then
# prints the table of times and same-run ratios to mlc. Installs nothing but
# onnxruntime (npm's onnxruntime-node, into bench/ort/node_modules, which git
# ignores) when npm is there and it is missing; without node or npm the
# onnxruntime rows are skipped with the reason. See README.md for the other
# packages. It compiles the benchmark's packages with this checkout's mlc
# into internal/gen (git-ignored, cached by the compiler's source hash). Flags
# go to cmd/peers (README.md lists them), e.g.
#   bench/run.sh -json results.json
#   bench/run.sh -only gpt,roofline -threads 1 -tools mlc,PyTorch -rounds 5
#   bench/run.sh -only xor,sgemm -quick -rounds 1
set -euo pipefail
# cmd/peers runs in bench/; relative -json paths stay relative to the caller.
export PEERS_CWD="$PWD"
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
	echo "run.sh: the go command is not on PATH (Go 1.26 is needed)" >&2
	exit 1
fi
if [ ! -f ort/node_modules/onnxruntime-node/package.json ] && command -v npm >/dev/null 2>&1; then
	# --ignore-scripts: the package's install script tries a download that
	# is not needed (the CPU libraries ship in the package).
	echo "run.sh: installing onnxruntime-node into bench/ort (npm install --ignore-scripts)" >&2
	npm install --prefix ort --ignore-scripts --no-audit --no-fund >/dev/null ||
		echo "run.sh: npm install failed; the onnxruntime rows will be skipped" >&2
fi
exec go run ./cmd/peers "$@"
