package text

import "fmt"

// tokenTable maps a tokenizer's ids to their bytes; the byte-level BPE and
// GPT-2's tokenizer share it.
type tokenTable [][]byte

// tokenString is the token's bytes, with bytes that are not valid UTF-8
// shown as <0xNN>.
func (tt tokenTable) tokenString(id int) string {
	if id < 0 || id >= len(tt) {
		return fmt.Sprintf("<invalid id %d>", id)
	}
	return string(appendPrintable(nil, tt[id]))
}

// decode returns the bytes of ids, or an error naming the first id out of
// range.
func (tt tokenTable) decode(ids []int) ([]byte, error) {
	n := 0
	for pos, id := range ids {
		if id < 0 || id >= len(tt) {
			return nil, outOfRange(pos, id, len(tt))
		}
		n += len(tt[id])
	}
	out := make([]byte, 0, n)
	for _, id := range ids {
		out = append(out, tt[id]...)
	}
	return out, nil
}
