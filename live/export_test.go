package live

// SetOnLeave sets a function the hub calls each time a stream has ended,
// so tests wait for it without polling.
func SetOnLeave(h *Hub, f func()) { h.onLeave = f }
