package match

import "github.com/callbridge/callbridge/phone"

// normalize is phone.Normalize: the one normalisation every lookup in this
// package uses.
func normalize(raw, defaultCountry string) (string, error) {
	return phone.Normalize(raw, defaultCountry)
}
