package amocrm

import "time"

// ResetBlock ends the block cooldown of c, so a fuzz target can reuse one
// Client after feeding it amoCRM's 403 block page.
func ResetBlock(c *Client) {
	c.mu.Lock()
	c.blockedUntil = time.Time{}
	c.mu.Unlock()
}
