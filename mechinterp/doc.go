// Package mechinterp reads the internals of models that mlc compiles: the
// activations of a trained language model over text, linear probes on
// them, sparse autoencoders (SAEs) trained on them, attention maps and the
// induction-head demo, and nearest words and sentences in an embedding.
//
// Everything here works on a compiled program (graph.Program) from any
// model source (compile.Model: the zoo, a Go package, an ONNX file) and
// runs it with either engine: the generated code (EngineGen, a runner
// process built by compile.BuildRunner) or mlc's reference interpreter
// (EngineInterp, in process, no Go toolchain needed). The mlc commands
// probe, sae, attn, induction and embed are thin shells over this package.
//
// The name says what the package is about, mechanistic interpretability,
// and cannot be read as "interpreter": in mlc that is package runtime and
// the engine called interp.
package mechinterp
