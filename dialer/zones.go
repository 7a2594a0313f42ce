package dialer

import (
	"fmt"
	"strings"
	"time"
)

// ZoneOf returns the IANA time zone a normalised number ("79161234567")
// says its owner lives in, or "" when the number does not say:
//
//   - a country with one zone: by its calling code (Ukraine
//     Europe/Kyiv, Belarus Europe/Minsk, the Caucasus and Central Asia,
//     much of Europe, …);
//   - Kazakhstan (+7 6xx, +7 7xx): Asia/Almaty (one zone, UTC+5, since
//     2024);
//   - Russia: by the geographic (ABC) area code of a landline, e.g. 495
//     and 812 Europe/Moscow, 343 Asia/Yekaterinburg, 383
//     Asia/Novosibirsk, 423 Asia/Vladivostok, 401 Europe/Kaliningrad;
//     mobile (DEF, +7 9xx) numbers are not geographic (and are ported
//     between regions), so they say nothing;
//   - Brazil: by the DDD, e.g. 11 America/Sao_Paulo, 92 America/Manaus,
//     65 America/Cuiaba, 68 America/Rio_Branco;
//   - anything else ("1" is shared by many zones): "".
//
// A target whose number says nothing is called in its campaign's zone.
func ZoneOf(phone string) string {
	if len(phone) < 4 {
		return ""
	}
	switch phone[0] {
	case '7':
		if phone[1] == '6' || phone[1] == '7' {
			return "Asia/Almaty"
		}
		return ruZones[phone[1:4]]
	case '5':
		if phone[1] == '5' {
			if z, ok := brZones[phone[2:4]]; ok {
				return z
			}
			return "America/Sao_Paulo"
		}
	}
	for n := 3; n >= 1; n-- {
		if z, ok := countryZones[phone[:n]]; ok {
			return z
		}
	}
	return ""
}

// countryZones are the calling codes of countries with one time zone.
var countryZones = map[string]string{
	"380": "Europe/Kyiv", "375": "Europe/Minsk", "374": "Asia/Yerevan", "995": "Asia/Tbilisi",
	"994": "Asia/Baku", "998": "Asia/Tashkent", "996": "Asia/Bishkek", "992": "Asia/Dushanbe",
	"993": "Asia/Ashgabat", "373": "Europe/Chisinau", "370": "Europe/Vilnius", "371": "Europe/Riga",
	"372": "Europe/Tallinn", "48": "Europe/Warsaw", "49": "Europe/Berlin", "44": "Europe/London",
	"33": "Europe/Paris", "39": "Europe/Rome", "351": "Europe/Lisbon", "90": "Europe/Istanbul",
	"972": "Asia/Jerusalem", "971": "Asia/Dubai", "86": "Asia/Shanghai", "91": "Asia/Kolkata",
	"81": "Asia/Tokyo", "82": "Asia/Seoul", "420": "Europe/Prague", "36": "Europe/Budapest",
	"40": "Europe/Bucharest", "359": "Europe/Sofia", "30": "Europe/Athens", "31": "Europe/Amsterdam",
	"32": "Europe/Brussels", "41": "Europe/Zurich", "43": "Europe/Vienna", "46": "Europe/Stockholm",
	"47": "Europe/Oslo", "45": "Europe/Copenhagen", "358": "Europe/Helsinki", "54": "America/Argentina/Buenos_Aires",
	"56": "America/Santiago", "57": "America/Bogota", "51": "America/Lima", "595": "America/Asuncion",
	"598": "America/Montevideo",
}

// ruZones are Russian geographic (ABC) area codes by zone. Codes not
// listed (mobile DEF codes among them) say nothing.
var ruZones = func() map[string]string {
	m := map[string]string{}
	for zone, codes := range map[string]string{
		"Europe/Kaliningrad": "401",
		"Europe/Moscow": "495 496 498 499 811 812 813 814 815 816 817 818 820 821 831 833 834 835 836 841 843 844 847 " +
			"855 861 862 863 865 866 867 869 871 872 873 877 878 879 471 472 473 474 475 481 482 483 484 485 486 487 491 492 493 494",
		"Europe/Samara":      "341 846 848",
		"Europe/Saratov":     "845",
		"Europe/Astrakhan":   "851",
		"Europe/Ulyanovsk":   "842",
		"Asia/Yekaterinburg": "342 343 345 346 347 349 351 352 353",
		"Asia/Omsk":          "381",
		"Asia/Tomsk":         "382",
		"Asia/Novosibirsk":   "383",
		"Asia/Novokuznetsk":  "384",
		"Asia/Barnaul":       "385 388",
		"Asia/Krasnoyarsk":   "390 391 394",
		"Asia/Irkutsk":       "301 395",
		"Asia/Chita":         "302",
		"Asia/Yakutsk":       "411 416",
		"Asia/Vladivostok":   "421 423 426",
		"Asia/Sakhalin":      "424",
		"Asia/Magadan":       "413",
		"Asia/Kamchatka":     "415",
		"Asia/Anadyr":        "427",
	} {
		for _, c := range strings.Fields(codes) {
			m[c] = zone
		}
	}
	return m
}()

// brZones are the Brazilian DDDs outside Brasília time (UTC−3).
var brZones = map[string]string{
	"65": "America/Cuiaba", "66": "America/Cuiaba", // Mato Grosso
	"67": "America/Campo_Grande",                   // Mato Grosso do Sul
	"68": "America/Rio_Branco",                     // Acre
	"69": "America/Porto_Velho",                    // Rondônia
	"92": "America/Manaus", "97": "America/Manaus", // Amazonas
	"95": "America/Boa_Vista", // Roraima
}

// capitals are the zones of the countries whose national numbers a
// campaign reads (Campaign.Country), for a campaign without TimeZone.
var capitals = map[string]string{
	"": "Europe/Moscow", "RU": "Europe/Moscow", "KZ": "Asia/Almaty", "UA": "Europe/Kyiv",
	"BY": "Europe/Minsk", "BR": "America/Sao_Paulo",
}

// loadZone loads an IANA zone. Europe/Kyiv falls back to its old name on
// a system whose zone database predates it.
func loadZone(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil && name == "Europe/Kyiv" {
		loc, err = time.LoadLocation("Europe/Kiev")
	}
	if err != nil {
		return nil, fmt.Errorf("dialer: time zone %q: %w", name, err)
	}
	return loc, nil
}

// campaignZone is the zone name of targets whose number says nothing.
func campaignZone(c *Campaign) string {
	if c.TimeZone != "" {
		return c.TimeZone
	}
	if z, ok := capitals[strings.ToUpper(c.Country)]; ok {
		return z
	}
	return "UTC"
}
