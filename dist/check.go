package dist

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// Part is one labelled input of a run that every rank must agree on, such
// as "model" (the IR text), "config" or "data" (the data set's bytes or
// their digest).
type Part struct {
	Name string
	Data []byte
}

// Check verifies that every rank passes the same parts: the same number,
// with the same names, holding the same bytes. Only SHA-256 digests travel.
// On a mismatch every rank returns the same one-line error, naming each
// rank that differs from rank 0 and the part it differs in. Every rank
// must call it.
func (c *Comm) Check(parts ...Part) error {
	// First the count, so that the digest exchange has one length.
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(parts)))
	counts := make([]byte, 8*c.size)
	if err := c.allgather(n[:], counts); err != nil {
		return err
	}
	if err := countDiffs(counts); err != nil {
		return err
	}
	mine := digests(parts)
	all := make([]byte, len(mine)*c.size)
	if err := c.allgather(mine, all); err != nil {
		return err
	}
	return digestDiffs(parts, all)
}

// record is the size of one part's digests: of its name and of its data.
const record = 2 * sha256.Size

// digests lists the digests of parts, a record each.
func digests(parts []Part) []byte {
	b := make([]byte, 0, record*len(parts))
	for _, p := range parts {
		n := sha256.Sum256([]byte(p.Name))
		d := sha256.Sum256(p.Data)
		b = append(append(b, n[:]...), d[:]...)
	}
	return b
}

// countDiffs compares the ranks' part counts (8 bytes each) with rank 0's.
func countDiffs(counts []byte) error {
	var diffs []string
	n0 := binary.LittleEndian.Uint64(counts)
	for r := 1; 8*r < len(counts); r++ {
		if nr := binary.LittleEndian.Uint64(counts[8*r:]); nr != n0 {
			diffs = append(diffs, fmt.Sprintf("rank %d passes %d parts, rank 0 passes %d", r, nr, n0))
		}
	}
	return mismatch(diffs)
}

// digestDiffs compares every rank's digests in all (this rank's parts'
// records, rank after rank) with rank 0's.
func digestDiffs(parts []Part, all []byte) error {
	var diffs []string
	per := record * len(parts)
	for r := 1; per > 0 && per*(r+1) <= len(all); r++ {
		for i, p := range parts {
			a := all[record*i:]       // rank 0
			b := all[per*r+record*i:] // rank r
			switch {
			case !bytes.Equal(a[:sha256.Size], b[:sha256.Size]):
				diffs = append(diffs, fmt.Sprintf("rank %d labels part %d other than rank 0 (%q on this rank)", r, i+1, p.Name))
			case !bytes.Equal(a[sha256.Size:record], b[sha256.Size:record]):
				diffs = append(diffs, fmt.Sprintf("rank %d differs from rank 0 in %s (sha256 %x… vs %x…)", r, p.Name, b[sha256.Size:sha256.Size+4], a[sha256.Size:sha256.Size+4]))
			}
		}
	}
	return mismatch(diffs)
}

// mismatch joins the first few differences into one line; nil for none.
func mismatch(diffs []string) error {
	if len(diffs) == 0 {
		return nil
	}
	const most = 4
	msg := strings.Join(diffs[:min(len(diffs), most)], "; ")
	if len(diffs) > most {
		msg += fmt.Sprintf("; and %d more", len(diffs)-most)
	}
	return fmt.Errorf("dist: ranks disagree: %s", msg)
}
