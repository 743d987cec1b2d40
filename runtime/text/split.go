package text

import (
	"fmt"
	"iter"
)

// Split names how BPE cuts text into words before merging: no merge crosses
// a word boundary. Every Split is a partition (the words concatenate back to
// the input), so splitting never loses bytes.
type Split string

const (
	// SplitSpace makes every space (0x20) a word of its own and every
	// maximal run of other bytes a word. Spaces have no pairs, so training
	// sees exactly the words of text split on single spaces.
	SplitSpace Split = "space"

	// SplitCode is meant for source code. Words are maximal runs of one
	// class of byte:
	//   - identifier bytes: ASCII letters, digits, '_', and every byte >= 0x80
	//     (so a UTF-8 character is never cut);
	//   - white space: ' ', '\t', '\n', '\r', '\v', '\f' (so a newline and the
	//     next line's indentation can become one token);
	//   - everything else, punctuation, so that operators such as ":=", "!="
	//     and "//" can become tokens;
	// except that a space just before an identifier or punctuation run
	// starts that run's word (" :=", " err"), as GPT-2's pre-tokenizer does:
	// spaces between words are so common in code that tokens holding them
	// shorten the encoding by about a tenth.
	SplitCode Split = "code"
)

// valid reports whether s is a known Split.
func (s Split) valid() bool { return s == SplitSpace || s == SplitCode }

func (s Split) check() error {
	if !s.valid() {
		return fmt.Errorf("unknown split %q (want %q or %q)", string(s), SplitSpace, SplitCode)
	}
	return nil
}

// The classes of byte under SplitCode.
const (
	classIdent = iota + 1
	classSpace
	classPunct
)

// byteClass is a byte's class under SplitCode.
var byteClass = func() (c [256]uint8) {
	for i := range c {
		b := byte(i)
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '_', b >= 0x80:
			c[i] = classIdent
		case b == ' ', b == '\t', b == '\n', b == '\r', b == '\v', b == '\f':
			c[i] = classSpace
		default:
			c[i] = classPunct
		}
	}
	return c
}()

// next returns the length of the first word of b (0 only if b is empty).
func (s Split) next(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if s == SplitSpace {
		if b[0] == ' ' {
			return 1
		}
		n := 1
		for n < len(b) && b[n] != ' ' {
			n++
		}
		return n
	}
	start := 0
	if b[0] == ' ' && len(b) > 1 && byteClass[b[1]] != classSpace {
		start = 1
	}
	class := byteClass[b[start]]
	n := start + 1
	for n < len(b) && byteClass[b[n]] == class {
		n++
	}
	// A space that ends a run of white space belongs to the next word.
	if class == classSpace && n < len(b) && n >= 2 && b[n-1] == ' ' {
		n--
	}
	return n
}

// Words yields the words of b in order, as subslices of b. An unknown Split
// splits like SplitCode.
func (s Split) Words(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			n := s.next(b)
			if !yield(b[:n]) {
				return
			}
			b = b[n:]
		}
	}
}
