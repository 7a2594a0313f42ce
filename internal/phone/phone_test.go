package phone_test

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/callbridge/callbridge/internal/phone"
)

type normalizeCase struct {
	in      string
	country string
	want    string
	err     error // sentinel; nil = success
}

func runCases(t *testing.T, cases []normalizeCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := phone.Normalize(tc.in, tc.country)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || got != "" {
				t.Errorf("Normalize(%q, %q) = %q, %v; want error %v", tc.in, tc.country, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q", tc.in, tc.country, got, err, tc.want)
		}
	}
}

func TestNormalizeRU(t *testing.T) {
	runCases(t, []normalizeCase{
		{"79161234567", "RU", "79161234567", nil},
		{"+79161234567", "RU", "79161234567", nil},
		{"89161234567", "RU", "79161234567", nil},
		{"9161234567", "RU", "79161234567", nil},
		{"8 (916) 123-45-67", "RU", "79161234567", nil},
		{"+7 (916) 123-45-67", "", "79161234567", nil},
		{"+7 916 123 45 67", "ru", "79161234567", nil},
		{"+7-916-123-45-67", "RU", "79161234567", nil},
		{"8.916.123.45.67", "RU", "79161234567", nil},
		{"8/916/1234567", "RU", "79161234567", nil},
		{"8\u00a0916\u00a0123\u201245\u201367", "RU", "79161234567", nil}, // NBSP, figure dash, en dash
		{"+7 (495) 123-45-67 доб. 123", "RU", "74951234567", nil},
		{"8 (812) 335-11-27", "RU", "78123351127", nil},
		{"8123351127", "RU", "78123351127", nil},
		{"8 800 555-35-35", "RU", "78005553535", nil},
		{"88005553535", "RU", "78005553535", nil},
		{"+7 8 916 123 45 67", "RU", "79161234567", nil}, // trunk prefix after +7
		{"007 916 123 45 67", "RU", "79161234567", nil},
		{"8 10 7 916 123 45 67", "RU", "79161234567", nil},
		// Telphin: "+" percent-encoded, or turned into a space by form decoding.
		{"%2B78123351127", "RU", "78123351127", nil},
		{" 78123351127", "RU", "78123351127", nil},
		{"tel:+7-916-123-45-67", "RU", "79161234567", nil},
		{"sip:+79161234567@sipproxy.telphin.ru", "RU", "79161234567", nil},
		// MegaFon: bare international digits, user@domain for mobile bridges.
		{"79223374067@crm.megapbx.ru", "RU", "79223374067", nil},
		{"７９１６１２３４５６７", "RU", "79161234567", nil}, // full-width digits
		// Wrong shapes.
		{"7916123456", "RU", "", phone.ErrInvalid},   // a digit missing; 79x is not a KZ code
		{"891612345678", "RU", "", phone.ErrInvalid}, // 12 digits
		{"+7 916 123 45 6", "RU", "", phone.ErrInvalid},
		{"+7 616 123 45 67", "RU", "", phone.ErrInvalid}, // +7 6xx is unassigned
		{"8 (216) 123-45-67", "RU", "", phone.ErrInvalid},
		{"1234567", "RU", "", phone.ErrInvalid}, // local number without area code
	})
}

func TestNormalizeKZ(t *testing.T) {
	runCases(t, []normalizeCase{
		{"+7 701 234 56 78", "KZ", "77012345678", nil},
		{"8 701 234 56 78", "KZ", "77012345678", nil},
		{"87012345678", "kz", "77012345678", nil},
		{"77012345678", "KZ", "77012345678", nil},
		{"7012345678", "KZ", "77012345678", nil},
		{"8 (7172) 12-34-56", "KZ", "77172123456", nil},
		{"7012345678", "RU", "77012345678", nil}, // RU and KZ share +7
		{"8 (916) 123-45-67", "KZ", "79161234567", nil},
	})
}

func TestNormalizeUA(t *testing.T) {
	runCases(t, []normalizeCase{
		{"0671234567", "UA", "380671234567", nil},
		{"067 123 45 67", "UA", "380671234567", nil},
		{"(067) 123-45-67", "UA", "380671234567", nil},
		{"0 44 123 45 67", "UA", "380441234567", nil},
		{"380671234567", "UA", "380671234567", nil},
		{"+380671234567", "UA", "380671234567", nil},
		{"+380 67 123 45 67", "ua", "380671234567", nil},
		{"+38 (067) 123-45-67", "UA", "380671234567", nil},
		{"00380671234567", "UA", "380671234567", nil},
		{"80671234567", "UA", "380671234567", nil}, // the old "8 0XX" habit
		{"8 067 123 45 67", "UA", "380671234567", nil},
		{"8 044 123 45 67", "UA", "380441234567", nil},
		{"671234567", "UA", "380671234567", nil},
		{"+380 (0)67 123 45 67", "UA", "380671234567", nil},
		{"0 800 123 4567", "UA", "3808001234567", nil},
		{"%2B380501112233", "UA", "380501112233", nil}, // Phonet customer lookup URL
		{"+380501112233", "RU", "380501112233", nil},
		{"380501112233", "RU", "380501112233", nil}, // MegaFon-style bare international
		{"001", "UA", "", phone.ErrInternal},        // Phonet legExt
		{"067123456", "UA", "", phone.ErrInvalid},
		{"06712345678", "UA", "", phone.ErrInvalid},
		{"0271234567", "UA", "", phone.ErrInvalid}, // NSN cannot start with 2
	})
}

func TestNormalizeBY(t *testing.T) {
	runCases(t, []normalizeCase{
		{"8 029 123 45 67", "BY", "375291234567", nil},
		{"8 029 1234567", "BY", "375291234567", nil},
		{"80291234567", "BY", "375291234567", nil},
		{"8 (029) 123-45-67", "by", "375291234567", nil},
		{"8 29 1234567", "BY", "375291234567", nil},
		{"029 123 45 67", "BY", "375291234567", nil},
		{"291234567", "BY", "375291234567", nil},
		{"375291234567", "BY", "375291234567", nil},
		{"+375291234567", "BY", "375291234567", nil},
		{"+375 (29) 123-45-67", "BY", "375291234567", nil},
		{"+375 8029 1234567", "BY", "375291234567", nil},
		{"8 017 123 45 67", "BY", "375171234567", nil}, // Minsk
		{"8 800 123 45 67", "BY", "3758001234567", nil},
		{"+375 29 123-45-67", "RU", "375291234567", nil},
		{"375291234567", "RU", "375291234567", nil},
		{"8 10 7 916 123 45 67", "BY", "79161234567", nil},
		{"8 029 123 45 6", "BY", "", phone.ErrInvalid},
		{"8 019 123 45 67", "BY", "", phone.ErrInvalid},
	})
}

func TestNormalizeBR(t *testing.T) {
	runCases(t, []normalizeCase{
		{"(11) 91234-5678", "BR", "5511912345678", nil},
		{"11 91234-5678", "BR", "5511912345678", nil},
		{"11912345678", "BR", "5511912345678", nil},
		{"011 91234 5678", "BR", "5511912345678", nil},
		{"011912345678", "BR", "5511912345678", nil},
		{"0 21 11 91234-5678", "BR", "5511912345678", nil}, // carrier selection code 21
		{"02111912345678", "BR", "5511912345678", nil},
		{"0 15 (11) 91234-5678", "br", "5511912345678", nil},
		{"90 21 11 91234-5678", "BR", "5511912345678", nil}, // collect call
		{"5511912345678", "BR", "5511912345678", nil},
		{"+55 11 91234-5678", "BR", "5511912345678", nil},
		{"+55 (11) 9 1234-5678", "BR", "5511912345678", nil},
		{"+55 0 11 91234 5678", "BR", "5511912345678", nil},
		{"0055 11 91234 5678", "BR", "5511912345678", nil},
		{"41 3512-0248", "BR", "554135120248", nil}, // Finaz manual: DDD + fixed line
		{"(41) 3512-0248", "BR", "554135120248", nil},
		{"554135120248", "BR", "554135120248", nil},
		{"(55) 3222-1234", "BR", "555532221234", nil}, // DDD 55 is Rio Grande do Sul
		{"555532221234", "BR", "555532221234", nil},
		{"0800 123 4567", "BR", "558001234567", nil},
		// Legacy 8-digit mobiles get the ninth digit (mandatory since 2016)…
		{"(11) 8765-4321", "BR", "5511987654321", nil},
		{"+55 11 8765-4321", "BR", "5511987654321", nil},
		{"(21) 9876-5432", "BR", "5521998765432", nil},
		{"(31) 6123-4567", "BR", "5531961234567", nil},
		// …except 7xxx-xxxx, which libphonenumber keeps as a valid mobile.
		{"(11) 7765-4321", "BR", "551177654321", nil},
		// International from Brazil: 00 + carrier + number.
		{"0021 1 212 555 1234", "BR", "12125551234", nil},
		{"00 41 7 916 123 45 67", "BR", "79161234567", nil},
		{"+55 11 91234-5678", "RU", "5511912345678", nil},
		{"5511912345678", "RU", "5511912345678", nil},
		// Wrong shapes.
		{"3512-0248", "BR", "", phone.ErrInvalid},       // no DDD
		{"(20) 91234-5678", "BR", "", phone.ErrInvalid}, // DDD 20 does not exist
		{"20912345678", "BR", "20912345678", nil},       // but bare digits may be international (+20, Egypt)
		{"(11) 1234-5678", "BR", "", phone.ErrInvalid},  // subscriber cannot start with 1
		{"(11) 81234-5678", "BR", "", phone.ErrInvalid}, // 9-digit subscriber must start with 9
		{"4004-1234", "BR", "", phone.ErrInvalid},       // shared-cost numbers are not supported
	})
}

func TestNormalizeInternational(t *testing.T) {
	runCases(t, []normalizeCase{
		{"+1 (212) 555-1234", "RU", "12125551234", nil},
		{"001 212 555 1234", "UA", "12125551234", nil},
		{"12125551234", "RU", "12125551234", nil},
		{"+44 20 7946 0958", "BY", "442079460958", nil},
		{"+44 (0)20 7946 0958", "RU", "442079460958", nil},
		{"+49 30 123456", "BR", "4930123456", nil},
		{"+49301234", "RU", "49301234", nil},
		{"+86 138 0013 8000", "RU", "8613800138000", nil},
		{"+998 90 123 45 67", "RU", "998901234567", nil},
		{"+996 555 123 456", "KZ", "996555123456", nil},
		{"+374 10 123456", "RU", "37410123456", nil},
		{"+800 1234 5678", "RU", "80012345678", nil},    // non-geographic
		{"+1 112 555 1234", "RU", "", phone.ErrInvalid}, // NANP area codes start with 2-9
		{"+1 212 555 123", "RU", "", phone.ErrInvalid},
		{"+44 20 7946 0958 1234", "RU", "", phone.ErrInvalid},
		{"+999 123 456 789", "RU", "", phone.ErrInvalid}, // unassigned calling code
		{"+0 123 456 789", "RU", "", phone.ErrInvalid},
		{"+123456789012345678", "RU", "", phone.ErrInvalid},
		{"+7 916", "RU", "", phone.ErrInvalid},
		{"+101", "RU", "", phone.ErrInvalid},
		{"49301234", "RU", "", phone.ErrInvalid}, // too short to be international without a prefix
	})
}

func TestNormalizeExtensions(t *testing.T) {
	runCases(t, []normalizeCase{
		{"+7 (495) 123-45-67 доб. 123", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67 доб 123", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67 ДОБ. 123", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67, доб. 123", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67 (доб. 123)", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67 добавочный 123", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67 доп. 123", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67 вн. 12", "RU", "74951234567", nil},
		{"+7 (495) 123-45-67 Вн.12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 ext 12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 ext. 12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 EXT.12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 extension 12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 x12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 X 12", "RU", "74951234567", nil},
		{"+7 495 123 45 67#12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 #12#", "RU", "74951234567", nil},
		{"+7 495 123 45 67,,12", "RU", "74951234567", nil},
		{"+7 495 123 45 67 доб.", "RU", "74951234567", nil},
		{"tel:+7-495-123-45-67;ext=12", "RU", "74951234567", nil},
		{"%2B74951234567%2312", "RU", "74951234567", nil},
		{"044 123 45 67 дод. 12", "UA", "380441234567", nil},
		{"(11) 3512-0248 ramal 12", "BR", "551135120248", nil},
		{"+7 495 123 45 67 extra 12", "RU", "", phone.ErrInvalid},
		{"+7 495 123 45 67 доб. 123456789", "RU", "", phone.ErrInvalid}, // too long for an extension
		{"+7 495 123 45 67, +7 495 765 43 21", "RU", "", phone.ErrInvalid},
		{"+7 495 123 45 67 доб. 12 вн. 3", "RU", "", phone.ErrInvalid},
		{"доб. 123", "RU", "", phone.ErrInvalid},
		{"#123", "RU", "", phone.ErrInvalid},
	})
}

func TestNormalizeInternal(t *testing.T) {
	runCases(t, []normalizeCase{
		{"101", "RU", "", phone.ErrInternal},
		{"5001", "RU", "", phone.ErrInternal},
		{"12", "RU", "", phone.ErrInternal},
		{"123456", "BR", "", phone.ErrInternal},
		{"001", "UA", "", phone.ErrInternal},
		{"15400*101", "RU", "", phone.ErrInternal},
		{"15400*101@sipproxy.telphin.ru", "RU", "", phone.ErrInternal},
		{"3515%2A101%40sipproxy.telphin.ru", "RU", "", phone.ErrInternal},
		{"100*0111", "RU", "", phone.ErrInternal},
		{"sip:101@pbx.example.com", "RU", "", phone.ErrInternal},
		{"15400*", "RU", "", phone.ErrInvalid},
		{"*101", "RU", "", phone.ErrInvalid},
		{"+15400*101", "RU", "", phone.ErrInvalid},
		{"1*2*3", "RU", "", phone.ErrInvalid},
		{"1", "RU", "", phone.ErrInvalid},
	})
}

func TestNormalizeAnonymous(t *testing.T) {
	var cases []normalizeCase
	for _, in := range []string{
		"", " ", "\t\n", "anonymous", "Anonymous", "ANONYMOUS", "unknown", "Unknown", "private",
		"Private Number", "restricted", "unavailable", "Hidden", "withheld", "null",
		"скрыт", "Скрытый", "СКРЫТЫЙ НОМЕР", "неизвестно", "прихований", "desconhecido",
		"0", "00", "00000", "+0", "+", " + ", "-", "()",
		"sip:anonymous@anonymous.invalid", `"Anonymous" <sip:anonymous@anonymous.invalid>`,
		"tel:", "sip:@example.com",
	} {
		cases = append(cases, normalizeCase{in, "RU", "", phone.ErrAnonymous})
	}
	runCases(t, cases)
}

func TestNormalizeGarbage(t *testing.T) {
	var cases []normalizeCase
	for _, in := range []string{
		"hello", "admin", "admin@vats123456.megapbx.ru", "g_e2079b5f@domain", "8-800-GOOD-BOY",
		"79161234567abc", "abc79161234567", "+7 916 123 45 67 !", "7916123456789012345678901234567890",
		strings.Repeat("7", 65), strings.Repeat(" ", 100) + "79161234567" + strings.Repeat("x", 2000),
		"\xff\xfe\xfd", "79161234567\xff", "++79161234567", "+7+9161234567", "7916+1234567",
		"%ZZ79161234567", "%2", "%25", "%C2%A079161234567", "<sip:79161234567@host", "8 (916) 123-45-67 доб. 12 доб",
		"2001:db8::1", "скрыт 123",
	} {
		cases = append(cases, normalizeCase{in, "RU", "", phone.ErrInvalid})
	}
	runCases(t, cases)
}

func TestNormalizeCountry(t *testing.T) {
	for _, c := range []string{"US", "DE", "RUS", "R", "ru ", "7", "\x00\x00", "Россия"} {
		got, err := phone.Normalize("79161234567", c)
		if !errors.Is(err, phone.ErrUnknownCountry) || got != "" {
			t.Errorf("Normalize(_, %q) = %q, %v; want ErrUnknownCountry", c, got, err)
		}
		if errors.Is(err, phone.ErrInvalid) {
			t.Errorf("Normalize(_, %q): unknown country must not be ErrInvalid", c)
		}
	}
	for _, c := range []string{"", "RU", "ru", "Ru", "KZ", "kz", "UA", "ua", "BY", "by", "BR", "br"} {
		if _, err := phone.Normalize("+79161234567", c); err != nil {
			t.Errorf("Normalize(_, %q): %v", c, err)
		}
	}
}

func TestNormalizeErrorMessages(t *testing.T) {
	_, err := phone.Normalize("8-800-GOOD", "RU")
	if err == nil || !strings.Contains(err.Error(), `"8-800-GOOD"`) || !errors.Is(err, phone.ErrInvalid) {
		t.Errorf("error %v should wrap ErrInvalid and quote the input", err)
	}
	_, err = phone.Normalize(strings.Repeat("9", 5000), "RU")
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("error for a huge input should be short, got %d bytes", len(err.Error()))
	}
	_, err = phone.Normalize("79161234567", "XX")
	if err == nil || !strings.Contains(err.Error(), `"XX"`) {
		t.Errorf("unknown country error %v should quote the country", err)
	}
	// Routine outcomes are the bare sentinels (no allocation).
	if _, err := phone.Normalize("101", "RU"); err != phone.ErrInternal {
		t.Errorf("internal: got %v, want the ErrInternal sentinel itself", err)
	}
	if _, err := phone.Normalize("anonymous", "RU"); err != phone.ErrAnonymous {
		t.Errorf("anonymous: got %v, want the ErrAnonymous sentinel itself", err)
	}
}

// TestNormalizeReturnsInputSubstring checks that a result found verbatim in
// the input is returned without copying.
func TestNormalizeReturnsInputSubstring(t *testing.T) {
	for _, in := range []string{"79161234567", "+79161234567", "tel:+79161234567", " 380671234567 ", "sip:+5511912345678@host"} {
		got, err := phone.Normalize(in, "RU")
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(in, got)
		if i < 0 || !sameMemory(got, in[i:i+len(got)]) {
			t.Errorf("Normalize(%q) = %q is not a substring of the input's memory", in, got)
		}
	}
}

func sameMemory(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

func TestCheckCountry(t *testing.T) {
	for _, cc := range []string{"", "RU", "kz", "Ua", "BY", "br"} {
		if err := phone.CheckCountry(cc); err != nil {
			t.Errorf("CheckCountry(%q) = %v", cc, err)
		}
	}
	for _, cc := range []string{"US", "R", "RUS", "xx"} {
		if err := phone.CheckCountry(cc); !errors.Is(err, phone.ErrUnknownCountry) {
			t.Errorf("CheckCountry(%q) = %v, want ErrUnknownCountry", cc, err)
		}
	}
}
