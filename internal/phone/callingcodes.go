package phone

// callingCode is one country calling code and the possible lengths of the
// national significant numbers behind it (bit n set: n digits possible).
type callingCode struct {
	code    uint16
	lengths uint32
}

// splitCallingCode finds the calling code d starts with. Calling codes are
// prefix-free, so at most one of the 1-, 2- and 3-digit prefixes is
// assigned. k is the number of digits of the code, 0 when none matches.
func splitCallingCode(d []byte) (cc callingCode, k int) {
	v := 0
	for k = 1; k <= 3 && k <= len(d); k++ {
		v = v*10 + int(d[k-1]-'0')
		if v == 0 {
			return callingCode{}, 0
		}
		if cc, ok := lookupCallingCode(v); ok {
			return cc, k
		}
	}
	return callingCode{}, 0
}

// lookupCallingCode binary-searches the sorted callingCodes table.
func lookupCallingCode(v int) (callingCode, bool) {
	lo, hi := 0, len(callingCodes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := int(callingCodes[m].code); {
		case c == v:
			return callingCodes[m], true
		case c < v:
			lo = m + 1
		default:
			hi = m
		}
	}
	return callingCode{}, false
}
