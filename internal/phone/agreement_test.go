package phone_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/callbridge/callbridge/internal/phone"
)

// agreementRegions are the countries with national rules.
var agreementRegions = []string{"RU", "KZ", "UA", "BY", "BR"}

// agreementTypes are the number types generated per region, with how many
// numbers of each to generate. Together at least 500 per region.
var agreementTypes = []struct {
	typ   phonenumbers.PhoneNumberType
	name  string
	count int
}{
	{phonenumbers.FIXED_LINE, "fixed", 250},
	{phonenumbers.MOBILE, "mobile", 250},
	{phonenumbers.TOLL_FREE, "toll-free", 40},
	{phonenumbers.VOIP, "voip", 40},
	{phonenumbers.PREMIUM_RATE, "premium", 40},
	{phonenumbers.PERSONAL_NUMBER, "personal", 40},
	{phonenumbers.SHARED_COST, "shared-cost", 40},
}

// disagreement is a class of numbers libphonenumber considers valid on
// which Normalize intentionally differs. Numbers (or, when format is set,
// renderings) matching it are skipped; the test fails if an entry no longer
// matches anything, so the list cannot go stale.
type disagreement struct {
	region, typ string
	format      string                // "" = every format: the number is not generated
	match       func(nsn string) bool // nil = every number of region/typ
	reason      string
}

// intentionalDisagreements is the complete list. Keep it small.
var intentionalDisagreements = []disagreement{
	{region: "RU", typ: "toll-free", match: is14DigitTollFree,
		reason: "14-digit \"8 10 8xx…\" numbers collide with the international prefix 810 followed by " +
			"a non-geographic calling code +8xx; Normalize reads 810 as the international prefix"},
	{region: "BR", typ: "premium",
		reason: "9-digit 0900/0500 numbers written without \"+\" (\"55900123456\") are also DDD 55 + a " +
			"9-digit mobile, so accepting them would break Normalize(Normalize(x)) == Normalize(x); " +
			"premium-rate numbers never call anyone, so Normalize rejects them"},
	{region: "BR", typ: "shared-cost",
		reason: "3003/4004 numbers have no DDD: \"5540041234\" is also DDD 55 + the fixed line 4004-1234 " +
			"(libphonenumber itself reads it so), so Normalize cannot return it and stay idempotent; " +
			"company numbers, not callers"},
	{region: "BY", typ: "premium",
		reason: "\"8 810…\" collides with the international prefix 810; premium numbers are not callers"},
	{region: "BY", typ: "toll-free", format: "nsn", match: func(nsn string) bool { return len(nsn) <= 6 },
		reason: "a bare 6-digit toll-free NSN (\"800123\") is indistinguishable from an internal " +
			"extension; with its trunk prefix or \"+375\" it is accepted"},
}

func is14DigitTollFree(nsn string) bool { return len(nsn) == 14 }

// excluded reports whether the number nsn of region/typ, in format (""
// when deciding whether to generate it), is an intentional disagreement.
func excluded(region, typ, format, nsn string, used map[int]bool) bool {
	for i, d := range intentionalDisagreements {
		if d.region == region && d.typ == typ && d.format == format && (d.match == nil || d.match(nsn)) {
			used[i] = true
			return true
		}
	}
	return false
}

func TestAgreementWithPhonenumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 7))
	counts := map[string]int{}
	formatsChecked := 0
	failures := 0
	usedExclusions := map[int]bool{}
	typeCounts := map[string]int{}
	fail := func(format string, args ...any) {
		t.Helper()
		failures++
		if failures <= 4000 {
			t.Errorf(format, args...)
		}
	}
	for _, region := range agreementRegions {
		numbers := generateValidNumbers(t, rng, region, usedExclusions, typeCounts)
		counts[region] = len(numbers)
		if len(numbers) < 500 {
			t.Errorf("%s: generated %d valid numbers, want at least 500", region, len(numbers))
		}
		for _, gn := range numbers {
			num := gn.num
			want := strings.TrimPrefix(phonenumbers.Format(num, phonenumbers.E164), "+")
			nsn := phonenumbers.GetNationalSignificantNumber(num)
			for _, f := range renderings(rng, region, num) {
				if excluded(region, gn.typ, f.name, nsn, usedExclusions) {
					continue
				}
				formatsChecked++
				got, err := phone.Normalize(f.input, f.region)
				if err != nil || got != want {
					fail("%s %s: Normalize(%q, %q) = %q, %v; want %q (phonenumbers E.164)",
						region, f.name, f.input, f.region, got, err, want)
				}
			}
		}
	}
	for i, d := range intentionalDisagreements {
		if !usedExclusions[i] {
			t.Errorf("intentional disagreement %s/%s %q no longer matches any number; remove it", d.region, d.typ, d.format)
		}
	}
	if failures > 40 {
		t.Errorf("… %d failures in total", failures)
	}
	t.Logf("valid numbers per region: %v; %d formatted inputs checked", counts, formatsChecked)
	t.Logf("per type: %v", typeCounts)
}

// rendering is one way of writing a number.
type rendering struct {
	name   string
	input  string
	region string // default country passed to Normalize
}

var extensions = []string{" доб. 123", " ext. 45", "#404", " x12", " вн. 7", ",,77", " Доб 5", " EXT 1234"}

// brCarriers are Brazilian carrier selection codes.
var brCarriers = []string{"12", "14", "15", "21", "23", "25", "31", "41", "43"}

// renderings returns the realistic ways num is written with its own region
// as the default country, and in international form with the others.
func renderings(rng *rand.Rand, region string, num *phonenumbers.PhoneNumber) []rendering {
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	digits := e164[1:]
	intl := phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
	nat := phonenumbers.Format(num, phonenumbers.NATIONAL)
	natDigits := onlyDigits(nat)
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	cc := strconv.Itoa(int(num.GetCountryCode()))
	ext := func() string { return extensions[rng.IntN(len(extensions))] }

	r := []rendering{
		{"e164", e164, region},
		{"digits", digits, region},
		{"international", intl, region},
		{"national", nat, region},
		{"national digits", natDigits, region},
		{"nsn", nsn, region},
		{"00", "00" + digits, region},
		{"00 spaced", "00 " + intl[1:], region},
		{"rfc3966", phonenumbers.Format(num, phonenumbers.RFC3966), region},
		{"rfc3966 ext", phonenumbers.Format(num, phonenumbers.RFC3966) + ";ext=12", region},
		{"national ext", nat + ext(), region},
		{"international ext", intl + ext(), region},
		{"e164 ext", e164 + ext(), region},
		{"sip", "sip:" + e164 + "@sipproxy.telphin.ru", region},
		{"sip bare", digits + "@crm.megapbx.ru", region},
		{"sip uri in brackets", `"Клиент" <sip:` + e164 + `@pbx.example.com;user=phone>`, region},
		{"percent-encoded", "%2B" + digits, region},
		{"percent-encoded intl", strings.ReplaceAll(strings.ReplaceAll(intl, "+", "%2B"), " ", "%20"), region},
		{"form-decoded plus", " " + digits, region},
		{"nbsp and dashes", strings.NewReplacer(" ", "\u00a0", "-", "‒").Replace(nat), region},
		{"dots", strings.NewReplacer(" ", ".", "-", ".", "(", "", ")", "").Replace(intl), region},
		{"slashes", strings.ReplaceAll(intl, " ", "/"), region},
		{"brackets around cc", "(+" + cc + ") " + nsn, region},
		{"padded", "  \t" + intl + " \n", region},
	}
	switch region {
	case "RU", "KZ":
		r = append(r,
			rendering{"trunk 8", "8" + nsn, region},
			rendering{"trunk 8 after +7", "+7 8 " + nsn, region},
			rendering{"810", "810" + digits, region},
			rendering{"8 10 spaced", "8 10 " + intl[1:], region},
		)
	case "UA":
		r = append(r,
			rendering{"old 80", "8" + natDigits, region},
			rendering{"old 8 0 spaced", "8 " + nat, region},
			rendering{"trunk 0 after +380", "+380 0" + nsn, region},
			rendering{"(0) after +380", "+380 (0)" + nsn, region},
		)
	case "BY":
		r = append(r,
			rendering{"trunk 8 only", "8" + nsn, region},
			rendering{"trunk 0 only", "0" + nsn, region},
			rendering{"trunk 80", "80" + nsn, region},
			rendering{"trunk 80 after +375", "+375 80" + nsn, region},
			rendering{"810", "810" + digits, region},
		)
	case "BR":
		carrier := brCarriers[rng.IntN(len(brCarriers))]
		nat := strings.TrimPrefix(nat, "0") // "0800 123 4567" → "800 123 4567"
		r = append(r,
			rendering{"trunk 0", "0" + nsn, region},
			rendering{"carrier code", "0 " + carrier + " " + nat, region},
			rendering{"carrier code digits", "0" + carrier + nsn, region},
			rendering{"collect call carrier", "90" + carrier + nsn, region},
			rendering{"trunk 0 after +55", "+55 0" + nsn, region},
			rendering{"carrier after +55", "+55 0" + carrier + " " + nsn, region},
			rendering{"55 and national", "55 " + nat, region},
		)
	}
	for _, other := range agreementRegions {
		if other == region || (region == "KZ" && other == "RU") || (region == "RU" && other == "KZ") {
			continue
		}
		r = append(r,
			rendering{"e164 from " + other, e164, other},
			rendering{"00 from " + other, "00" + digits, other},
			rendering{"international from " + other, intl + ext(), other},
		)
		switch other {
		case "RU", "KZ", "BY":
			r = append(r, rendering{"810 from " + other, "8 10 " + intl[1:], other})
		case "BR":
			carrier := brCarriers[rng.IntN(len(brCarriers))]
			r = append(r, rendering{"00+carrier from BR", "00 " + carrier + " " + intl[1:], other})
		}
	}
	return r
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// generateValidNumbers returns numbers of region that phonenumbers
// considers valid, of each type in agreementTypes, drawn deterministically
// from rng. Prefixes are spread: every 3-digit prefix that can start a
// number of the type is found first, then numbers are drawn over them.
type generatedNumber struct {
	num *phonenumbers.PhoneNumber
	typ string
}

func generateValidNumbers(t *testing.T, rng *rand.Rand, region string, usedExclusions map[int]bool, typeCounts map[string]int) []generatedNumber {
	t.Helper()
	md := regionMetadata(t, region)
	cc := md.GetCountryCode()
	var out []generatedNumber
	for _, at := range agreementTypes {
		desc := typeDesc(md, at.typ)
		if desc == nil || desc.GetNationalNumberPattern() == "" || desc.GetNationalNumberPattern() == "NA" {
			continue
		}
		re := regexp.MustCompile(`^(?:` + desc.GetNationalNumberPattern() + `)$`)
		lengths := desc.GetPossibleLength()
		if len(lengths) == 0 {
			lengths = md.GetGeneralDesc().GetPossibleLength()
		}
		type start struct {
			length int
			prefix string
		}
		var starts []start
		for _, l := range lengths {
			if l < 4 {
				continue
			}
			for p := 100; p < 1000; p++ {
				ps := strconv.Itoa(p)
				for try := 0; try < 6; try++ {
					if re.MatchString(ps + randomDigits(rng, int(l)-3)) {
						starts = append(starts, start{int(l), ps})
						break
					}
				}
			}
		}
		if len(starts) == 0 {
			continue
		}
		seen := map[uint64]bool{}
		got := 0
		for tries := 0; got < at.count && tries < at.count*100; tries++ {
			s := starts[rng.IntN(len(starts))]
			nsnStr := s.prefix + randomDigits(rng, s.length-3)
			if !re.MatchString(nsnStr) {
				continue
			}
			nsn, _ := strconv.ParseUint(nsnStr, 10, 64)
			if seen[nsn] {
				continue
			}
			num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nsn}
			if !phonenumbers.IsValidNumber(num) || phonenumbers.GetRegionCodeForNumber(num) != region {
				continue
			}
			if typ := phonenumbers.GetNumberType(num); typ != at.typ &&
				!(typ == phonenumbers.FIXED_LINE_OR_MOBILE && (at.typ == phonenumbers.FIXED_LINE || at.typ == phonenumbers.MOBILE)) {
				continue
			}
			seen[nsn] = true
			if excluded(region, at.name, "", nsnStr, usedExclusions) {
				continue
			}
			out = append(out, generatedNumber{num, at.name})
			got++
			typeCounts[region+"/"+at.name]++
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num.GetNationalNumber() < out[j].num.GetNationalNumber() })
	return out
}

func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

func regionMetadata(t *testing.T, region string) *phonenumbers.PhoneMetadata {
	t.Helper()
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range coll.GetMetadata() {
		if md.GetId() == region {
			return md
		}
	}
	t.Fatalf("no metadata for %s", region)
	return nil
}

func typeDesc(md *phonenumbers.PhoneMetadata, typ phonenumbers.PhoneNumberType) *phonenumbers.PhoneNumberDesc {
	switch typ {
	case phonenumbers.FIXED_LINE:
		return md.GetFixedLine()
	case phonenumbers.MOBILE:
		return md.GetMobile()
	case phonenumbers.SHARED_COST:
		return md.GetSharedCost()
	case phonenumbers.TOLL_FREE:
		return md.GetTollFree()
	case phonenumbers.VOIP:
		return md.GetVoip()
	case phonenumbers.PREMIUM_RATE:
		return md.GetPremiumRate()
	case phonenumbers.PERSONAL_NUMBER:
		return md.GetPersonalNumber()
	}
	panic(fmt.Sprint("unexpected type ", typ))
}
