package main

import (
	"testing"

	"github.com/mlc-dev/mlc/internal/testutil"
)

// The probe and SAE tests that need a language model share one tiny model,
// trained once on a small synthetic Go corpus, as subtests of one test.
const tinyLMConfig = "vocab=300,ctx=32,d=32,heads=2,layers=2,ffn=64,batch=8"

// TestProbeSAEPipeline trains the tiny model with mlc train, then runs mlc
// probe and mlc sae on it: their flags, output and files. The analyses
// themselves are tested in package mechinterp.
func TestProbeSAEPipeline(t *testing.T) {
	testutil.Long(t, "trains a language model")
	corpus, ckpt := trainOnGoCorpus(t, "gpt", tinyLMConfig, "-steps", "40", "-lr", "0.01")
	t.Run("ProbeTask", func(t *testing.T) { testProbeTask(t, ckpt, corpus) })
	t.Run("SAE", func(t *testing.T) { testSAE(t, ckpt, corpus) })
}
