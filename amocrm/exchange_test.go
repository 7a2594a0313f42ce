package amocrm_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// exchangeErr keeps only the error of Exchange, for require.NoError.
func exchangeErr(_ *oauth2.Token, err error) error { return err }

func TestExchangeReturnsTokenAndTokenSourceServesIt(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	store := &memTokens{}
	c := newOAuthClient(t, srv, store)
	tok, err := c.Exchange(t.Context(), srv.AuthorizationCode())
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	require.Equal(t, store.saved[len(store.saved)-1], tok.RefreshToken, "the token returned is the one saved")
	access := tok.AccessToken

	tok.AccessToken = "changed by the caller"
	got, err := c.TokenSource().Token()
	require.NoError(t, err)
	require.Equal(t, access, got.AccessToken, "a copy was returned: the client's token is intact")

	llt, err := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: "long-lived"})
	require.NoError(t, err)
	got, err = llt.TokenSource().Token()
	require.NoError(t, err)
	require.Equal(t, "long-lived", got.AccessToken)
	_, err = llt.Exchange(t.Context(), "code")
	require.ErrorContains(t, err, "long-lived token")
}

// Refresh renews a valid pair once per call and saves it; after the
// integration is revoked it is ErrInvalidGrant, as is Token once the
// access token is refused; a long-lived token is never refreshed.
func TestRefreshAndToken(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	store := &memTokens{}
	c := newOAuthClient(t, srv, store)
	_, err := c.Token(t.Context())
	require.ErrorIs(t, err, amocrm.ErrAuthorizationRequired)
	_, err = c.Refresh(t.Context())
	require.ErrorIs(t, err, amocrm.ErrAuthorizationRequired)
	first, err := c.Exchange(t.Context(), srv.AuthorizationCode())
	require.NoError(t, err)

	tok, err := c.Refresh(t.Context())
	require.NoError(t, err)
	require.NotEqual(t, first.RefreshToken, tok.RefreshToken, "a new pair")
	require.Equal(t, 2, srv.TokenRequests(), "the exchange and one refresh")
	require.Equal(t, tok.RefreshToken, store.saved[len(store.saved)-1], "saved")
	cur, err := c.Token(t.Context())
	require.NoError(t, err)
	require.Equal(t, tok.AccessToken, cur.AccessToken, "the renewed token is used")
	require.Equal(t, 2, srv.TokenRequests(), "Token renews nothing valid")

	srv.Revoke()
	_, err = c.Refresh(t.Context())
	require.ErrorIs(t, err, amocrm.ErrInvalidGrant)
	require.NotContains(t, err.Error(), tok.RefreshToken)
	_, err = c.Token(t.Context())
	require.ErrorIs(t, err, amocrm.ErrInvalidGrant, "the refused refresh is retried, and refused")

	llt, err := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: "long-lived"})
	require.NoError(t, err)
	got, err := llt.Token(t.Context())
	require.NoError(t, err)
	require.Equal(t, "long-lived", got.AccessToken)
	require.True(t, got.Expiry.IsZero())
	_, err = llt.Refresh(t.Context())
	require.ErrorContains(t, err, "long-lived token")
}
