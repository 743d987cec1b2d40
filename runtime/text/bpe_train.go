package text

import (
	"fmt"
	"math"
)

// BPEOptions controls TrainBPE.
type BPEOptions struct {
	// VocabSize is the largest vocabulary wanted: 256 byte tokens plus at
	// most VocabSize-256 merges. Must be at least 256.
	VocabSize int
	// Split cuts the corpus into words; "" means SplitCode.
	Split Split
	// MinCount stops training when the most frequent pair occurs fewer
	// times, so rare pairs do not become tokens; 0 means 2.
	MinCount int64
}

// TrainBPE learns merges from docs, which are split into words separately
// (no word spans two documents) and read in order.
//
// At each step every adjacent symbol pair is counted over all word
// occurrences and the most frequent pair is merged everywhere (left to
// right, without overlap) before counting again. Ties go to the pair that
// occurs first scanning the corpus left to right: word by word, pairs left to
// right within a word, on the current segmentation. Training stops at
// VocabSize, when no pair occurs MinCount times, or when no pair is left.
// Pairs whose token would exceed MaxTokenBytes are never merged.
//
// Counting works on the distinct words, each with its frequency, and updates
// the counts of only the pairs next to each merge. The first-occurrence
// position that breaks ties is kept per pair as (rank of the first word that
// contains it, byte offset in that word), which orders occurrences exactly as
// a scan of the corpus would, because a distinct word is numbered by its
// first occurrence and every occurrence of a word is segmented alike.
func TrainBPE(docs [][]byte, opts BPEOptions) (*BPE, error) {
	if opts.VocabSize < 256 {
		return nil, fmt.Errorf("text: train bpe: VocabSize is %d, want at least 256 (the byte tokens)", opts.VocabSize)
	}
	if opts.Split == "" {
		opts.Split = SplitCode
	}
	if err := opts.Split.check(); err != nil {
		return nil, fmt.Errorf("text: train bpe: %w", err)
	}
	if opts.MinCount < 0 {
		return nil, fmt.Errorf("text: train bpe: MinCount is %d, want >= 0", opts.MinCount)
	}
	if opts.MinCount == 0 {
		opts.MinCount = 2
	}
	tr, err := newTrainer(docs, opts.Split)
	if err != nil {
		return nil, fmt.Errorf("text: train bpe: %w", err)
	}
	var merges []Merge
	for len(merges) < opts.VocabSize-256 {
		si, ok, err := tr.best(opts.MinCount)
		if err != nil {
			return nil, fmt.Errorf("text: train bpe: internal error: %w", err)
		}
		if !ok {
			break
		}
		st := &tr.stats[si]
		left, right := unpack(st.pair)
		merges = append(merges, Merge{Left: int(left), Right: int(right), Count: st.count})
		tr.merge(si, int32(256+len(merges)-1))
	}
	t, err := newBPE(opts.Split, merges)
	if err != nil {
		return nil, fmt.Errorf("text: train bpe: internal error: %w", err)
	}
	return t, nil
}

func unpack(p uint64) (left, right int32) { return int32(p >> 32), int32(uint32(p)) }

// trainer holds the distinct words and the pair statistics.
type trainer struct {
	syms   []int32 // all words' symbols; word w is syms[words[w].start:][:words[w].n]
	words  []trainWord
	tokLen []int32 // byte length of each token id
	index  map[uint64]int32
	stats  []pairStat
	heap   pairHeap
	mark   []uint8 // scratch: which symbols of a word take part in a merge
}

// trainWord is a distinct word; its index is the rank of its first occurrence.
type trainWord struct {
	start, n int
	freq     int64
}

// pairStat is what is known about one pair of symbols.
type pairStat struct {
	pair  uint64
	count int64 // occurrences over all words, exact
	// first is the pair's first occurrence, word<<32 | byte offset. It is
	// exact unless dirty, when that occurrence has gone and first is a
	// lower bound until recomputed.
	first  uint64
	dirty  bool
	banned bool    // the merged token would exceed MaxTokenBytes
	where  []int32 // words that contain or once contained the pair, increasing
}

func newTrainer(docs [][]byte, split Split) (*trainer, error) {
	tr := &trainer{index: map[uint64]int32{}, tokLen: make([]int32, 256)}
	for i := range tr.tokLen {
		tr.tokLen[i] = 1
	}
	ids := map[string]int32{}
	for _, doc := range docs {
		for w := range split.Words(doc) {
			if id, ok := ids[string(w)]; ok {
				tr.words[id].freq++
				continue
			}
			if len(tr.words) == math.MaxInt32 {
				return nil, fmt.Errorf("more than %d distinct words", math.MaxInt32)
			}
			if len(w) > math.MaxInt32 {
				return nil, fmt.Errorf("a word of %d bytes is too long; use a split that cuts the text", len(w))
			}
			ids[string(w)] = int32(len(tr.words))
			tr.words = append(tr.words, trainWord{start: len(tr.syms), n: len(w), freq: 1})
			for _, c := range w {
				tr.syms = append(tr.syms, int32(c))
			}
		}
	}
	maxLen := 0
	for w, word := range tr.words {
		s := tr.syms[word.start:][:word.n]
		maxLen = max(maxLen, len(s))
		for j := 0; j+1 < len(s); j++ {
			tr.add(pack(s[j], s[j+1]), word.freq, int32(w), j, nil)
		}
	}
	tr.mark = make([]uint8, maxLen)
	tr.heap = make(pairHeap, 0, len(tr.stats))
	for i, st := range tr.stats {
		tr.heap.push(heapEntry{st.count, st.first, st.pair, int32(i)})
	}
	return tr, nil
}

// add counts freq occurrences of pair p in word w at byte offset off.
// Words are visited in increasing order and offsets left to right, so the
// first sighting of a pair is its first occurrence. New pairs are appended
// to created, if not nil.
func (tr *trainer) add(p uint64, freq int64, w int32, off int, created *[]int32) {
	si, ok := tr.index[p]
	if !ok {
		si = int32(len(tr.stats))
		tr.index[p] = si
		tr.stats = append(tr.stats, pairStat{pair: p, first: uint64(w)<<32 | uint64(off), where: []int32{w}})
		if created != nil {
			*created = append(*created, si)
		}
	}
	st := &tr.stats[si]
	st.count += freq
	if st.where[len(st.where)-1] != w {
		st.where = append(st.where, w)
	}
}

// remove uncounts freq occurrences of pair p in word w at byte offset off.
func (tr *trainer) remove(p uint64, freq int64, w int32, off int) {
	st := &tr.stats[tr.index[p]]
	st.count -= freq
	if st.first == uint64(w)<<32|uint64(off) {
		st.dirty = true
	}
	if st.count == 0 {
		st.where = nil
	}
}

// best returns the pair to merge next, or false if none occurs minCount times.
//
// Between merges, an existing pair's count only falls and its first
// occurrence only moves later: a merge creates adjacencies only with the new
// token. So every heap entry ranks its pair at least as high as it deserves,
// and an entry that matches its pair's exact current state is the true best.
func (tr *trainer) best(minCount int64) (int32, bool, error) {
	for len(tr.heap) > 0 {
		e := tr.heap.pop()
		st := &tr.stats[e.stat]
		if st.count == 0 || st.banned {
			continue
		}
		if e.count != st.count || e.first != st.first {
			tr.heap.push(heapEntry{st.count, st.first, st.pair, e.stat})
			continue
		}
		if st.dirty {
			if err := tr.refresh(st); err != nil {
				return 0, false, err
			}
			tr.heap.push(heapEntry{st.count, st.first, st.pair, e.stat})
			continue
		}
		if st.count < minCount {
			return 0, false, nil
		}
		left, right := unpack(st.pair)
		if tr.tokLen[left]+tr.tokLen[right] > MaxTokenBytes {
			st.banned = true
			continue
		}
		return e.stat, true, nil
	}
	return 0, false, nil
}

// refresh recomputes a dirty pair's first occurrence: the first of its
// words (in increasing order) that still holds it. Words before that one no
// longer hold it and are dropped from where.
func (tr *trainer) refresh(st *pairStat) error {
	left, right := unpack(st.pair)
	for i, w := range st.where {
		word := tr.words[w]
		s := tr.syms[word.start:][:word.n]
		off := 0
		for j := 0; j+1 < len(s); j++ {
			if s[j] == left && s[j+1] == right {
				st.first = uint64(w)<<32 | uint64(off)
				st.dirty = false
				st.where = st.where[i:]
				return nil
			}
			off += int(tr.tokLen[s[j]])
		}
	}
	return fmt.Errorf("pair [%d, %d] has count %d but occurs in none of its words", left, right, st.count)
}

// merge replaces pair si by the new token z in every word that holds it.
func (tr *trainer) merge(si int32, z int32) {
	st := tr.stats[si]
	left, right := unpack(st.pair)
	tr.tokLen = append(tr.tokLen, tr.tokLen[left]+tr.tokLen[right])
	var created []int32
	for _, w := range st.where {
		tr.mergeWord(w, left, right, z, &created)
	}
	// Every occurrence is merged (occurrences of a pair of distinct tokens
	// cannot overlap, and a run of one token merges into pairs), so the
	// pair is gone.
	tr.stats[si].count, tr.stats[si].where = 0, nil
	delete(tr.index, st.pair)
	for _, ci := range created {
		c := &tr.stats[ci]
		tr.heap.push(heapEntry{c.count, c.first, c.pair, ci})
	}
}

// mergeWord merges (left, right) into z in word w, left to right without
// overlap. Only pairs that touch a merged symbol change: those of the old
// segmentation are uncounted and those of the new one (the ones holding z)
// are counted.
func (tr *trainer) mergeWord(w int32, left, right, z int32, created *[]int32) {
	word := tr.words[w]
	s := tr.syms[word.start:][:word.n]
	mark := tr.mark[:len(s)]
	clear(mark)
	found := false
	for j := 0; j+1 < len(s); {
		if s[j] == left && s[j+1] == right {
			mark[j], mark[j+1] = 1, 2
			found = true
			j += 2
		} else {
			j++
		}
	}
	if !found {
		return // a stale entry of where
	}
	off := 0
	for j := 0; j+1 < len(s); j++ {
		if mark[j] != 0 || mark[j+1] != 0 {
			tr.remove(pack(s[j], s[j+1]), word.freq, w, off)
		}
		off += int(tr.tokLen[s[j]])
	}
	n := 0
	for j := 0; j < len(s); n++ {
		if mark[j] == 1 {
			s[n] = z
			j += 2
		} else {
			s[n] = s[j]
			j++
		}
	}
	s = s[:n]
	tr.words[w].n = n
	off = 0
	for j := 0; j+1 < len(s); j++ {
		if s[j] == z || s[j+1] == z {
			tr.add(pack(s[j], s[j+1]), word.freq, w, off, created)
		}
		off += int(tr.tokLen[s[j]])
	}
}

// heapEntry ranks a pair by (count descending, first occurrence ascending).
type heapEntry struct {
	count int64
	first uint64
	pair  uint64
	stat  int32
}

func (a heapEntry) before(b heapEntry) bool {
	if a.count != b.count {
		return a.count > b.count
	}
	if a.first != b.first {
		return a.first < b.first
	}
	return a.pair < b.pair // only stale lower bounds can tie; keep the order total
}

type pairHeap []heapEntry

func (h *pairHeap) push(e heapEntry) {
	*h = append(*h, e)
	s := *h
	for k := len(s) - 1; k > 0; {
		p := (k - 1) / 2
		if !s[k].before(s[p]) {
			break
		}
		s[k], s[p] = s[p], s[k]
		k = p
	}
}

func (h *pairHeap) pop() heapEntry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for k := 0; ; {
		l := 2*k + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].before(s[l]) {
			m = r
		}
		if !s[m].before(s[k]) {
			break
		}
		s[k], s[m] = s[m], s[k]
		k = m
	}
	*h = s
	return top
}
