package match

import (
	"errors"
	"fmt"
)

// Limits that keep a client bounded in every store (memstore, sqlstore):
// CreateClient refuses a larger client with an error wrapping ErrTooLarge.
const (
	MaxClientFields = 32  // fields (variables) per client
	MaxClientTags   = 16  // tags per client
	MaxValueLen     = 256 // bytes in an id, account, name, phone, tag, field name or value
)

// ErrTooLarge reports a client or lead over the limits (MaxClientFields,
// MaxClientTags, MaxValueLen).
var ErrTooLarge = errors.New("match: value exceeds the store limits")

// Validate reports whether c is within the limits every store keeps: an
// error wrapping ErrTooLarge says which is exceeded.
func (c Client) Validate() error {
	long := func(s string) bool { return len(s) > MaxValueLen }
	if long(c.ID) || long(c.Account) || long(c.Name) || long(c.Phone) || long(string(c.Channel)) || long(c.Responsible) {
		return fmt.Errorf("%w: a value is longer than %d bytes", ErrTooLarge, MaxValueLen)
	}
	if len(c.Fields) > MaxClientFields {
		return fmt.Errorf("%w: %d fields (max %d)", ErrTooLarge, len(c.Fields), MaxClientFields)
	}
	if len(c.Tags) > MaxClientTags {
		return fmt.Errorf("%w: %d tags (max %d)", ErrTooLarge, len(c.Tags), MaxClientTags)
	}
	for k, v := range c.Fields {
		if long(k) || long(v) {
			return fmt.Errorf("%w: field %.32q is longer than %d bytes", ErrTooLarge, k, MaxValueLen)
		}
	}
	for _, t := range c.Tags {
		if long(t) {
			return fmt.Errorf("%w: a tag is longer than %d bytes", ErrTooLarge, MaxValueLen)
		}
	}
	return nil
}
