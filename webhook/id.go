package webhook

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// EventID derives a stable event ID from the parts that identify one
// notification (e.g. account, call id, event type). The same parts always
// give the same ID, so a redelivered notification deduplicates; each part is
// length-prefixed, so ("ab","c") and ("a","bc") differ.
func EventID(parts ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
