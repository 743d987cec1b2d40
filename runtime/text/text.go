// Package text turns training text into token ids and back.
//
// Three tokenizers are provided, all able to round-trip any byte sequence:
//
//   - CharTokenizer: one token per Unicode character seen in a corpus, with
//     256 byte-fallback tokens for everything else (invalid UTF-8, unseen
//     characters).
//   - BPE: byte-level byte-pair encoding. The 256 bytes are the base symbols
//     and each learned merge adds one token.
//   - GPT2: GPT-2's own byte-level BPE, with its vocabulary read from GPT-2's
//     files by LoadGPT2, encoding exactly as GPT-2's encoder does.
//
// A tokenizer is saved with MarshalJSON and read back with Load, which
// validates what it reads. Fingerprint identifies a tokenizer's behaviour, so
// a checkpoint can refuse to run with a different tokenizer than the one it
// was trained with.
package text

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Tokenizer is what model training and generation need from a tokenizer.
type Tokenizer interface {
	// Encode returns the token ids of b. Decode(Encode(b)) == b for every b.
	Encode(b []byte) []int
	// Decode returns the bytes the ids stand for; an id outside
	// [0, VocabSize()) is an error.
	Decode(ids []int) ([]byte, error)
	// VocabSize is the number of token ids; ids are 0..VocabSize()-1.
	VocabSize() int
	// TokenString is a printable form of one token, for debugging and
	// reports; bytes that are not valid UTF-8 are shown as <0xNN>.
	TokenString(id int) string
	// Fingerprint is the hex SHA-256 of the tokenizer's canonical JSON.
	Fingerprint() string
	// MarshalJSON is the saved form that Load reads back.
	MarshalJSON() ([]byte, error)
}

// Version is the version of the saved JSON form written by this package.
const Version = 1

// Kinds of saved tokenizers, the "kind" field of their JSON.
const (
	KindChar = "char"
	KindBPE  = "bpe"
	KindGPT2 = "gpt2"
)

// maxLoadBytes bounds what Load reads, so a wrong file cannot exhaust memory.
const maxLoadBytes = 64 << 20

// Load reads a tokenizer saved by MarshalJSON, checking that it is complete
// and consistent. Errors name the field at fault.
func Load(r io.Reader) (Tokenizer, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxLoadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("text: load tokenizer: %w", err)
	}
	if len(data) > maxLoadBytes {
		return nil, fmt.Errorf("text: load tokenizer: input is larger than %d bytes", maxLoadBytes)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("text: load tokenizer: %w", err)
	}
	return t, nil
}

func parse(data []byte) (Tokenizer, error) {
	var head struct {
		Kind    string `json:"kind"`
		Version int    `json:"version"`
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty input, want a tokenizer JSON object")
	}
	// Only the first JSON value is read here, so that trailing data is
	// reported by decodeStrict with a clearer message.
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&head); err != nil {
		return nil, fmt.Errorf("not a tokenizer JSON object: %v", err)
	}
	if head.Kind == "" {
		return nil, errors.New(`missing "kind" (want "char", "bpe" or "gpt2")`)
	}
	if head.Kind != KindChar && head.Kind != KindBPE && head.Kind != KindGPT2 {
		return nil, fmt.Errorf(`unknown kind %q (want "char", "bpe" or "gpt2")`, head.Kind)
	}
	if head.Version != Version {
		return nil, fmt.Errorf("%s tokenizer has version %d, this build reads version %d", head.Kind, head.Version, Version)
	}
	switch head.Kind {
	case KindChar:
		var f charFile
		if err := decodeStrict(data, &f); err != nil {
			return nil, fmt.Errorf("char tokenizer: %w", err)
		}
		return f.tokenizer()
	case KindGPT2:
		var f gpt2File
		if err := decodeStrict(data, &f); err != nil {
			return nil, fmt.Errorf("gpt2 tokenizer: %w", err)
		}
		return f.tokenizer()
	default:
		var f bpeFile
		if err := decodeStrict(data, &f); err != nil {
			return nil, fmt.Errorf("bpe tokenizer: %w", err)
		}
		return f.tokenizer()
	}
}

// decodeStrict rejects unknown fields and trailing data: a file that does
// not say exactly what this package wrote is more likely wrong than new.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// fingerprint hashes a canonical encoding.
func fingerprint(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// appendPrintable appends b to dst, showing bytes that are not part of valid
// UTF-8 as <0xNN>, so that a token's name is always printable text.
func appendPrintable(dst []byte, b []byte) []byte {
	for len(b) > 0 {
		r, size := decodeRune(b)
		if r < 0 {
			dst = fmt.Appendf(dst, "<0x%02X>", b[0])
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}

// outOfRange is the error for a token id that is not in the vocabulary.
func outOfRange(pos, id, n int) error {
	return fmt.Errorf("text: decode: token %d is id %d, outside the vocabulary [0, %d)", pos, id, n)
}
