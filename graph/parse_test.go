package graph

import (
	"strings"
	"testing"
)

const smallIR = `mlc-ir 1
graph "t" source "t.go"
v0 = Input <f64[2,3]> name="x" @ t.go:1
v1 = Param <f64[3]> {init=zeros} name="b" @ t.go:2
v2 = Add <f64[2,3]> v0 v1 name="y" @ t.go:3
v3 = Sum <f64[]> v2 name="loss"
output "y" v2
loss v3
`

func TestParseSmall(t *testing.T) {
	g, err := Parse("t.ir", smallIR)
	if err != nil {
		t.Fatal(err)
	}
	if g.String() != smallIR {
		t.Fatalf("round trip:\n%s", g.String())
	}
}

// TestParseErrors: malformed IR gives one line naming the file and line.
func TestParseErrors(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(smallIR, old, new, 1) }
	cases := []struct {
		name, text, want string
	}{
		{"empty", "", "t.ir:1: missing header line \"mlc-ir 1\""},
		{"bad header", "mlc-ir 9\n", `t.ir:1: want header "mlc-ir 1", got "mlc-ir 9"`},
		{"no graph line", "mlc-ir 1\n", "t.ir:2: missing graph line"},
		{"bad graph line", "mlc-ir 1\ngraph t\n", `t.ir:2: want: graph "NAME" source "FILE"`},
		{"unknown op", replace("Add <", "Plus <"), `t.ir:5: unknown op "Plus"`},
		{"bad type", replace("<f64[2,3]> v0 v1", "<f64[2,x]> v0 v1"), `t.ir:5: bad dimension "x" in shape [2,x]`},
		{"undefined operand", replace("v0 v1 name", "v0 v9 name"), "t.ir:5: v9 is not defined before this line"},
		{"ids out of order", replace("v2 = Add", "v7 = Add"), "t.ir:5: value v7 out of order: want v2 (values are numbered densely from v0)"},
		{"wrong type", replace("Add <f64[2,3]>", "Add <f64[3,3]>"), "t.ir:5: Add: declared type f64[3,3], but the operands give f64[2,3]"},
		{"shape error", replace("<f64[3]> {init", "<f64[4]> {init"), "t.ir:5: Add: shapes [2,3] and [4] do not broadcast; dimensions must match or be 1, aligned from the right"},
		{"unknown attr", replace("{init=zeros}", "{init=zeros color=red}"), `t.ir:4: Param has no attribute "color" (it takes init, std, data)`},
		{"bad attr value", replace("Sum <f64[]> v2", "Sum <f64[]> v2 {keepdims=maybe}"), `t.ir:6: attribute keepdims: bad boolean "maybe"`},
		{"unterminated string", replace(`name="y"`, `name="y`), "t.ir:5: unterminated string"},
		{"bad position", replace("@ t.go:3", "@ t.go"), `t.ir:5: bad position "t.go": want file:line`},
		{"arity", replace("Add <f64[2,3]> v0 v1", "Add <f64[2,3]> v0"), "t.ir:5: Add: takes 2 operands, got 1"},
		{"junk", replace(`output "y" v2`, "output y"), `t.ir:7: want: output "NAME" vN`},
		{"loss not scalar", replace("loss v3", "loss v2"), "t.ir: v2 (Add @ t.go:3): loss must be a float scalar, got f64[2,3]"},
		{"bad role", replace(`name="y" @`, `role=sideways name="y" @`), `t.ir:5: unknown role "sideways"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.ir", c.text)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != c.want {
				t.Errorf("error\n got %s\nwant %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line")
			}
		})
	}
}

// FuzzParse: parsing arbitrary text never panics, and whatever parses
// prints back to text that parses to the same print.
func FuzzParse(f *testing.F) {
	f.Add(smallIR)
	f.Add("mlc-ir 1\ngraph \"g\" source \"\"\nv0 = Const <f64[2]> {value=-inf}\nv1 = Softmax <f64[2]> v0 {axis=0}\noutput \"o\" v1\n")
	f.Add("mlc-ir 1\ngraph \"g\" source \"\"\nv0 = Input <i32[3]> name=\"ids\"\nv1 = Param <f32[5,2]> {init=normal std=0.02} name=\"E\"\nv2 = Gather <f32[3,2]> v1 v0\n")
	f.Add("mlc-ir 1\ngraph \"g\" source \"\"\nv0 = CausalMask <bool[2,3]> {shape=[2,3]}\nv1 = Not <bool[2,3]> v0 role=backward of=v0\n")
	f.Fuzz(func(t *testing.T, text string) {
		g, err := Parse("fuzz.ir", text)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(text, "\n\n") {
				// multi-error validation output is allowed; parse errors are one line
				_ = err
			}
			return
		}
		out := g.String()
		g2, err := Parse("fuzz2.ir", out)
		if err != nil {
			t.Fatalf("printed graph does not parse: %v\n%s", err, out)
		}
		if g2.String() != out {
			t.Fatalf("print is not a fixed point:\n%s\nvs\n%s", out, g2.String())
		}
	})
}
