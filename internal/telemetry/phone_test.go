package telemetry

import "testing"

func TestMaskPhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"79161234567":       "*******4567",
		"+7 (916) 123-4567": "+* (***) ***-4567",
		"380501112233":      "********2233",
		"101":               "101", // an extension stays
		"1234":              "1234",
		"12345":             "*2345",
		"":                  "",
		"anonymous":         "anonymous",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskDigits(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://x.amocrm.ru/api/v4/contacts?query=79161234567&limit=1": "https://x.amocrm.ru/api/v4/contacts?query=*******4567&limit=1",
		"https://x.amocrm.ru/api/v4/leads/12345678":                     "https://x.amocrm.ru/api/v4/leads/12345678", // an id stays
		"a 5511987654321 b 79161234567":                                 "a *********4321 b *******4567",
		"no digits":                                                     "no digits",
		"http://127.0.0.1:8080/x":                                       "http://127.0.0.1:8080/x",
	} {
		if got := MaskDigits(in); got != want {
			t.Errorf("MaskDigits(%q) = %q, want %q", in, got, want)
		}
	}
}
