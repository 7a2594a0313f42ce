package sqlstore

import (
	"testing"

	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/dialer/storetest"
)

// TestDialerStore runs the dialer's store conformance suite against both
// databases.
func TestDialerStore(t *testing.T) {
	forEachDriver(t, func(t *testing.T, dv backend) {
		storetest.Run(t, func(t *testing.T) dialer.Store { return newDB(t, dv) })
	})
}
