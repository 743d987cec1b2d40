package models

import (
	"testing"

	"github.com/mlc-dev/mlc/dsl"
)

func TestPrintAll(t *testing.T) {
	for _, e := range Zoo {
		cfg, _ := e.Config("")
		g, err := e.Build(cfg, dsl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(e.Source)
		t.Log("\n" + g.String())
	}
}
