//go:build !mlcgpt

package main

import (
	"os"
	"regexp"

	"github.com/mlc-dev/mlc/bench/internal/benchutil"
)

// why says why the mlc rows are skipped: TODO(gpt).
func why() string {
	msg := "TODO(gpt): bench/internal/gpt (models/gpt compiled with the benchmark's config and AdamW) does not exist yet; "
	src, err := os.ReadFile("../generated/gpt/model.go")
	if err != nil {
		return msg + "nor does generated/gpt"
	}
	cfg := regexp.MustCompile(`\(config ([^)]*)\)`).FindSubmatch(src)
	if cfg == nil {
		return msg + "generated/gpt exists, config unknown"
	}
	return msg + "generated/gpt exists but is config " + string(cfg[1])
}

func train(int) {
	benchutil.Emit(benchutil.Result{Workload: "gpt train step", Tool: "mlc", Threads: 1, Skipped: why()})
}

func decode(int) {
	for _, w := range decodeWorkloads() {
		benchutil.Emit(benchutil.Result{Workload: w, Tool: "mlc", Threads: 1, Skipped: why()})
	}
}

var _ = paramCount
