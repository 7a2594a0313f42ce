package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
)

// TestDeliveryKeys: the webhook keeps the key it had before there were
// other senders (noteKey), the others prefix theirs with their name, and
// every key goes back to its sender, also for an account that looks like
// a prefix.
func TestDeliveryKeys(t *testing.T) {
	t.Parallel()
	n := match.Notification{Kind: match.NotifyMissed, Account: "acme", Provider: "megafon", CallID: "c1", Employee: "anna"}
	require.Equal(t, noteKey(n), deliveryKey(senderWebhook, n))
	require.Equal(t, "email:"+noteKey(n), deliveryKey(senderEmail, n))
	n.Account = "email:acme"
	require.Equal(t, "webhook:"+noteKey(n), deliveryKey(senderWebhook, n))
	for _, acc := range []string{"acme", "", "email:acme", "webhook:x", "email"} {
		n.Account = acc
		for _, s := range senderNames {
			require.Equal(t, s, senderOf(deliveryKey(s, n)), "account %q", acc)
		}
		require.NotEqual(t, deliveryKey(senderWebhook, n), deliveryKey(senderEmail, n))
	}
}
