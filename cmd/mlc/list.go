package main

import (
	"encoding/json"
	"fmt"

	"github.com/mlc-dev/mlc/dsl"
	"github.com/mlc-dev/mlc/models"
)

func cmdList(c *cli, args []string) error {
	fs := c.flags("list")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	type model struct {
		Name   string          `json:"name"`
		Doc    string          `json:"doc"`
		DType  string          `json:"dtype"`
		Source string          `json:"source"`
		Keys   []dsl.ConfigKey `json:"config"`
	}
	var out []model
	for _, e := range models.Zoo {
		out = append(out, model{Name: e.Name, Doc: e.Doc, DType: e.Float.String(), Source: e.Source, Keys: e.Keys()})
	}
	if *asJSON {
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, string(b))
		return nil
	}
	for _, m := range out {
		fmt.Fprintf(c.stdout, "%-12s %s (%s, %s)\n", m.Name, m.Doc, m.DType, m.Source)
		for _, k := range m.Keys {
			fmt.Fprintf(c.stdout, "    %-10s %-7s default %-18s %s\n", k.Name, k.Type, k.Default, k.Help)
		}
	}
	return nil
}
