#!/usr/bin/env bash
# Runs mlc's peer comparison: every workload and every tool in one run, then
# prints the table of times and same-run ratios to mlc. Installs nothing;
# see README.md for the packages. Flags go to cmd/peers, e.g.
#   bench/run.sh -json results.json
#   bench/run.sh -only xor,sgemm -quick
set -euo pipefail
# cmd/peers runs in bench/; relative -json paths stay relative to the caller.
export PEERS_CWD="$PWD"
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
	echo "run.sh: the go command is not on PATH (Go 1.26 is needed)" >&2
	exit 1
fi
exec go run ./cmd/peers "$@"
