package dialer

// slot is what the Dialer keeps in memory of one target: 32 bytes, the
// texts (name, CRM ids, fields) staying in the Store. The phone is its
// digits as a number (at most 15 digits, never a leading zero).
type slot struct {
	phone    uint64
	next     int64 // unix nanoseconds: not before (0: now)
	pos      int32 // index in the heap, -1 when not in it
	zone     uint16
	attempts uint8
	state    slotState
	outcome  Outcome
}

// slotState is a target's state in memory: TargetState and two more.
type slotState uint8

const (
	slotPending  slotState = iota + 1 // in the heap
	slotOffered                       // reserved for an agent (preview)
	slotDialing                       // an attempt in progress
	slotFinished                      // worked, skipped, or no attempt left
)

// targetHeap orders the pending targets by the time they may next be
// called, then by number: a binary min-heap of slot indexes that keeps
// each slot's position, so pushing, popping, re-keying and removing a
// target are O(log n).
type targetHeap struct {
	slots []slot
	idx   []int32
}

func (h *targetHeap) less(i, j int) bool {
	a, b := &h.slots[h.idx[i]], &h.slots[h.idx[j]]
	return a.next < b.next || a.next == b.next && h.idx[i] < h.idx[j]
}

func (h *targetHeap) swap(i, j int) {
	h.idx[i], h.idx[j] = h.idx[j], h.idx[i]
	h.slots[h.idx[i]].pos = int32(i)
	h.slots[h.idx[j]].pos = int32(j)
}

func (h *targetHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *targetHeap) down(i int) bool {
	i0, n := i, len(h.idx)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// len is the number of targets in the heap.
func (h *targetHeap) len() int { return len(h.idx) }

// push adds slot s (not in the heap).
func (h *targetHeap) push(s int32) {
	h.slots[s].pos = int32(len(h.idx))
	h.idx = append(h.idx, s)
	h.up(len(h.idx) - 1)
}

// top is the first slot; the heap is not empty.
func (h *targetHeap) top() int32 { return h.idx[0] }

// remove takes slot s out of the heap, if it is in.
func (h *targetHeap) remove(s int32) {
	i := int(h.slots[s].pos)
	if i < 0 {
		return
	}
	n := len(h.idx) - 1
	if i != n {
		h.swap(i, n)
	}
	h.idx = h.idx[:n]
	h.slots[s].pos = -1
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
}

// fix restores the order after slot s's next changed.
func (h *targetHeap) fix(s int32) {
	i := int(h.slots[s].pos)
	if !h.down(i) {
		h.up(i)
	}
}

// init orders idx, which holds every pending slot, in O(n).
func (h *targetHeap) init() {
	for i, s := range h.idx {
		h.slots[s].pos = int32(i)
	}
	for i := len(h.idx)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}
