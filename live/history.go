package live

import "sort"

// entry is one published update: its sequence number, the employees it
// concerns and its SSE frame, encoded once for every subscriber.
type entry struct {
	seq   uint64
	frame []byte
}

// history keeps the newest entries of one stream of updates (all of
// them, or one employee's) in a ring, and the sequence number of the
// newest it dropped, so that a stream resuming after an id knows whether
// it missed one.
type history struct {
	buf     []*entry // ring of at most size entries
	start   int      // index of the oldest
	n       int
	size    int
	dropped uint64 // seq of the newest entry dropped, 0 for none
}

func newHistory(size int) *history { return &history{size: size} }

// add appends e, dropping the oldest entry when the ring is full. The
// ring grows as entries come, so an employee with few updates costs
// little.
func (h *history) add(e *entry) {
	switch {
	case h.size == 0:
		h.dropped = e.seq
	case h.n < len(h.buf):
		h.buf[(h.start+h.n)%len(h.buf)] = e
		h.n++
	case h.n < h.size: // full but may grow: unroll into a larger ring
		grown := make([]*entry, min(h.size, max(8, 2*len(h.buf))))
		for i := range h.n {
			grown[i] = h.buf[(h.start+i)%len(h.buf)]
		}
		h.buf, h.start = grown, 0
		h.buf[h.n] = e
		h.n++
	default:
		h.dropped = h.buf[h.start].seq
		h.buf[h.start] = e
		h.start = (h.start + 1) % len(h.buf)
	}
}

// at is the i-th entry, oldest first.
func (h *history) at(i int) *entry { return h.buf[(h.start+i)%len(h.buf)] }

// since returns the entries after seq, oldest first; ok is false when an
// entry after seq was dropped, so they are not all there.
func (h *history) since(seq uint64) (out []*entry, ok bool) {
	if seq < h.dropped {
		return nil, false
	}
	i := sort.Search(h.n, func(i int) bool { return h.at(i).seq > seq })
	if i == h.n {
		return nil, true
	}
	out = make([]*entry, 0, h.n-i)
	for ; i < h.n; i++ {
		out = append(out, h.at(i))
	}
	return out, true
}
