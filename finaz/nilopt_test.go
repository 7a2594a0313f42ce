package finaz_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/finaz"
	"github.com/callbridge/callbridge/finaz/finaztest"
	"github.com/callbridge/callbridge/webhook"
)

// No constructor may panic: a nil option is an error naming its position.
func TestNilOption(t *testing.T) {
	t.Parallel()
	cfg := click2callConfig("POST", false)
	cfg.BaseURL = "https://pbx.example/"
	_, err := finaz.NewClient(cfg, nil)
	require.EqualError(t, err, "finaz: option 1 is nil")
	_, err = finaz.NewClient(cfg, callbridge.WithBaseURL("https://pbx.example/"), nil)
	require.EqualError(t, err, "finaz: option 2 is nil")

	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	_, err = finaz.NewHandler(sink, nil)
	require.EqualError(t, err, "finaz: handler option 1 is nil")
	_, err = finaz.NewHandler(sink, webhook.WithToken("hook-token"), nil)
	require.EqualError(t, err, "finaz: handler option 2 is nil")
}

// A number the client refuses before sending names the provider once and
// is still ErrInvalidPhone.
func TestInvalidPhoneNamesProviderOnce(t *testing.T) {
	t.Parallel()
	pbx := finaztest.NewServer()
	t.Cleanup(pbx.Close)
	cfg := click2callConfig("POST", false)
	cfg.Transfer = &finaz.RequestTemplate{URL: "transfer", Query: map[string]string{"to": "{{numero_destino}}"}}
	c, err := finaz.NewClient(cfg, callbridge.WithBaseURL(pbx.URL))
	require.NoError(t, err)
	ctx := context.Background()

	_, err = c.Call(ctx, callevent.CallRequest{From: "201", To: "12"})
	require.ErrorIs(t, err, finaz.ErrInvalidPhone)
	require.EqualError(t, err, `finaz: click2call: invalid phone number: "12" is an internal extension`)

	_, err = c.GroupCall(ctx, callevent.GroupCallRequest{Group: "q1", To: "anonymous"})
	require.ErrorIs(t, err, finaz.ErrInvalidPhone)
	require.Equal(t, 1, strings.Count(err.Error(), "finaz"), err.Error())

	err = c.Transfer(ctx, callevent.TransferRequest{From: "201", CallID: "c1", To: "call me"})
	require.ErrorIs(t, err, finaz.ErrInvalidPhone)
	require.Equal(t, 1, strings.Count(err.Error(), "finaz"), err.Error())
	require.Empty(t, pbx.Requests(), "refused before sending")
}
