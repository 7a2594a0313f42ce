package dialer_test

import (
	"testing"

	"github.com/callbridge/callbridge/dialer"
	"github.com/callbridge/callbridge/dialer/storetest"
)

// TestMemStore runs the store conformance suite against MemStore.
func TestMemStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) dialer.Store { return dialer.NewMemStore() })
}
