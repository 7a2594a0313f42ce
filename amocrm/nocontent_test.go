package amocrm_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge"
	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
)

// A6: a 204 to a write that should place entities is ErrEntityNotFound,
// never an empty success.
func TestWritesAnswered204(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c, err := amocrm.NewClient(amocrm.Credentials{Domain: amocrmtest.Domain, LongLivedToken: "llt"},
		callbridge.WithBaseURL(srv.URL), noRetries(), noRateLimit())
	require.NoError(t, err)
	call := amocrm.Call{Direction: amocrm.Inbound, Phone: "+79161111111", Source: "x"}
	writes := map[string]func() (int, error){
		"AddCalls": func() (int, error) {
			r, err := c.AddCalls(t.Context(), []amocrm.Call{call})
			return len(r), err
		},
		"AddCallNotes": func() (int, error) {
			r, err := c.AddCallNotes(t.Context(), amocrm.EntityLeads, []amocrm.CallNote{{EntityID: 7, Call: call}})
			return len(r), err
		},
		"AddUnsortedSIP": func() (int, error) {
			r, err := c.AddUnsortedSIP(t.Context(), []amocrm.UnsortedSIP{{SourceUID: "u", SourceName: "n"}})
			return len(r), err
		},
		"CreateLeadsComplex": func() (int, error) {
			r, err := c.CreateLeadsComplex(t.Context(), []amocrm.Lead{{Name: "l"}})
			return len(r), err
		},
		"CreateLeads": func() (int, error) {
			r, err := c.CreateLeads(t.Context(), []amocrm.Lead{{Name: "l"}})
			return len(r), err
		},
		"CreateContacts": func() (int, error) {
			r, err := c.CreateContacts(t.Context(), []amocrm.Contact{{Name: "c"}})
			return len(r), err
		},
		"UpdateContacts": func() (int, error) {
			r, err := c.UpdateContacts(t.Context(), []amocrm.Contact{{ID: 5, Name: "c"}})
			return len(r), err
		},
		"CreateCompanies": func() (int, error) {
			r, err := c.CreateCompanies(t.Context(), []amocrm.Company{{Name: "c"}})
			return len(r), err
		},
		"UpdateCompanies": func() (int, error) {
			r, err := c.UpdateCompanies(t.Context(), []amocrm.Company{{ID: 5, Name: "c"}})
			return len(r), err
		},
	}
	for name, write := range writes {
		n, err := write()
		require.Error(t, err, name)
		require.Zero(t, n, name)
		require.ErrorIs(t, err, amocrm.ErrEntityNotFound, name)
		require.ErrorContains(t, err, "204", name)
	}
}
