package telphin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
	"github.com/callbridge/callbridge/webhook"
)

// No constructor may panic: a nil option is an error naming its position.
func TestNilOption(t *testing.T) {
	t.Parallel()
	creds := telphin.Credentials{ClientID: "id", ClientSecret: "secret"}
	_, err := telphin.NewClient(creds, nil)
	require.EqualError(t, err, "telphin: option 1 is nil")
	_, err = telphin.NewClient(creds, callbridge.WithBaseURL("https://pbx.example/"), nil)
	require.EqualError(t, err, "telphin: option 2 is nil")

	sink := callevent.SinkFunc(func(context.Context, callevent.Event) error { return nil })
	_, err = telphin.NewHandler(sink, nil)
	require.EqualError(t, err, "telphin: handler option 1 is nil")
	_, err = telphin.NewHandler(sink, webhook.WithToken("hook-token"), nil)
	require.EqualError(t, err, "telphin: handler option 2 is nil")
}

// A call from an unknown extension or to an unknown group names the
// provider once, and is still ErrUnknownExtension.
func TestUnknownExtensionNamesProviderOnce(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	ctx := context.Background()

	_, err := c.Call(ctx, callevent.CallRequest{From: "99999", To: "+79161234567"})
	require.ErrorIs(t, err, telphin.ErrUnknownExtension)
	require.EqualError(t, err, `telphin: call from "99999": unknown extension: "99999"`)

	_, err = c.GroupCall(ctx, callevent.GroupCallRequest{Group: "nogroup", To: "+79161234567"})
	require.ErrorIs(t, err, telphin.ErrUnknownExtension)
	require.Equal(t, 1, strings.Count(err.Error(), "telphin"), err.Error())
	require.Contains(t, err.Error(), `group call to "nogroup"`)
}
