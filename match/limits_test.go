package match_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
)

func TestClientValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", match.MaxValueLen+1)
	fields := map[string]string{}
	for i := range match.MaxClientFields + 1 {
		fields[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	for name, c := range map[string]match.Client{
		"name":        {Name: long},
		"account":     {Account: long},
		"fields":      {Fields: fields},
		"tags":        {Tags: make([]string, match.MaxClientTags+1)},
		"field value": {Fields: map[string]string{"note": long}},
		"tag":         {Tags: []string{long}},
	} {
		require.ErrorIs(t, c.Validate(), match.ErrTooLarge, name)
	}
	require.NoError(t, match.Client{Name: strings.Repeat("x", match.MaxValueLen), Tags: make([]string, match.MaxClientTags)}.Validate())
}
