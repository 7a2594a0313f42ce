package megafon_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/callevent"
	"github.com/callbridge/callbridge/megafon"
	"github.com/callbridge/callbridge/webhook"
)

// No constructor panics: a nil option is an error naming its position.
func TestNilOptionIsAnError(t *testing.T) {
	t.Parallel()
	_, err := megafon.NewClient(megafon.Credentials{Domain: "vats1.megapbx.ru", APIKey: "k"}, nil)
	require.ErrorContains(t, err, "option 1 is nil")
	sink := callevent.SinkFunc(nil)
	_, err = megafon.NewHandler(sink, webhook.WithToken("t"), nil)
	require.ErrorContains(t, err, "option 2 is nil")
}
