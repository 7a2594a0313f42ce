package phone

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors returned by [Normalize]. Compare with errors.Is.
var (
	// ErrInvalid reports a value that is not a valid phone number: letters,
	// a wrong length for the country, an unknown calling code, garbage.
	// Normalize wraps it with the quoted input and a short reason.
	ErrInvalid = errors.New("phone: invalid number")

	// ErrInternal reports an internal PBX extension rather than a phone
	// number: 2–6 digits ("101", "5001", "001") or a Telphin extension name
	// "<client prefix>*<extension>" ("15400*101", "15400*101@sipproxy.telphin.ru").
	ErrInternal = errors.New("phone: internal extension, not a phone number")

	// ErrAnonymous reports a hidden caller: an empty value, "anonymous",
	// "unknown", "private", "restricted", "unavailable", "hidden", "скрыт",
	// "скрытый", all zeros ("0", "00000"), a lone "+", and the like.
	ErrAnonymous = errors.New("phone: anonymous caller")

	// ErrUnknownCountry reports a default country Normalize has no national
	// rules for. Supported: "RU", "KZ", "UA", "BY", "BR" (any case) and "",
	// which means "RU". It is a configuration error, so Normalize checks it
	// before looking at the number.
	ErrUnknownCountry = errors.New("phone: unsupported default country")
)

// MaxInputLen is the longest input, in bytes after trimming surrounding
// white space, that [Normalize] looks at. Longer values are rejected with
// [ErrInvalid] without being scanned.
const MaxInputLen = 64

const (
	// maxRawLen bounds the work done by the white-space trim.
	maxRawLen = 1024
	// minBareIntl is the shortest digit string without "+" or "00" that is
	// taken as an international number of another country.
	minBareIntl = 10
	// maxExtDigits is the longest extension suffix that is stripped.
	maxExtDigits = 8
)

// country selects the national rules applied to numbers without an
// international prefix.
type country uint8

const (
	countryRU country = iota + 1 // Russia and Kazakhstan share +7
	countryUA
	countryBY
	countryBR
)

// parseCountry maps an ISO 3166-1 alpha-2 code (any case, "" = RU).
func parseCountry(s string) (country, bool) {
	if s == "" {
		return countryRU, true
	}
	if len(s) != 2 {
		return 0, false
	}
	switch uint16(s[0]|0x20)<<8 | uint16(s[1]|0x20) {
	case 'r'<<8 | 'u', 'k'<<8 | 'z':
		return countryRU, true
	case 'u'<<8 | 'a':
		return countryUA, true
	case 'b'<<8 | 'y':
		return countryBY, true
	case 'b'<<8 | 'r':
		return countryBR, true
	}
	return 0, false
}

// invalidError is the ErrInvalid wrapper carrying the input and a reason.
type invalidError struct {
	input  string
	reason string
}

func (e *invalidError) Error() string {
	return ErrInvalid.Error() + " " + strconv.Quote(e.input) + ": " + e.reason
}

func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalid(raw, reason string) error {
	const keep = MaxInputLen + 16
	if len(raw) > keep {
		raw = raw[:keep] + "…"
	}
	return &invalidError{input: raw, reason: reason}
}

type unknownCountryError struct{ country string }

func (e *unknownCountryError) Error() string {
	c := e.country
	if len(c) > 16 {
		c = c[:16] + "…"
	}
	return ErrUnknownCountry.Error() + " " + strconv.Quote(c) + " (supported: RU, KZ, UA, BY, BR)"
}

func (e *unknownCountryError) Unwrap() error { return ErrUnknownCountry }

// Normalize returns the phone number in raw as the digits of its E.164
// form, country code first and without the "+": "79161234567".
//
// defaultCountry is an ISO 3166-1 alpha-2 code, "RU", "KZ", "UA", "BY" or
// "BR", in any case; "" means "RU". Its national rules apply to numbers
// written without an international prefix ("+", "00", and "810" in RU, KZ
// and BY): a national number gets the country code, a trunk prefix is
// replaced ("8 916…" → "7916…", "067…" → "38067…", "8 029…" → "37529…",
// "011 9…" / "0 21 11 9…" → "5511 9…"), and a number that already starts
// with the country's code and has the right length is kept. A number with
// an international prefix is accepted for any country calling code whose
// national-number length fits. Digits without any prefix that are not a
// national number of the default country are tried as an international
// number ("380671234567" with default "RU", as MegaFon sends it) when they
// are at least 10 digits long.
//
// Separators (spaces, NBSP, dashes, dots, brackets, slashes), "tel:" and
// "sip:user@host" forms, percent-encoding ("%2B7…") and extension suffixes
// ("доб. 12", "ext. 12", "x12", "#12", "вн. 12", ",,12", ";ext=12") are
// removed. A Brazilian mobile written without the ninth digit
// ("(11) 8765-4321", subscriber starting with 6, 8 or 9) gets it back
// ("5511987654321"), as Brazil made it mandatory in 2016; subscribers
// starting with 7 are kept as they are, as libphonenumber does.
//
// Errors: [ErrAnonymous] and [ErrInternal] unwrapped; [ErrInvalid] wrapped
// with the quoted input; [ErrUnknownCountry] wrapped with the country.
//
// Normalize never panics, allocates nothing when the result is a substring
// of raw, and at most the result string otherwise.
//
// Normalize is idempotent for numbers of the default country, and
// Normalize("+"+out, any) == out for every output. Without the "+", a
// foreign output may be read differently under the default country's
// rules: when shorter than 10 digits (not taken as international), when it
// starts with 810 under RU/KZ/BY (the international prefix), or when it
// also is a national number ("4930123456", +49 30 123456, is also
// +7 493 012-34-56 under "RU"). FuzzNormalize checks exactly this.
func Normalize(raw, defaultCountry string) (string, error) {
	c, ok := parseCountry(defaultCountry)
	if !ok {
		return "", &unknownCountryError{country: defaultCountry}
	}
	return normalize(raw, c)
}

// CheckCountry reports whether Normalize has national rules for
// defaultCountry, with the same error Normalize would return. Constructors
// call it to reject a bad setting before any number arrives.
func CheckCountry(defaultCountry string) error {
	if _, ok := parseCountry(defaultCountry); !ok {
		return &unknownCountryError{country: defaultCountry}
	}
	return nil
}

func normalize(raw string, c country) (string, error) {
	if len(raw) > maxRawLen {
		return "", invalid(raw, "too long")
	}
	s := trimSpace(raw)
	if s == "" {
		return "", ErrAnonymous
	}
	if len(s) > MaxInputLen {
		return "", invalid(raw, "too long")
	}

	var p parser
	if st := p.scan(s); st != statusOK {
		return "", p.err(raw, st)
	}
	res, st := p.classify(c)
	if st != statusOK {
		return "", p.err(raw, st)
	}
	return p.render(res), nil
}

// status is the outcome of one parsing stage.
type status uint8

const (
	statusOK status = iota
	statusInvalid
	statusInternal
	statusAnonymous
)

// parser holds the digits of one number while it is being normalised. It
// lives on the caller's stack.
type parser struct {
	buf    [32]byte // the digits, in order, without separators
	n      int      // digits used in buf
	plus   bool     // a leading "+" (or "%2B")
	paren  bool     // an opening bracket: national formatting
	star   int      // 1 + the number of digits before a "*", 0 when none
	reason string   // why the value is invalid

	// src is the input text of the digits when they appear there without
	// gaps (no separators, escapes or full-width digits between them), so
	// a result that is a suffix of it can be returned without copying.
	src    string
	first  int // index of the first digit in the scanned text, -1 when none yet
	last   int // index of the last digit
	contig bool
}

func (p *parser) fail(reason string) status {
	p.reason = reason
	return statusInvalid
}

func (p *parser) err(raw string, st status) error {
	switch st {
	case statusAnonymous:
		return ErrAnonymous
	case statusInternal:
		return ErrInternal
	}
	return invalid(raw, p.reason)
}

// scan reads s (trimmed, at most MaxInputLen bytes) into p.
func (p *parser) scan(s string) status {
	// Fast path: nothing but ASCII digits.
	if len(s) <= len(p.buf) {
		i := 0
		for i < len(s) && s[i]-'0' <= 9 {
			i++
		}
		if i == len(s) {
			p.n = copy(p.buf[:], s)
			p.src, p.contig = s, true
			return statusOK
		}
	}
	p.first, p.contig = -1, true

	// `"Name" <sip:…>`: keep what is inside the angle brackets.
	if i := strings.IndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i+1:], '>')
		if j < 0 {
			return p.fail("unbalanced <")
		}
		s = trimSpace(s[i+1 : i+1+j])
	}
	// URI schemes: tel:+7916…, sip:+7916…@host, sips:….
	switch {
	case hasPrefixFold(s, "tel:"):
		s = s[4:]
	case hasPrefixFold(s, "sip:"):
		s = s[4:]
	case hasPrefixFold(s, "sips:"):
		s = s[5:]
	}
	// The user part: before "@host" and before ";parameters".
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = trimSpace(s)
	if s == "" {
		return statusAnonymous
	}
	if c := s[0]; c-'0' > 9 && c != '+' && c != '(' && c != '%' && isAnonymousWord(s) {
		return statusAnonymous
	}

	for i := 0; i < len(s); {
		c, size := s[i], 1
		if c == '%' {
			var ok bool
			if c, ok = unescape(s[i:]); !ok {
				return p.fail("bad percent-encoding")
			}
			size = 3
		}
		switch {
		case c-'0' <= 9:
			if p.n == len(p.buf) {
				return p.fail("too many digits")
			}
			p.buf[p.n] = c
			p.n++
			switch {
			case size != 1:
				p.contig = false
			case p.first < 0:
				p.first = i
			case i != p.last+1:
				p.contig = false
			}
			p.last = i
		case c == '+':
			if p.n > 0 || p.plus || p.star > 0 {
				return p.fail("misplaced +")
			}
			p.plus = true
		case c == '*':
			if p.n == 0 || p.star > 0 || p.plus {
				return p.fail("misplaced *")
			}
			p.star = p.n + 1
		case c == '@' || c == ';': // percent-encoded user-part terminators
			return p.end(s)
		case c == '(' && p.plus && p.n > 0 && size == 1 && strings.HasPrefix(s[i:], "(0)"):
			// "+44 (0)20 …": the bracketed trunk prefix is not dialled
			// from abroad.
			size = 3
		case c < utf8.RuneSelf && isSep(c):
			if c == '(' {
				p.paren = true
			}
		case c == '#' || c == ',' || c == 'x' || c == 'X' || c == 'e' || c == 'E' || c == 'r' || c == 'R' || c >= utf8.RuneSelf && size == 1:
			if c >= utf8.RuneSelf {
				r, sz := utf8.DecodeRuneInString(s[i:])
				if isSepRune(r) {
					size = sz
					break
				}
				if r >= '０' && r <= '９' { // full-width digits
					if p.n == len(p.buf) {
						return p.fail("too many digits")
					}
					p.buf[p.n] = byte(r-'０') + '0'
					p.n++
					p.contig = false
					size = sz
					break
				}
				if !unicode.IsLetter(r) {
					return p.fail("unexpected character")
				}
			}
			if p.n == 0 {
				return p.fail("no digits before extension")
			}
			if !extTail(s[i:]) {
				return p.fail("unexpected text")
			}
			return p.end(s)
		default:
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				return p.fail("unexpected letter")
			}
			return p.fail("unexpected character")
		}
		i += size
	}
	return p.end(s)
}

// end checks what scan collected from s.
func (p *parser) end(s string) status {
	if p.star > 0 && p.star > p.n {
		return p.fail("misplaced *")
	}
	if p.contig && p.first >= 0 {
		p.src = s[p.first : p.last+1]
	} else {
		p.contig = false
	}
	return statusOK
}

// classify applies the numbering rules to the scanned digits.
func (p *parser) classify(c country) (result, status) {
	d := p.buf[:p.n]
	if len(d) == 0 {
		// Only separators or a lone "+".
		return result{}, statusAnonymous
	}
	if p.star > 0 {
		// Telphin "<client prefix>*<extension>".
		if p.plus || p.star-1 > 8 || len(d)-(p.star-1) > 8 {
			return result{}, p.fail("misplaced *")
		}
		return result{}, statusInternal
	}
	zeros := true
	for _, b := range d {
		if b != '0' {
			zeros = false
			break
		}
	}
	if zeros {
		return result{}, statusAnonymous
	}
	if !p.plus && len(d) >= 2 && len(d) <= 6 {
		return result{}, statusInternal
	}
	if p.plus {
		if r, ok := international(d, false); ok {
			return r, statusOK
		}
		return result{}, p.fail("not a valid international number")
	}
	// Bare digits are tried as an international number only when they
	// were not formatted as a national number: "(20) 91234-5678" is a
	// Brazilian number with a DDD that does not exist, not Egypt.
	if r, ok := national(c, d, !p.paren); ok {
		return r, statusOK
	}
	if len(d) < 8 {
		return result{}, p.fail("too short")
	}
	return result{}, p.fail("not a valid number")
}

// result is a normalised number: prefix followed by nsn, with a '9'
// inserted after the first two digits of nsn when add9 is set (a Brazilian
// mobile written without its ninth digit).
type result struct {
	prefix string
	nsn    []byte
	add9   bool
}

// render returns r as a string: a substring of the input when the digits
// appear there as they are, otherwise one new string.
func (p *parser) render(r result) string {
	// r.nsn is always a suffix of the scanned digits.
	if off := p.n - len(r.nsn); p.contig && !r.add9 && off >= len(r.prefix) {
		if k := off - len(r.prefix); p.src[k:off] == r.prefix {
			return p.src[k:]
		}
	}
	var out [40]byte
	b := append(out[:0], r.prefix...)
	if r.add9 {
		b = append(b, r.nsn[:2]...)
		b = append(b, '9')
		b = append(b, r.nsn[2:]...)
	} else {
		b = append(b, r.nsn...)
	}
	return string(b)
}

// extTail reports whether t is an extension suffix: markers ("доб.", "ext",
// "x", "#", ",", "вн.", …) and separators, then at most maxExtDigits
// digits, then optional separators or "#". t starts with the first marker
// character.
func extTail(t string) bool {
	marker := false
	digits := 0
	phase := 0 // 0: markers, 1: digits, 2: after the digits
	for i := 0; i < len(t); {
		c, size := t[i], 1
		if c == '%' {
			var ok bool
			if c, ok = unescape(t[i:]); !ok {
				return false
			}
			size = 3
		}
		switch {
		case c-'0' <= 9:
			if !marker || phase == 2 {
				return false
			}
			phase = 1
			digits++
			if digits > maxExtDigits {
				return false
			}
		case c == '#':
			if phase == 1 {
				phase = 2
			} else {
				marker = true
			}
		case c == ',' || c == ':' || c == '=':
			if phase != 0 {
				return false
			}
			if c == ',' {
				marker = true
			}
		case c < utf8.RuneSelf && isSep(c):
		case c >= utf8.RuneSelf && size == 1 && isSepRuneAt(t[i:], &size):
		default:
			if phase != 0 || size != 1 {
				return false
			}
			n := extWordLen(t[i:])
			if n == 0 {
				return false
			}
			marker = true
			size = n
		}
		i += size
	}
	return marker
}

// extWords are the extension markers, lower case, with their first rune
// for a quick reject.
var extWords = [...]struct {
	first rune
	word  string
}{
	{'e', "extension"}, {'e', "ext"}, {'x', "x"}, {'r', "ramal"},
	{'д', "добавочный"}, {'д', "доб"}, {'д', "доп"}, {'д', "додатковий"}, {'д', "дод"},
	{'в', "внутр"}, {'в', "вн"},
}

// extWordLen returns the byte length of the extension marker t starts with,
// or 0.
func extWordLen(t string) int {
	r, _ := utf8.DecodeRuneInString(t)
	if r >= 'A' && r <= 'Z' {
		r += 'a' - 'A'
	} else if r >= utf8.RuneSelf {
		r = unicode.ToLower(r)
	}
	for _, w := range extWords {
		if w.first != r {
			continue
		}
		if n := prefixFoldLen(t, w.word); n > 0 {
			// A marker must not run into more letters ("extra").
			if r, _ := utf8.DecodeRuneInString(t[n:]); n < len(t) && unicode.IsLetter(r) {
				continue
			}
			return n
		}
	}
	return 0
}

// anonymousWords are the values providers and CRMs put in place of a
// hidden number. Compared case-insensitively.
var anonymousWords = [...]string{
	"anonymous", "anonym", "anon", "unknown", "private", "private number",
	"restricted", "unavailable", "not available", "hidden", "withheld",
	"blocked", "no caller id", "nocallerid", "null", "none", "undefined",
	"n/a", "скрыт", "скрытый", "скрытый номер", "номер скрыт", "неизвестно",
	"неизвестный", "аноним", "анонимный", "приховано", "прихований",
	"невідомий", "anônimo", "anonimo", "privado", "desconhecido",
	"restrito", "oculto",
}

func isAnonymousWord(s string) bool {
	for _, w := range anonymousWords {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

// isSep reports ASCII separators inside a number.
func isSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '-', '.', '(', ')', '[', ']', '/', '\\', '"', '\'', '_':
		return true
	}
	return false
}

// isSepRune reports non-ASCII separators: Unicode spaces (NBSP, thin
// space, …), dashes and minus signs, invisible marks, full-width brackets.
func isSepRune(r rune) bool {
	switch r {
	case '\u00a0', '\u00ad', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015',
		'\u2212', '\u2043', '\ufe58', '\ufe63', '\uff0d', '\uff08', '\uff09', '\uff0e',
		'\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u2060', '\ufeff':
		return true
	}
	return unicode.IsSpace(r)
}

// isSepRuneAt reports whether t starts with a non-ASCII separator and sets
// *size to its length.
func isSepRuneAt(t string, size *int) bool {
	r, n := utf8.DecodeRuneInString(t)
	if isSepRune(r) {
		*size = n
		return true
	}
	return false
}

func isTrimRune(r rune) bool {
	return unicode.IsSpace(r) || r == '\ufeff' || r == '\u200b' || r == '\u200e' || r == '\u200f' || r == '\u2060'
}

// trimSpace removes surrounding white space; it is cheap for clean input.
func trimSpace(s string) string {
	if s == "" {
		return s
	}
	if f, l := s[0], s[len(s)-1]; f > ' ' && f < utf8.RuneSelf && l > ' ' && l < utf8.RuneSelf {
		return s
	}
	return strings.TrimFunc(s, isTrimRune)
}

// unescape decodes "%XX" at the start of t to an ASCII byte.
func unescape(t string) (byte, bool) {
	if len(t) < 3 {
		return 0, false
	}
	h, ok1 := unhex(t[1])
	l, ok2 := unhex(t[2])
	if !ok1 || !ok2 || h >= 8 {
		return 0, false
	}
	c := h<<4 | l
	if c == '%' {
		return 0, false // no double encoding
	}
	return c, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c-'0' <= 9:
		return c - '0', true
	case c|0x20-'a' <= 5:
		return c | 0x20 - 'a' + 10, true
	}
	return 0, false
}

// hasPrefixFold is an ASCII case-insensitive strings.HasPrefix; prefix is
// lower case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if s[i]|0x20 != prefix[i] {
			return false
		}
	}
	return true
}

// prefixFoldLen returns the byte length of the prefix of t that equals the
// lower-case word w ignoring case, or 0.
func prefixFoldLen(t, w string) int {
	i := 0
	for _, wr := range w {
		if i >= len(t) {
			return 0
		}
		if c := t[i]; c < utf8.RuneSelf {
			if c|0x20 != byte(wr) || wr >= utf8.RuneSelf {
				return 0
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(t[i:])
		if r != wr && unicode.ToLower(r) != wr {
			return 0
		}
		i += n
	}
	return i
}
