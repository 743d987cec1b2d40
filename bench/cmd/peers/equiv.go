package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// equivalence is python/peers.py gpt-check's verdict.
type equivalence struct {
	OK      *bool  `json:"ok"` // nil: the check did not run (Skipped says why)
	Skipped string `json:"skipped,omitempty"`
	Checks  []struct {
		What      string  `json:"what"`
		OK        bool    `json:"ok"`
		Value     float64 `json:"value"`
		Tolerance float64 `json:"tolerance"`
		Detail    string  `json:"detail"`
	} `json:"checks,omitempty"`
}

// checkGPT dumps mlc's GPT (gptwork dump: weights, a batch's logits, the
// first step's loss, the weights after one AdamW step, greedy tokens) and
// has python/peers.py gpt-check load the weights into PyTorch's GPT and
// compare. It returns the verdict and the dump's directory ("" when there
// is none), whose weights the PyTorch workloads then start from.
func checkGPT(tmp, python string, built map[string]string, pyInfo map[string]any) (*equivalence, string) {
	skip := func(why string) (*equivalence, string) { return &equivalence{Skipped: why}, "" }
	if why := built["gptwork"]; why != "" {
		return skip("gptwork " + why)
	}
	dir := filepath.Join(tmp, "gptweights")
	cmd := exec.Command(filepath.Join(tmp, "gptwork"), "-dir", dir, "dump")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return skip("gptwork dump failed: " + firstLines(string(out), 3))
	}
	if _, ok := pyInfo["torch"].(string); !ok || python == "" {
		return &equivalence{Skipped: "no Python with PyTorch"}, ""
	}
	cmd = exec.Command(python, "python/peers.py", "gpt-check", "--dump", dir, "--threads", "1")
	cmd.Env = append(append(os.Environ(), "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1"), pyEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		f := false
		return &equivalence{OK: &f, Skipped: "python/peers.py gpt-check failed: " + firstLines(stderr.String(), 3)}, dir
	}
	var eq equivalence
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &eq); err != nil {
		f := false
		return &equivalence{OK: &f, Skipped: "python/peers.py gpt-check: unreadable output: " + firstLines(stdout.String(), 2)}, dir
	}
	return &eq, dir
}

// printEquivalence prints the check, one line per comparison.
func printEquivalence(out io.Writer, eq *equivalence) {
	if eq.OK == nil {
		fmt.Fprintf(out, "gpt equivalence: not checked: %s\n", eq.Skipped)
		return
	}
	verdict := "agree"
	if !*eq.OK {
		verdict = "DISAGREE: THE GPT ROWS COMPARE DIFFERENT MODELS"
	}
	fmt.Fprintf(out, "gpt equivalence: PyTorch's GPT with mlc's weights and mlc %s\n", verdict)
	if eq.Skipped != "" {
		fmt.Fprintf(out, "  %s\n", eq.Skipped)
	}
	for _, c := range eq.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		d := ""
		if c.Detail != "" {
			d = " (" + c.Detail + ")"
		}
		fmt.Fprintf(out, "  %s %s: %s ≤ %s%s\n", mark, c.What, strconv.FormatFloat(c.Value, 'g', 3, 64), strconv.FormatFloat(c.Tolerance, 'g', 3, 64), d)
	}
}
