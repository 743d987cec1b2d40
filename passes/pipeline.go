package passes

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mlc-dev/mlc/graph"
)

// Pass is one step of the optimization pipeline, run on each entry point's
// graph after autodiff and the optimizer.
type Pass struct {
	Name string
	// Doc says what the pass assumes and guarantees (its file says more).
	Doc string
	// Required passes run at -O0 too.
	Required bool
	// After names passes that must run earlier, with the reason.
	After map[string]string
	Run   func(g *graph.Graph, st *Stats) error
}

// Pipeline is the ordered table of passes.
var Pipeline = []Pass{
	{Name: "constfold", Doc: "evaluates elementwise ops of uniform constants", Run: ConstFold},
	{Name: "simplify", Doc: "named algebraic rewrites to a bounded fixed point", Run: Simplify,
		After: map[string]string{"constfold": "rules match constants such as x·1 once folded"}},
	{Name: "cse", Doc: "merges nodes that compute the same value", Run: CSE,
		After: map[string]string{"simplify": "rewrites expose equal expressions"}},
	{Name: "dce", Doc: "removes values no output, loss, gradient or update needs", Required: true,
		Run:   func(g *graph.Graph, st *Stats) error { st.Count("dce/remove", DCE(g)); return nil },
		After: map[string]string{"cse": "merging leaves duplicates unused"}},
	{Name: "ownbuffers", Doc: "gives the loss and gradients values of their own, which updates do not overwrite", Required: true, Run: OwnBuffers,
		After: map[string]string{"simplify": "rewrites can turn a gradient or the loss into a variable, and would fold a copy away", "cse": "merging can too"}},
	{Name: "bf16storage", Doc: "stores the activations a bf16 mixed-precision training step saves for its backward pass in bf16", Required: true, Run: BF16Storage,
		After: map[string]string{"cse": "merging would fold the one widening Cast per reader back into one long-lived f32 copy", "ownbuffers": "the loss and gradients it leaves in f32 are final"}},
	{Name: "fuse", Doc: "groups elementwise chains, matmul epilogues, layernorm and softmax cross-entropy into single loop nests", Run: Fuse,
		After: map[string]string{"dce": "only live nodes are grouped", "simplify": "fusion sees the final expressions", "ownbuffers": "the copies are final nodes too"}},
	{Name: "memplan", Doc: "schedules the entry point, computes liveness and packs values into one arena", Run: MemPlan,
		After: map[string]string{"fuse": "values inside a fused kernel need no buffer"}},
}

// LookupPass finds a pass by name.
func LookupPass(name string) (*Pass, error) {
	for i := range Pipeline {
		if Pipeline[i].Name == name {
			return &Pipeline[i], nil
		}
	}
	var names []string
	for _, p := range Pipeline {
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("unknown pass %q (passes: %s)", name, strings.Join(names, ", "))
}

// Options control a pipeline run.
type Options struct {
	O0       bool     // run only the required passes
	Disable  []string // passes to skip
	Validate bool     // run the validator after every pass (tests do)
	// Dump, when set, is called after each pass with its name and the graph.
	Dump func(pass string, g *graph.Graph)
}

// Stats records what the pipeline did: rewrite counts per rule, time per
// pass and warnings (a fixed point stopped at its bound).
type Stats struct {
	Rewrites map[string]int
	Times    map[string]time.Duration
	Warnings []string
}

// NewStats returns empty statistics.
func NewStats() *Stats {
	return &Stats{Rewrites: map[string]int{}, Times: map[string]time.Duration{}}
}

// Add adds o's counts, times and warnings to s (a nil s or o: nothing).
func (s *Stats) Add(o *Stats) {
	if s == nil || o == nil {
		return
	}
	for k, v := range o.Rewrites {
		s.Rewrites[k] += v
	}
	for k, v := range o.Times {
		s.Times[k] += v
	}
	s.Warnings = append(s.Warnings, o.Warnings...)
}

// Count adds n rewrites by a rule.
func (s *Stats) Count(rule string, n int) {
	if s != nil && n > 0 {
		s.Rewrites[rule] += n
	}
}

// Warn records a warning.
func (s *Stats) Warn(format string, args ...any) {
	if s != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...))
	}
}

// Report formats the statistics, rules and passes in a fixed order.
func (s *Stats) Report() string {
	var b strings.Builder
	var rules []string
	for r := range s.Rewrites {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		fmt.Fprintf(&b, "  %-34s %6d\n", r, s.Rewrites[r])
	}
	return b.String()
}

// Run runs the pipeline on one graph.
func Run(g *graph.Graph, opts Options, st *Stats) error {
	if st == nil {
		st = NewStats()
	}
	for _, name := range opts.Disable {
		if _, err := LookupPass(name); err != nil {
			return err
		}
	}
	for _, p := range Pipeline {
		if (opts.O0 && !p.Required) || slices.Contains(opts.Disable, p.Name) {
			continue
		}
		start := time.Now()
		if err := p.Run(g, st); err != nil {
			return fmt.Errorf("pass %s on %s: %w", p.Name, g.Name, err)
		}
		st.Times[p.Name] += time.Since(start)
		if opts.Validate {
			if err := graph.Validate(g); err != nil {
				return fmt.Errorf("pass %s broke an invariant of model %s: %w", p.Name, g.Name, err)
			}
		}
		if opts.Dump != nil {
			opts.Dump(p.Name, g)
		}
	}
	return nil
}
