package httpx

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces every secret value removed by [Redact].
const Redacted = "REDACTED"

// RedactedIfSet is how a secret field is shown: Redacted when it is set,
// "" when it is not (so a reader still sees which secrets are missing).
func RedactedIfSet(secret string) string {
	if secret == "" {
		return ""
	}
	return Redacted
}

// sensitiveName matches parameter and field names whose values are secrets:
// token, access_token, refresh_token, crm_token, id_token (anything ending in
// "token"), client_secret / secret, password / passwd, api_key / apikey /
// api-key, key, authorization, cookie,
// set-cookie, x-api-key and jsessionid / sessionid.
const sensitiveName = `[A-Za-z0-9_.\-]*(?:token|secret|password|passwd|api_key|api-key|apikey)|key|authorization|proxy-authorization|cookie|set-cookie|x-api-key|jsessionid|sessionid|session_id`

// sensitiveParam adds "code" for query strings, form bodies and request
// bodies echoed inside a JSON string, where OAuth authorization codes
// travel. A plain JSON "code" field is an error or validation code (amoCRM's
// validation-errors), which error messages must keep.
const sensitiveParam = sensitiveName + `|code`

var (
	// "name": "value" in JSON (string values, escapes allowed).
	jsonFieldRe = regexp.MustCompile(`(?i)("(?:` + sensitiveName + `)"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// The same inside a JSON-encoded string: \"name\":\"value\".
	escapedJSONFieldRe = regexp.MustCompile(`(?i)(\\"(?:` + sensitiveParam + `)\\"\s*:\s*\\")(?:[^\\]|\\[^"])*(\\")`)
	// name=value in a query string, form body or cookie string.
	formFieldRe = regexp.MustCompile(`(?i)(^|[?&;,:\s{(\["'])(` + sensitiveParam + `)=([^&\s"',;)}\]\\]*)`)
	// Header lines such as "Authorization: Bearer x".
	headerLineRe = regexp.MustCompile(`(?im)(^|[\s,{])(authorization|proxy-authorization|cookie|set-cookie|x-api-key)(\s*:\s*)[^\r\n,}]*`)
	// Bare credentials: "Bearer <token>", "Basic <base64>".
	bearerRe = regexp.MustCompile(`(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*`)
	basicRe  = regexp.MustCompile(`\b([Bb]asic)(\s+)[A-Za-z0-9+/]{8,}={0,2}`)
)

// Redact returns s with secrets replaced by "REDACTED":
//
//   - values of query, form and cookie parameters with a sensitive name
//     (token, access_token, refresh_token, api_key, apikey, apiKey, key,
//     client_secret, secret, password, crm_token, code, jsessionid, …;
//     case-insensitive), e.g. "?token=abc" → "?token=REDACTED";
//   - JSON string fields with such names, e.g. `"access_token":"abc"`
//     ("code" excepted: in JSON it is an error code, not a secret);
//   - header lines "Authorization: …", "Cookie: …", "X-API-KEY: …";
//   - "Bearer <token>" and "Basic <credentials>";
//   - every literal value in secrets (also in its URL-escaped forms).
//     Empty secrets are ignored.
//
// Redact is applied to every error string, error body and log line produced
// by this package. It is a best-effort pattern filter: pass known secret
// values in secrets (Config.Secrets) to guarantee their removal.
func Redact(s string, secrets ...string) string {
	if s == "" {
		return s
	}
	s = redactLiterals(s, secrets)
	s = jsonFieldRe.ReplaceAllString(s, `${1}"`+Redacted+`"`)
	s = escapedJSONFieldRe.ReplaceAllString(s, `${1}`+Redacted+`${2}`)
	s = formFieldRe.ReplaceAllString(s, `${1}${2}=`+Redacted)
	s = headerLineRe.ReplaceAllString(s, `${1}${2}${3}`+Redacted)
	s = bearerRe.ReplaceAllString(s, `${1}${2}`+Redacted)
	s = basicRe.ReplaceAllString(s, `${1}${2}`+Redacted)
	return s
}

func redactLiterals(s string, secrets []string) string {
	if len(secrets) == 0 {
		return s
	}
	var list []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		list = append(list, sec)
		if q := url.QueryEscape(sec); q != sec {
			list = append(list, q)
		}
		if p := url.PathEscape(sec); p != sec {
			list = append(list, p)
		}
	}
	// Longest first, so a secret that contains another is removed whole.
	slices.SortFunc(list, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range list {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// redactURL renders u without secrets: the userinfo, sensitive
// query parameters and literal secrets are replaced.
func redactURL(u *url.URL, secrets []string) string {
	if u == nil {
		return ""
	}
	if u.User != nil {
		c := *u
		c.User = url.User(Redacted)
		u = &c
	}
	return Redact(u.String(), secrets...)
}
