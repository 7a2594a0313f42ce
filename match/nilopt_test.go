package match_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/match/memstore"
)

// No constructor panics: a nil option is an error naming its position.
func TestNilOptionIsAnError(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	require.NoError(t, err)
	_, err = match.NewEngine(s, nil)
	require.ErrorContains(t, err, "option 1 is nil")
	_, err = match.NewEngine(s, match.WithMeterProvider(nil))
	require.ErrorContains(t, err, "nil meter provider")
	_, err = match.NewEngine(s, match.WithTracerProvider(nil))
	require.ErrorContains(t, err, "nil tracer provider")
}
