package amocrm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
)

// TestSetClientFields: client fields go to the contact's custom fields,
// found by name or code (or mapped by id), with one PATCH; "" clears a
// field; a numeric field gets a number; a key with no field, or a field
// that cannot hold text, is an error naming it (the other keys are
// written); amoCRM's 400 for a mapped id names the key.
func TestSetClientFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   []amocrm.StoreOption
		before map[string]string // the contact's fields before
		set    map[string]string
		// wantBody is the PATCH body ("" = no PATCH).
		wantBody string
		want     map[string]string // the contact's fields after
		wantErr  []string          // substrings of the error
		errIs    error
	}{
		{
			name: "by name and by code",
			set:  map[string]string{"megafon_call_id": "mf1", "megafon_call_direction": "in"},
			wantBody: mustJSON([]any{map[string]any{"id": 1002, "request_id": "0", "custom_fields_values": []any{
				map[string]any{"field_id": 2002, "values": []any{map[string]any{"value": "in"}}},
				map[string]any{"field_id": 2001, "values": []any{map[string]any{"value": "mf1"}}}}}}),
			want: map[string]string{"megafon_call_id": "mf1", "Направление звонка": "in"},
		},
		{
			name:   "an empty value clears the field (values: null)",
			before: map[string]string{"megafon_call_id": "old", "megafon_record_link": "https://r/1.mp3"},
			set:    map[string]string{"megafon_call_id": "mf2", "megafon_record_link": ""},
			wantBody: mustJSON([]any{map[string]any{"id": 1002, "request_id": "0", "custom_fields_values": []any{
				map[string]any{"field_id": 2001, "values": []any{map[string]any{"value": "mf2"}}},
				map[string]any{"field_id": 2005, "values": nil}}}}),
			want: map[string]string{"megafon_call_id": "mf2"},
		},
		{
			name: "a numeric field gets a number",
			set:  map[string]string{"megafon_call_ext": "101"},
			wantBody: mustJSON([]any{map[string]any{"id": 1002, "request_id": "0", "custom_fields_values": []any{
				map[string]any{"field_id": 2003, "values": []any{map[string]any{"value": 101}}}}}}),
			want: map[string]string{"megafon_call_ext": "101"},
		},
		{
			name: "a key with no field: an error naming it; the other keys are written",
			set:  map[string]string{"megafon_call_id": "mf3", "salebot_var": "x", "megafon_call_ext": "not a number"},
			wantBody: mustJSON([]any{map[string]any{"id": 1002, "request_id": "0", "custom_fields_values": []any{
				map[string]any{"field_id": 2001, "values": []any{map[string]any{"value": "mf3"}}}}}}),
			want:    map[string]string{"megafon_call_id": "mf3"},
			errIs:   amocrm.ErrUnknownField,
			wantErr: []string{`"salebot_var" (no contact custom field`, `"megafon_call_ext" (field 2003 is numeric`, "WithContactFields"},
		},
		{
			name:    "a field that cannot hold text is refused by name",
			set:     map[string]string{"megafon_call_user": "8375357"},
			errIs:   amocrm.ErrUnknownField,
			wantErr: []string{`"megafon_call_user"`, "type select"},
		},
		{
			name: "mapped by id: no lookup",
			opts: []amocrm.StoreOption{amocrm.WithContactFields(map[string]int64{"call": 2001})},
			set:  map[string]string{"call": "mf4"},
			wantBody: mustJSON([]any{map[string]any{"id": 1002, "request_id": "0", "custom_fields_values": []any{
				map[string]any{"field_id": 2001, "values": []any{map[string]any{"value": "mf4"}}}}}}),
			want: map[string]string{"megafon_call_id": "mf4"},
		},
		{
			name: "a mapped id the account lacks: amoCRM's 400 names the key",
			opts: []amocrm.StoreOption{amocrm.WithContactFields(map[string]int64{"megafon_call_id": 2001, "megafon_call_ext": 999})},
			set:  map[string]string{"megafon_call_id": "mf5", "megafon_call_ext": "101"},
			wantBody: mustJSON([]any{map[string]any{"id": 1002, "request_id": "0", "custom_fields_values": []any{
				map[string]any{"field_id": 999, "values": []any{map[string]any{"value": "101"}}},
				map[string]any{"field_id": 2001, "values": []any{map[string]any{"value": "mf5"}}}}}}),
			wantErr: []string{`set client fields "megafon_call_ext" of contact 1002`, "custom_fields_values.0.field_id", "NotSupportedChoice"},
		},
		{
			name:    "over the client limits: nothing sent",
			set:     map[string]string{"megafon_call_id": strings.Repeat("x", match.MaxValueLen+1)},
			errIs:   match.ErrTooLarge,
			wantErr: []string{"megafon_call_id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := amocrmtest.NewServer()
			t.Cleanup(srv.Close)
			store, err := amocrm.NewStore(newTokenClient(t, srv), tt.opts...) // the token is 1001
			require.NoError(t, err)
			id := srv.AddContact(amocrmtest.Contact{Name: "Иван", Phones: []string{"+79161111111"}, Fields: tt.before})
			for i, f := range []amocrmtest.Field{
				{Name: "megafon_call_id"}, {Name: "Направление звонка", Code: "MEGAFON_CALL_DIRECTION"},
				{Name: "megafon_call_ext", Type: "numeric"}, {Name: "megafon_call_user", Type: "select"}, {Name: "megafon_record_link", Type: "url"},
			} {
				f.ID = int64(2001 + i)
				srv.AddContactField(f)
			}
			err = store.SetClientFields(t.Context(), acct, itoa(id), tt.set)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					require.ErrorContains(t, err, s)
				}
			}
			if tt.errIs != nil {
				require.ErrorIs(t, err, tt.errIs)
			}
			var patches []string
			for _, r := range requests(srv) {
				if b, ok := strings.CutPrefix(r, "PATCH /api/v4/contacts "); ok {
					patches = append(patches, b)
				}
			}
			if tt.wantBody == "" {
				require.Empty(t, patches)
			} else {
				require.Equal(t, []string{tt.wantBody}, patches)
			}
			if tt.want != nil {
				require.Equal(t, tt.want, srv.Contacts()[0].Fields)
			}
		})
	}
}

// The custom fields are listed once (all pages) and cached; a key with no
// field lists them again once, so a field made meanwhile is found; the
// written values are seen by the next lookup, without a request.
func TestSetClientFieldsCachesTheFields(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	for i := range 300 { // two pages
		srv.AddContactField(amocrmtest.Field{Name: "f" + itoa(int64(i))})
	}
	srv.AddContactField(amocrmtest.Field{ID: 9001, Name: "megafon_call_id"})
	srv.AddContact(amocrmtest.Contact{Name: "Иван", Phones: []string{"+79161111111"}})
	store, err := amocrm.NewStore(newTokenClient(t, srv))
	require.NoError(t, err)
	ctx := t.Context()
	c, ok, err := store.FindClientByPhone(ctx, acct, "79161111111")
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, store.SetClientFields(ctx, acct, c.ID, map[string]string{"megafon_call_id": "mf1"}))
	require.Equal(t, 2, srv.Count("GET", "/api/v4/contacts/custom_fields"), "both pages")
	require.NoError(t, store.SetClientFields(ctx, acct, c.ID, map[string]string{"megafon_call_id": "mf2"}))
	require.Equal(t, 2, srv.Count("GET", "/api/v4/contacts/custom_fields"), "cached")

	err = store.SetClientFields(ctx, acct, c.ID, map[string]string{"megafon_call_ext": "101"})
	require.ErrorIs(t, err, amocrm.ErrUnknownField)
	require.Equal(t, 4, srv.Count("GET", "/api/v4/contacts/custom_fields"), "a miss lists again")
	srv.AddContactField(amocrmtest.Field{Name: "megafon_call_ext"})
	err = store.SetClientFields(ctx, acct, c.ID, map[string]string{"megafon_call_ext": "101"})
	require.ErrorIs(t, err, amocrm.ErrUnknownField, "not before the cache period ends")
	require.Equal(t, 4, srv.Count("GET", "/api/v4/contacts/custom_fields"), "at most once per cache period")

	searches := srv.Count("GET", "/api/v4/contacts")
	c, _, err = store.FindClientByPhone(ctx, acct, "79161111111")
	require.NoError(t, err)
	require.Equal(t, "mf2", c.Fields["megafon_call_id"], "the cached contact carries the written value")
	require.Equal(t, searches, srv.Count("GET", "/api/v4/contacts"), "no new search")

	require.Error(t, store.SetClientFields(ctx, acct, "x", map[string]string{"a": "b"}), "not a contact id")
	require.NoError(t, store.SetClientFields(ctx, acct, c.ID, nil), "nothing to set")
}

func TestStoreFieldAndUnsortedOptions(t *testing.T) {
	t.Parallel()
	srv := amocrmtest.NewServer()
	t.Cleanup(srv.Close)
	c := newTokenClient(t, srv)
	for name, opt := range map[string]amocrm.StoreOption{
		"empty key":         amocrm.WithContactFields(map[string]int64{"": 1}),
		"zero id":           amocrm.WithContactFields(map[string]int64{"a": 0}),
		"negative pipeline": amocrm.WithUnsorted(-1),
	} {
		_, err := amocrm.NewStore(c, opt)
		require.Error(t, err, name)
		require.False(t, errors.Is(err, amocrm.ErrUnknownField), name)
	}
}
