// Package auth authenticates API requests: it checks the x-api-key, x-date and
// x-signature headers (README.md, "Signing a request"; docs/signing.md) against the key's
// secrets in Secrets Manager.
//
// Every failure is a value the API layer maps to a status:
//
//   - a *clienterr.Error of Kind Unauthenticated: 401; its Message is the only
//     text safe to show the client and its Reason labels the cause for logs.
//     Unknown, revoked or deleted keys, a wrong signature and a malformed secret
//     value all answer ErrUnauthenticated (errors.Is), with one message, so that a
//     caller cannot tell which key ids exist. Header problems (missing, empty,
//     duplicated, malformed, stale x-date) say what is wrong, since the key's
//     existence plays no part in them.
//   - errors.Is(err, ErrUnavailable): 503. Secrets Manager could not answer for a
//     key that is not cached (or whose stale bound has passed). Never a 401.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/rfc3339"
	"github.com/vip-messages/api/internal/signature"
)

// Header names, lower case; requests may spell them in any case.
const (
	HeaderKeyID     = "x-api-key"
	HeaderDate      = "x-date"
	HeaderSignature = "x-signature"
)

// Freshness window of x-date: server_now - x_date must lie in [-MaxClockAhead, MaxAge].
const (
	MaxClockAhead = 5 * time.Second
	MaxAge        = 60 * time.Second
)

// ErrUnauthenticated is the uniform 401 for an unknown, revoked or deleted key, a
// wrong signature and a malformed secret value. Its Message never varies.
var ErrUnauthenticated = clienterr.New(clienterr.Unauthenticated, "invalid credentials")

// Reasons of a 401 (clienterr.Error.Reason): short fixed labels for the log
// line and the AuthFailures metric's Reason dimension. Unlike the message, a
// reason may tell an unknown key from a wrong signature: only operators see it.
const (
	ReasonMissingHeader     = "missing header"       // x-api-key, x-date or x-signature absent or empty
	ReasonDuplicateHeader   = "duplicate header"     // one of them sent more than once
	ReasonKeyIDFormat       = "key id format"        // x-api-key not [A-Za-z0-9_-]{8,128}
	ReasonDateFormat        = "x-date format"        // x-date not RFC 3339 with an offset
	ReasonStaleDate         = "stale x-date"         // x-date more than MaxAge old
	ReasonFutureDate        = "future x-date"        // x-date more than MaxClockAhead ahead
	ReasonSignatureFormat   = "signature format"     // x-signature not 64 lowercase hex
	ReasonUnknownKey        = "unknown key"          // no usable secret: unknown, revoked, deleted or malformed
	ReasonSignatureMismatch = "signature mismatch"   // a known key, but no listed secret signed it
	ReasonV1Refused         = "signature v1 refused" // a valid version 1 signature of a key that requires version 2
)

// Reasons lists every reason a 401 can carry.
var Reasons = []string{
	ReasonMissingHeader, ReasonDuplicateHeader, ReasonKeyIDFormat, ReasonDateFormat, ReasonStaleDate,
	ReasonFutureDate, ReasonSignatureFormat, ReasonUnknownKey, ReasonSignatureMismatch, ReasonV1Refused,
}

// The uniform 401 of an unknown key and of a wrong signature: ErrUnauthenticated
// to the client (errors.Is matches), each with its reason.
var (
	errUnknownKey        = &clienterr.Error{Kind: clienterr.Unauthenticated, Message: ErrUnauthenticated.Message, Reason: ReasonUnknownKey}
	errSignatureMismatch = &clienterr.Error{Kind: clienterr.Unauthenticated, Message: ErrUnauthenticated.Message, Reason: ReasonSignatureMismatch}
)

// ErrV2Required is the 401 of a valid version 1 signature made with a key
// whose secret says "minSignatureVersion": 2 (reason ReasonV1Refused).
var ErrV2Required = rejection(ReasonV1Refused,
	"this key requires signature v2: send x-signature: v2=<hex of HMAC-SHA256 over v2, GET, /vip-messages, the canonical query and x-date> (see the API documentation, Signing requests)")

// rejection is a 401 whose message says what is wrong with the request; reason
// labels the check that failed, for logs and metrics.
func rejection(reason, msg string) *clienterr.Error {
	return &clienterr.Error{Kind: clienterr.Unauthenticated, Message: msg, Reason: reason}
}

// ErrUnavailable means the key store could not be reached (throttling, outage) for
// a key it has no usable cached value for: a 503, never a 401. It wraps
// clienterr.ErrUnavailable, so the API's one outage check covers it; the
// underlying SDK error is wrapped too, for logs.
var ErrUnavailable = fmt.Errorf("auth: key store unavailable: %w", clienterr.ErrUnavailable)

// Key is an authenticated API key.
type Key struct {
	ID           string
	WorkspaceIDs []string
}

// Allows reports whether the key may read the workspace.
func (k Key) Allows(workspaceID string) bool {
	for _, ws := range k.WorkspaceIDs {
		if ws == workspaceID {
			return true
		}
	}
	return false
}

// KeySource finds a key's secret value. It answers ErrUnauthenticated for a key
// that does not exist or cannot be used, and ErrUnavailable when it cannot tell.
// *keystore.Store is the production one.
type KeySource interface {
	LookupKey(ctx context.Context, keyID string) (SecretValue, error)
}

// Verifier authenticates requests.
type Verifier struct {
	Keys KeySource
	// Now is the server clock; nil means time.Now.
	Now func() time.Time
	// Log receives the key store's unavailability. A rejection is not logged
	// here: the caller logs it once, on the request's own line, with the
	// error's Reason and KeyID. It never receives a secret, a signature or an
	// x-date value.
	Log *slog.Logger
}

// NewVerifier returns a Verifier reading keys from keys; a nil log discards.
func NewVerifier(keys KeySource, log *slog.Logger) *Verifier {
	return &Verifier{Keys: keys, Now: time.Now, Log: log}
}

// Authenticate checks a request's headers, given as API Gateway's events carry
// them (Headers and MultiValueHeaders; either may be nil), and returns the key
// that signed it. method and path are the request's method and resource as
// API Gateway received them, and query every query parameter (signature.Query
// of the event's two maps): a version 2 signature covers all three, so it is
// checked against the request actually made, not against GET /vip-messages.
//
// Header names are matched case-insensitively. A header is "duplicated", and the
// request rejected, when it arrives more than once in any way: two values in
// MultiValueHeaders (identical or not), two spellings of its name, or a Headers
// value that disagrees with MultiValueHeaders. A signature names one instant with
// one key; there is no right way to choose between two.
//
// The checks run in this order, so nothing is looked up for a malformed request:
// presence of all three headers, the key id's format, x-date's format and
// freshness, the signature's format ("v2=" and 64 lowercase hex digits, or 64
// alone for version 1; upper case is rejected as malformed, since the contract
// says lowercase and accepting both would make two spellings of one
// signature), then the key lookup and a constant-time comparison for every
// listed secret: with HMAC-SHA256(secret, <the string to sign>)
// for version 2 (signature.StringToSignFor of method, path, query and x-date),
// HMAC-SHA256(secret, x-date as sent) for version 1. Last, a key
// whose secret says "minSignatureVersion": 2 refuses a (valid) version 1
// signature with a message that says so; an invalid one gets the uniform 401.
func (v *Verifier) Authenticate(ctx context.Context, method, path string, headers map[string]string, multiHeaders map[string][]string, query map[string][]string) (Key, error) {
	var vals [3]string
	for i, name := range [3]string{HeaderKeyID, HeaderDate, HeaderSignature} {
		val, err := header(headers, multiHeaders, name)
		if err != nil {
			return Key{}, err
		}
		vals[i] = val
	}
	keyID, date, sig := vals[0], vals[1], vals[2]

	if !ValidKeyID(keyID) {
		return Key{}, rejection(ReasonKeyIDFormat, "malformed x-api-key header: expected 8 to 128 characters of A-Z, a-z, 0-9, '_' or '-'")
	}

	now := v.now()
	if err := checkDate(date, now); err != nil {
		return Key{}, err
	}

	version, mac, ok := signature.Parse(sig)
	if !ok {
		return Key{}, rejection(ReasonSignatureFormat, "malformed x-signature header: expected v2= and 64 lowercase hex characters (HMAC-SHA256), or 64 alone for version 1")
	}

	msg := date
	if version == signature.V2 {
		msg = signature.StringToSignFor(method, path, query, date)
	}
	val, err := v.Keys.LookupKey(ctx, keyID)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			v.log().LogAttrs(ctx, slog.LevelError, "key store unavailable", UnverifiedKeyID(keyID), slog.String("error", err.Error()))
			return Key{}, err
		}
		// The same HMACs as for a wrong signature, so that timing does not tell
		// an unknown key from a known one.
		verify(nil, msg, mac)
		return Key{}, errUnknownKey
	}

	if !verify(val.Secrets, msg, mac) {
		return Key{}, errSignatureMismatch
	}
	// Only a valid v1 signature learns that the key wants v2: its sender holds
	// the secret, and is told how to fix the request.
	if version < val.MinSignatureVersion {
		return Key{}, ErrV2Required
	}
	return Key{ID: keyID, WorkspaceIDs: append([]string(nil), val.WorkspaceIDs...)}, nil
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) log() *slog.Logger {
	if v.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return v.Log
}

// KeyID returns the request's x-api-key when it is sent once and well formed
// (the signature and x-date are never logged; the key id only as
// UnverifiedKeyID until a secret is found for it).
func KeyID(headers map[string]string, multi map[string][]string) (string, bool) {
	id, err := header(headers, multi, HeaderKeyID)
	if err != nil || !ValidKeyID(id) {
		return "", false // never the client's text of a malformed id
	}
	return id, true
}

// UnverifiedKeyID is the log attribute of a key id that no secret was found
// for (yet): apiKeyIdHash, the first 8 hex digits of its SHA-256. A client
// that sends its secret as x-api-key by mistake (both are base64url) must not
// find it in the logs, and an unknown id is the client's text, not a key; the
// hash still tells one caller's repeated failures apart. A known key is
// logged by its id (apiKeyId).
func UnverifiedKeyID(id string) slog.Attr {
	return slog.String("apiKeyIdHash", KeyIDHash(id))
}

// KeyIDHash is the first 8 hex digits of the SHA-256 of id.
func KeyIDHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}

// header returns the single value of the named header, or a client-safe error.
func header(headers map[string]string, multi map[string][]string, name string) (string, *clienterr.Error) {
	var values []string
	spellings := 0
	for k, vs := range multi {
		if strings.EqualFold(k, name) {
			spellings++
			values = append(values, vs...)
		}
	}
	single, singleSpellings := "", 0
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			singleSpellings++
			single = v
		}
	}
	switch {
	case spellings > 1 || singleSpellings > 1 || len(values) > 1,
		len(values) == 1 && singleSpellings == 1 && single != values[0]:
		return "", rejection(ReasonDuplicateHeader, name+" header sent more than once")
	case len(values) == 0 && singleSpellings == 1:
		values = []string{single}
	}
	if len(values) == 0 {
		return "", rejection(ReasonMissingHeader, "missing "+name+" header")
	}
	if strings.TrimSpace(values[0]) == "" {
		return "", rejection(ReasonMissingHeader, "empty "+name+" header")
	}
	return values[0], nil
}

// ValidKeyID reports whether id has the API key id format [A-Za-z0-9_-]{8,128}.
func ValidKeyID(id string) bool {
	if len(id) < 8 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkDate parses x-date as RFC 3339 with an offset (fractions allowed) and
// checks its freshness. Both messages carry the server time: clock skew is the
// first thing integrators get wrong.
func checkDate(date string, now time.Time) *clienterr.Error {
	serverTime := now.UTC().Format(time.RFC3339)
	// The length bound keeps absurd inputs (a 10k-digit fraction) out of the parser.
	var t time.Time
	err := rfc3339.ErrFormat
	if len(date) <= 64 {
		t, err = rfc3339.Parse(date)
	}
	if err != nil {
		return rejection(ReasonDateFormat, fmt.Sprintf("malformed x-date header: expected an RFC 3339 date-time with offset, e.g. 2026-06-01T12:00:00Z; server time is %s", serverTime))
	}
	// Compared, not subtracted: a date centuries away overflows a Duration.
	switch {
	case t.Before(now.Add(-MaxAge)):
		return rejection(ReasonStaleDate, fmt.Sprintf("stale x-date header: it is %s older than server time %s; at most %s is allowed", span(t, now), serverTime, MaxAge))
	case t.After(now.Add(MaxClockAhead)):
		return rejection(ReasonFutureDate, fmt.Sprintf("x-date header is in the future: it is %s ahead of server time %s; at most %s is allowed", span(now, t), serverTime, MaxClockAhead))
	}
	return nil
}

// span is how much later b is than a, for a message: a duration such as
// 1m1s, or whole days from two days on (any two dates RFC 3339 can write,
// years 0000 to 9999, without overflow).
func span(a, b time.Time) string {
	if b.Before(a.Add(48 * time.Hour)) {
		return b.Sub(a).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%d days", (b.Unix()-a.Unix())/86400)
}

// Sign returns the version 1 x-signature for an x-date value: lowercase hex of
// HMAC-SHA256(secret, date). Tests and the dev stack use it; clients sign
// version 2 (signature.SignV2).
func Sign(secret, date string) string { return signature.SignV1(secret, date) }

// minMACs is the number of HMACs every signature check computes: a key has
// one secret, or two while it is rotated (docs/operating.md: at most two).
const minMACs = 2

// dummySecret pads the secrets of a check to minMACs, and stands for all of
// them when the key is unknown. Random, so no signature can match it. Made on
// first use: the API function links this package for Key only, and the
// random source's start is a tenth of a millisecond of its INIT.
var dummySecret = sync.OnceValue(func() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
})

// verify reports whether mac is the HMAC of msg (the string a signature
// version signs) under one of the secrets. It
// computes every HMAC, whichever matches, and at least minMACs of them (with
// dummySecret), so that its time tells neither which secret matched nor
// whether the key has one secret, two, or none (unknown).
func verify(secrets []string, msg string, mac []byte) bool {
	match := false
	for i := range max(len(secrets), minMACs) {
		secret, isReal := dummySecret(), i < len(secrets)
		if isReal {
			secret = secrets[i]
		}
		if hmac.Equal(sum(secret, msg), mac) && isReal {
			match = true
		}
	}
	return match
}

// onSum, when set (tests), is called for every HMAC computed.
var onSum func()

func sum(secret, msg string) []byte {
	if onSum != nil {
		onSum()
	}
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(msg))
	return h.Sum(nil)
}
