package phone

// This file holds the numbering rules. Every function takes the scanned
// digits (a slice of the parser's stack buffer) and returns a result whose
// nsn aliases it.

// national interprets digits written without "+" under the rules of the
// default country c. bareIntl allows the last resort of reading d as an
// international number without prefix.
func national(c country, d []byte, bareIntl bool) (result, bool) {
	if len(d) > 2 && d[0] == '0' && d[1] == '0' {
		r, ok := international(d[2:], false)
		// Brazil dials abroad as 00 + carrier code + number; "0055…" is
		// still read as +55 when that is a valid Brazilian number.
		if c == countryBR && len(d) > 4 && isBRCarrier(d[2], d[3]) && !(ok && hasDigits(d[2:], "55")) {
			if r, ok := international(d[4:], true); ok {
				return r, true
			}
		}
		return r, ok
	}
	switch c {
	case countryRU:
		switch {
		case len(d) == 11 && d[0] == '7' && ruNSN(d[1:]):
			return result{nsn: d}, true
		case len(d) == 11 && d[0] == '8' && ruNSN(d[1:]):
			return result{prefix: "7", nsn: d[1:]}, true
		case ruNSN(d):
			return result{prefix: "7", nsn: d}, true
		case hasDigits(d, "810"):
			if r, ok := international(d[3:], false); ok {
				return r, true
			}
		}
	case countryUA:
		switch {
		case hasDigits(d, "380") && uaNSN(d[3:]):
			return result{nsn: d}, true
		case d[0] == '0' && uaNSN(d[1:]):
			return result{prefix: "380", nsn: d[1:]}, true
		case hasDigits(d, "80") && uaNSN(d[2:]): // the old "8 0XX" habit
			return result{prefix: "3", nsn: d}, true
		case uaNSN(d):
			return result{prefix: "380", nsn: d}, true
		}
	case countryBY:
		if hasDigits(d, "375") && byNSN(d[3:]) {
			return result{nsn: d}, true
		}
		if r, ok := byTrunk(d); ok {
			return r, true
		}
		if byNSN(d) {
			return result{prefix: "375", nsn: d}, true
		}
		if hasDigits(d, "810") {
			if r, ok := international(d[3:], false); ok {
				return r, true
			}
		}
	case countryBR:
		if ok, add9 := brNSN(d); ok {
			return result{prefix: "55", nsn: d, add9: add9}, true
		}
		if hasDigits(d, "55") {
			if ok, add9 := brNSN(d[2:]); ok {
				return result{prefix: "55", nsn: d[2:], add9: add9}, true
			}
		}
		if r, ok := brTrunk(d); ok {
			return r, true
		}
	}
	// MegaFon and others send foreign numbers as bare international digits.
	if bareIntl && len(d) >= minBareIntl {
		return international(d, true)
	}
	return result{}, false
}

// international interprets d as a calling code followed by a national
// number. For the countries with national rules the trunk prefix and the
// Brazilian carrier code may follow the calling code ("+7 8 916…",
// "+380 067…", "+55 0 21 11 9…") unless strict is set; other calling codes
// are checked against the possible lengths of their national numbers.
func international(d []byte, strict bool) (result, bool) {
	if len(d) < 8 || len(d) > 17 {
		return result{}, false
	}
	cc, k := splitCallingCode(d)
	if k == 0 {
		return result{}, false
	}
	rest := d[k:]
	switch cc.code {
	case 7:
		if ruNSN(rest) {
			return result{nsn: d}, true
		}
		if !strict && len(rest) == 11 && rest[0] == '8' && ruNSN(rest[1:]) {
			return result{prefix: "7", nsn: rest[1:]}, true
		}
	case 380:
		if uaNSN(rest) {
			return result{nsn: d}, true
		}
		if !strict {
			if len(rest) > 1 && rest[0] == '0' && uaNSN(rest[1:]) {
				return result{prefix: "380", nsn: rest[1:]}, true
			}
			if hasDigits(rest, "80") && uaNSN(rest[2:]) {
				return result{prefix: "380", nsn: rest[2:]}, true
			}
		}
	case 375:
		if byNSN(rest) {
			return result{nsn: d}, true
		}
		if !strict {
			return byTrunk(rest)
		}
	case 55:
		if ok, add9 := brNSN(rest); ok {
			return result{prefix: "55", nsn: rest, add9: add9}, true
		}
		if !strict {
			return brTrunk(rest)
		}
	default:
		if len(d) > 15 || cc.lengths&(1<<len(rest)) == 0 {
			return result{}, false
		}
		if cc.code == 1 && !nanpNSN(rest) {
			return result{}, false
		}
		return result{nsn: d}, true
	}
	return result{}, false
}

// ruNSN reports a national significant number of the +7 zone: ten digits,
// 3xx/4xx/8xx/9xx Russia, 70x–72x/74x–78x Kazakhstan.
func ruNSN(d []byte) bool {
	if len(d) != 10 {
		return false
	}
	switch d[0] {
	case '3', '4', '8', '9':
		return true
	case '7':
		return d[1] != '3' && d[1] != '9'
	}
	return false
}

// uaNSN reports a Ukrainian national significant number: nine digits
// starting with 3–9, or a ten-digit 800/900 service number.
func uaNSN(d []byte) bool {
	switch len(d) {
	case 9:
		return d[0] >= '3' && d[0] <= '9'
	case 10:
		switch {
		case hasDigits(d, "800"):
			return d[3] >= '1' && d[3] <= '8'
		case hasDigits(d, "900"):
			return d[3] == '2' || d[3] == '3' || d[3] == '9'
		}
	}
	return false
}

// byNSN reports a Belarusian national significant number: nine digits with
// a geographic or mobile code (15–17, 21–25, 29, 33, 44), or a toll-free
// 800 (6–10 digits), 801/803 (10) or 820 (11) number.
func byNSN(d []byte) bool {
	if hasDigits(d, "800") {
		return len(d) >= 6 && len(d) <= 10
	}
	switch len(d) {
	case 9:
		switch (d[0]-'0')*10 + d[1] - '0' {
		case 15, 16, 17, 21, 22, 23, 24, 25, 29, 33, 44:
			return true
		}
	case 10:
		return hasDigits(d, "801") || hasDigits(d, "803")
	case 11:
		return hasDigits(d, "820")
	}
	return false
}

// byTrunk accepts the Belarusian trunk forms "8 0XX…", "8 XX…" and "0XX…".
func byTrunk(d []byte) (result, bool) {
	switch {
	case hasDigits(d, "80") && byNSN(d[2:]):
		return result{prefix: "375", nsn: d[2:]}, true
	case len(d) > 1 && d[0] == '8' && byNSN(d[1:]):
		return result{prefix: "375", nsn: d[1:]}, true
	case len(d) > 1 && d[0] == '0' && byNSN(d[1:]):
		return result{prefix: "375", nsn: d[1:]}, true
	}
	return result{}, false
}

// brNSN reports a Brazilian national significant number: a DDD area code
// and an 8-digit fixed line (2–5…), a 9-digit mobile (9…), a legacy 8-digit
// mobile starting with 7 (valid for libphonenumber), or a 0800 number. A
// legacy 8-digit mobile starting with 6, 8 or 9 is accepted with add9 set:
// the ninth digit has been mandatory everywhere since 2016.
func brNSN(d []byte) (ok, add9 bool) {
	if hasDigits(d, "800") {
		return len(d) == 9 || len(d) == 10, false
	}
	if (len(d) != 10 && len(d) != 11) || !isDDD(d[0], d[1]) {
		return false, false
	}
	s := d[2]
	if len(d) == 11 {
		return s == '9', false
	}
	switch s {
	case '2', '3', '4', '5', '7':
		return true, false
	case '6', '8', '9':
		return true, true
	}
	return false, false
}

// brTrunk accepts the Brazilian national forms with the trunk prefix 0:
// "0 DDD number", "0 CC DDD number" with a carrier selection code CC, and
// the collect-call "90 CC DDD number".
func brTrunk(d []byte) (result, bool) {
	if len(d) < 2 || (d[0] != '0' && !hasDigits(d, "90")) {
		return result{}, false
	}
	i := 1
	if d[0] == '9' {
		i = 2
	} else if ok, add9 := brNSN(d[1:]); ok {
		return result{prefix: "55", nsn: d[1:], add9: add9}, true
	}
	if len(d) > i+2 && d[i] >= '1' {
		if ok, add9 := brNSN(d[i+2:]); ok {
			return result{prefix: "55", nsn: d[i+2:], add9: add9}, true
		}
	}
	return result{}, false
}

// isDDD reports a Brazilian area code in use.
func isDDD(a, b byte) bool {
	if b < '1' || b > '9' {
		return false
	}
	switch a {
	case '1', '4', '6', '8', '9':
		return true
	case '2':
		return b == '1' || b == '2' || b == '4' || b == '7' || b == '8'
	case '3':
		return b != '6' && b != '9'
	case '5':
		return b == '1' || b == '3' || b == '4' || b == '5'
	case '7':
		return b == '1' || b == '3' || b == '4' || b == '5' || b == '7' || b == '9'
	}
	return false
}

// isBRCarrier reports a Brazilian carrier selection code usable for
// international calls (libphonenumber's list).
func isBRCarrier(a, b byte) bool {
	switch a {
	case '1':
		return b == '2' || b == '4' || b == '5'
	case '2':
		return b == '1' || b == '2' || b == '3' || b == '5'
	case '3':
		return b == '1'
	case '4':
		return b == '1' || b == '3'
	case '5', '6':
		return b == '5'
	case '9':
		return b == '9'
	}
	return false
}

// nanpNSN reports a North American number: NXX NXX XXXX.
func nanpNSN(d []byte) bool {
	return len(d) == 10 && d[0] >= '2' && d[3] >= '2'
}

// hasDigits reports whether d starts with prefix.
func hasDigits(d []byte, prefix string) bool {
	return len(d) >= len(prefix) && string(d[:len(prefix)]) == prefix
}
