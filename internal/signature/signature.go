// Package signature computes the API's request signatures (docs/signing.md).
// v1 is the seed's: HMAC-SHA256 of the x-date value. v2 also covers the
// method, the path and every query parameter, so that a captured request
// cannot be replayed with another query:
//
//	x-signature: v2=hex(HMAC-SHA256(secret, "v2\nGET\n/vip-messages\n" + Canonical(query) + "\n" + x-date))
//
// The server (internal/auth), the Go client, vipctl and the documentation's
// snippets all sign with this package or reproduce it, and tests compare them.
// It depends on the standard library only.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// Method and Path are the request line that v2 signs: the API's one operation.
const (
	Method = "GET"
	Path   = "/vip-messages"
)

// V2Prefix starts a v2 x-signature value; a bare 64-hex value is v1.
const V2Prefix = "v2="

// Version of a signature.
const (
	V1 = 1
	V2 = 2
)

// Query merges the query parameters of an API Gateway proxy event the way the
// API reads them: every value of multi, plus the single-value entry of any name
// multi lacks (API Gateway fills both maps; hand-made events may fill one).
// The result is the query that v2 signs and the handler validates.
func Query(single map[string]string, multi map[string][]string) map[string][]string {
	q := make(map[string][]string, len(multi)+len(single))
	for k, v := range multi {
		q[k] = v
	}
	for k, v := range single {
		if _, ok := q[k]; !ok {
			q[k] = []string{v}
		}
	}
	return q
}

// Canonical is the canonical query of v2: every name=value pair, name and value
// as decoded, each percent-encoded per RFC 3986 (unreserved A-Z a-z 0-9 - . _ ~
// stay, every other byte of the UTF-8 becomes %XX in upper-case hex), sorted by
// encoded name then encoded value, joined by '&'. No parameters: "".
func Canonical(query map[string][]string) string {
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(query))
	for name, values := range query {
		en := Escape(name)
		for _, v := range values {
			pairs = append(pairs, pair{en, Escape(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].name != pairs[j].name {
			return pairs[i].name < pairs[j].name
		}
		return pairs[i].value < pairs[j].value
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// Escape percent-encodes s per RFC 3986: unreserved bytes stay, every other
// byte becomes %XX with upper-case hex. (url.QueryEscape differs: it writes a
// space as '+' and keeps nothing else; url.PathEscape keeps sub-delimiters.)
func Escape(s string) string {
	const hexUpper = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// StringToSign is v2's message for the API's operation, GET /vip-messages:
// what a client signs.
func StringToSign(query map[string][]string, date string) string {
	return StringToSignFor(Method, Path, query, date)
}

// StringToSignFor is v2's message: "v2", the method, the path, the canonical
// query and the x-date value exactly as sent, joined by '\n' (no trailing
// newline). The server builds it from the request it received, so that a
// signature for GET /vip-messages is worth nothing on any other method or path.
func StringToSignFor(method, path string, query map[string][]string, date string) string {
	return "v2\n" + method + "\n" + path + "\n" + Canonical(query) + "\n" + date
}

// MAC is HMAC-SHA256(key = secret, message = msg).
func MAC(secret, msg string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// SignV1 is the v1 x-signature: lowercase hex of HMAC-SHA256(secret, date).
func SignV1(secret, date string) string { return hex.EncodeToString(MAC(secret, date)) }

// SignV2 is the v2 x-signature for a request with this query and x-date:
// "v2=" and the lowercase hex of HMAC-SHA256(secret, StringToSign(query, date)).
func SignV2(secret, date string, query map[string][]string) string {
	return SignV2For(secret, Method, Path, date, query)
}

// SignV2For is the v2 x-signature of a request with another method or path
// than the API's (tests show such a request is refused all the same).
func SignV2For(secret, method, path, date string, query map[string][]string) string {
	return V2Prefix + hex.EncodeToString(MAC(secret, StringToSignFor(method, path, query, date)))
}

// Parse splits an x-signature value into its version and MAC: "v2=" and 64
// lowercase hex digits is v2, 64 lowercase hex digits alone is v1. Upper-case
// hex is refused, so that one signature has one spelling. ok is false for
// anything else.
func Parse(sig string) (version int, mac []byte, ok bool) {
	version = V1
	if rest, found := strings.CutPrefix(sig, V2Prefix); found {
		version, sig = V2, rest
	}
	if len(sig) != 2*sha256.Size {
		return 0, nil, false
	}
	for i := 0; i < len(sig); i++ {
		c := sig[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, nil, false
		}
	}
	mac, err := hex.DecodeString(sig)
	if err != nil {
		return 0, nil, false
	}
	return version, mac, true
}
