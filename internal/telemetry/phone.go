package telemetry

import (
	"go.opentelemetry.io/otel/attribute"
)

// keptDigits is how many trailing digits MaskPhone keeps.
const keptDigits = 4

// MaskPhone hides all but the last four digits of a phone number:
// "79161234567" → "*******4567". A value of four digits or fewer (an
// extension) and "" are returned as they are; only digits are counted and
// replaced, other characters stay.
func MaskPhone(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] >= '0' && p[i] <= '9' {
			n++
		}
	}
	if n <= keptDigits {
		return p
	}
	b := []byte(p)
	hide := n - keptDigits
	for i := 0; i < len(b) && hide > 0; i++ {
		if b[i] >= '0' && b[i] <= '9' {
			b[i] = '*'
			hide--
		}
	}
	return string(b)
}

// Phone is the ClientPhoneKey attribute of p: masked unless full.
func Phone(p string, full bool) attribute.KeyValue {
	if !full {
		p = MaskPhone(p)
	}
	return ClientPhoneKey.String(p)
}

// longDigits is the shortest run of digits MaskDigits treats as a phone
// number: a national number with its area code, or longer.
const longDigits = 10

// MaskDigits masks, as MaskPhone does, every run of ten or more digits in
// s: phone numbers inside a URL's query (amoCRM finds contacts by
// ?query=<phone>). Shorter runs (record ids, ports) stay.
func MaskDigits(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i >= longDigits {
			if b == nil {
				b = []byte(s)
			}
			for k := i; k < j-keptDigits; k++ {
				b[k] = '*'
			}
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(b)
}
