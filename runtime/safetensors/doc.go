// Package safetensors reads and writes the safetensors tensor file format and
// builds mlc's crash-safe checkpoints on top of it.
//
// # Format
//
// A safetensors file is, in order:
//
//   - 8 bytes: N, the header length, a little-endian uint64;
//   - N bytes: a UTF-8 JSON object that starts with '{' and may be padded
//     with trailing spaces. Each key names a tensor and maps to
//     {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]};
//     the optional key "__metadata__" maps to an object of string values;
//   - the data buffer: every tensor's elements, little-endian, row-major, at
//     [begin, end) relative to the buffer's start. The tensors cover the
//     buffer exactly, with no gaps and no overlaps.
//
// This package reads and writes F32, F64, I32, BF16 and I8 tensors, the
// dtypes of mlc's IR (BF16 as uint16 bit patterns). Decoding rejects anything malformed with a one-line error that
// starts with the file's name, and it checks every size against the input
// before allocating, so a hostile file cannot make it panic or allocate more
// than the file's own size. Encoding is canonical: tensors are ordered by
// dtype width (widest first, so every tensor stays aligned to its element
// size for readers that map the file) and then by name, metadata keys are
// sorted and the header is padded to a multiple of 8 bytes, so equal content
// always gives identical bytes.
//
// # Why not a library
//
// The only Go implementation the module proxy serves,
// github.com/nlpodyssey/safetensors (an untagged pseudo-version from
// February 2025, with an empty README and little activity), was evaluated
// and not used:
//
//   - the design brief allows runtime/ to import only graph and gonum, and
//     the generated packages must use the standard library alone;
//   - it hands out untyped byte views, so the conversion to []float32,
//     []float64 and []int32, the larger half of the work, would remain ours;
//   - it accepts duplicate tensor names (encoding/json keeps the last one)
//     and headers that are not valid UTF-8, and its errors do not say which
//     file is wrong;
//   - it needs the whole file in one []byte, where ReadFile here streams the
//     data straight into the typed slices.
//
// What remains is a few hundred lines written from the format's
// specification and fuzzed (FuzzDecode).
//
// # Checkpoints
//
// Checkpoint, SaveCheckpoint and LoadCheckpoint lay out training state in a
// safetensors file: parameters under their DSL names ("W1",
// "blocks.0.attn.Wq"), optimizer state under "optim/" ("optim/W1.m") with the
// step count as the F64 scalar "optim/step", and metadata under the keys
// "mlc.format", "mlc.model", "mlc.config", "mlc.dtype" and "mlc.version".
// A file that holds only parameters, such as weights from another tool,
// loads as a Checkpoint with no optimizer state. Files are written with
// WriteFileAtomic, so a crash leaves either the previous file or the new one,
// never a mix.
package safetensors
