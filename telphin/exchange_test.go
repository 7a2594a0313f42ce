package telphin_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/telphin"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// exchangeErr keeps only the error of Exchange, for require.NoError.
func exchangeErr(_ *oauth2.Token, err error) error { return err }

func TestExchangeReturnsTokenAndTokenSourceServesIt(t *testing.T) {
	t.Parallel()
	srv := telphintest.NewServer()
	t.Cleanup(srv.Close)
	store := &memStore{}
	c := newClientFor(t, srv, telphin.Credentials{ClientID: srv.ClientID, ClientSecret: srv.ClientSecret, RedirectURL: "https://crm.example/telphin/oauth"},
		callbridge.WithTokenStore(store))
	tok, err := c.Exchange(t.Context(), srv.AuthorizationCode())
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.Equal(t, store.tok.AccessToken, tok.AccessToken, "the token returned is the one saved")
	access := tok.AccessToken
	tok.AccessToken = "changed by the caller"
	got, err := c.TokenSource().Token()
	require.NoError(t, err)
	require.Equal(t, access, got.AccessToken, "a copy was returned: the client's token is intact")
}
