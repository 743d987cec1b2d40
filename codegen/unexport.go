package codegen

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
)

// internalNames renames the exported identifiers of the sources copied into
// every generated package (codegen/kernels, runtime/sample): there they
// are the package's internals, and only the model's API is exported
// (Model, New, the entry points, Tensor). Emitted code calls them by the
// new names.
var internalNames = map[string]string{
	"Gemm":             "gemm",
	"Sgemm":            "sgemm",
	"Dgemm":            "dgemm",
	"GemmBlocked":      "gemmBlocked",
	"GemmOnThread":     "gemmOnThread",
	"GemmSmall":        "gemmSmall",
	"GemmThen":         "gemmThen",
	"ThreadTuner":      "threadTuner",
	"Reserve":          "reserveGemm",
	"UseBlocked":       "useBlocked",
	"UseParallel":      "useParallel",
	"NewPool":          "newWorkerPool",
	"Pool":             "workerPool",
	"RangeTask":        "rangeTask",
	"Float":            "floatT",
	"Real":             "realT",
	"Sampler":          "tokenSampler",
	"NewSampler":       "newTokenSampler",
	"Options":          "sampleOptions",
	"Probs":            "sampleProbs",
	"RNG":              "sampleRNG",
	"F32ToBF16":        "f32ToBF16",
	"BF16ToF32":        "bf16ToF32",
	"F32ToBF16s":       "f32ToBF16s",
	"BF16ToF32s":       "bf16ToF32s",
	"QuantizeI8":       "quantizeI8",
	"DequantizeI8":     "dequantizeI8",
	"QMatMulI8":        "qMatMulI8",
	"QMatMulBF16":      "qMatMulBF16",
	"LowpPath":         "lowpPath",
	"GemmBF16":         "gemmBF16",
	"GemmBF16OnThread": "gemmBF16OnThread",
	"ReserveBF16":      "reserveBF16",
	"BF16Path":         "bf16Path",
}

// internal is the name generated code uses for an identifier of the copied
// sources.
func internal(name string) string {
	if n, ok := internalNames[name]; ok {
		return n
	}
	return name
}

// unexport renames internalNames' identifiers in a copied source file
// where they name the package-level declarations: not method names, struct
// field names, selectors (x.Probs) or composite-literal keys.
func unexport(src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	keep := map[*ast.Ident]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			keep[n.Sel] = true
		case *ast.FuncDecl:
			if n.Recv != nil {
				keep[n.Name] = true
			}
		case *ast.Field:
			if _, ok := n.Type.(*ast.FuncType); !ok {
				for _, name := range n.Names {
					keep[name] = true
				}
			}
		case *ast.StructType:
			for _, fld := range n.Fields.List {
				for _, name := range fld.Names {
					keep[name] = true
				}
			}
		case *ast.InterfaceType:
			for _, fld := range n.Methods.List {
				for _, name := range fld.Names {
					keep[name] = true
				}
			}
		case *ast.KeyValueExpr:
			if id, ok := n.Key.(*ast.Ident); ok {
				keep[id] = true
			}
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && !keep[id] {
			id.Name = internal(id.Name)
		}
		return true
	})
	var buf bytes.Buffer
	if err := format.Node(&buf, fset, f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
