package amocrm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// A nil option is an error naming its position, never a panic.
func TestConstructorsRefuseNilOptions(t *testing.T) {
	creds := amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: "tok"}
	c, err := amocrm.NewClient(creds, nil)
	require.ErrorContains(t, err, "option 1 is nil")
	require.Nil(t, c)
	_, err = amocrm.NewClient(creds, callbridge.WithUserAgent("x"), nil)
	require.ErrorContains(t, err, "option 2 is nil")

	c, err = amocrm.NewClient(creds)
	require.NoError(t, err)
	s, err := amocrm.NewStore(c, nil)
	require.ErrorContains(t, err, "option 1 is nil")
	require.Nil(t, s)
	_, err = amocrm.NewStore(c, amocrm.WithSource("x"), nil)
	require.ErrorContains(t, err, "option 2 is nil")
}
