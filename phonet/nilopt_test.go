package phonet_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/phonet"
	"github.com/callbridge/callbridge/webhook"
)

// A nil option is an error naming its position, never a panic.
func TestConstructorsRefuseNilOptions(t *testing.T) {
	creds := phonet.Credentials{Domain: "acme.phonet.com.ua", APIKey: "k"}
	c, err := phonet.NewClient(creds, nil)
	require.ErrorContains(t, err, "option 1 is nil")
	require.Nil(t, c)
	_, err = phonet.NewClient(creds, callbridge.WithUserAgent("x"), nil)
	require.ErrorContains(t, err, "option 2 is nil")

	h, err := phonet.NewHandler(&recorder{}, nil)
	require.ErrorContains(t, err, "option 1 is nil")
	require.Nil(t, h)
	_, err = phonet.NewHandler(&recorder{}, webhook.WithToken("tok-123456"), nil)
	require.ErrorContains(t, err, "option 2 is nil")
}
