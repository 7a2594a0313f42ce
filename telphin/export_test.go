package telphin

import "time"

// SetExtensionRefreshAge lets tests refresh the extension list on every miss.
func SetExtensionRefreshAge(c *Client, d time.Duration) { c.extMinAge = d }

// SetExtensionTTL sets how long a fetched extension list is used.
func SetExtensionTTL(c *Client, d time.Duration) { c.extTTL = d }

// SetClock replaces the clock that ages the extension list.
func SetClock(c *Client, now func() time.Time) { c.now = now }
