package gateway

import (
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/live"
	"github.com/callbridge/callbridge/match"
)

// TestMessages: every language has every message id of the first, and
// nothing else; every id the templates and the script name, literally or
// by a known prefix and value, is there.
func TestMessages(t *testing.T) {
	ids := slices.Sorted(maps.Keys(messages[languages[0]]))
	require.Equal(t, len(languages), len(messages), "a map per language")
	for _, l := range languages {
		require.Equal(t, ids, slices.Sorted(maps.Keys(messages[l])), "the ids of %s", l)
		for id, s := range messages[l] {
			require.NotEmpty(t, s, "%s %s", l, id)
		}
	}
	var used []string
	for _, f := range []string{"templates/workspace.html", "templates/signin.html", "static/workspace.js"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(?:\.T "|\bt\(')([a-z_]+\.[a-z_]+)`).FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
	}
	require.Greater(t, len(used), 80, "the ids were found")
	for _, v := range []string{"ringing", "talking", "on_hold", "waiting", "transferred", "ended"} {
		used = append(used, "state."+v)
	}
	for _, d := range []string{"inbound", "outbound", "internal"} {
		used = append(used, "dir."+d)
	}
	for _, s := range callStatuses() {
		used = append(used, "outcome."+s)
	}
	for k := match.NotifyMissed; k <= match.NotifyIntegration; k++ {
		used = append(used, "note."+k.String())
	}
	for _, s := range []string{live.CampaignDialing, live.CampaignTalking, live.CampaignWrapUp, live.CampaignPaused, live.CampaignDone} {
		used = append(used, "campaign."+s)
	}
	for _, id := range used {
		require.Contains(t, ids, id, "a message the workspace shows")
	}
}

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                           "ru",
		"en":                         "en",
		"en-US,en;q=0.9,ru;q=0.8":    "en",
		"ru-RU,ru;q=0.9,en-US;q=0.8": "ru",
		"de-DE,de;q=0.9,en;q=0.5":    "en",
		"de":                         "ru",
		"en;q=0,ru;q=0.1":            "ru",
		"en;q=x":                     "ru",
		"uk-UA,uk;q=0.9":             "ru",
	} {
		require.Equal(t, want, acceptLanguage(h), "%q", h)
	}
	r, _ := http.NewRequest(http.MethodGet, "/?lang=en", nil)
	r.Header.Set("Accept-Language", "ru")
	require.Equal(t, "en", requestLang(r, "ru"), "the switch first")
	r, _ = http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Language", "ru")
	require.Equal(t, "en", requestLang(r, "en"), "then the employee's setting")
}

// TestPasswordHash: a hash matches its password only; malformed hashes
// are refused, saying why without the hash.
func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("pass word", MinPasswordIterations)
	require.NoError(t, err)
	ph, err := parsePasswordHash(h)
	require.NoError(t, err)
	require.True(t, ph.matches("pass word"))
	require.False(t, ph.matches("pass word "))
	require.False(t, ph.matches(""))
	h2, err := hashPassword("pass word", MinPasswordIterations)
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "a random salt")
	_, err = hashPassword("", MinPasswordIterations)
	require.Error(t, err)
	for _, bad := range []string{"", "pbkdf2-sha256$10$AAAAAAAAAAA$AAAA", "bcrypt$x", "pbkdf2-sha256$600000$!!$AAAA",
		"pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAA"} {
		_, err := parsePasswordHash(bad)
		require.Error(t, err, bad)
		if bad != "" {
			require.NotContains(t, err.Error(), bad)
		}
	}
	require.NotZero(t, dummyHash.iter, "the dummy hash parses")
}
