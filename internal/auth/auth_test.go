package auth_test

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/auth/keystore"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/signature"
)

const (
	goodKey      = "key-good-0001"
	malformedKey = "key-malformed-01"
	deletedKey   = "key-deleted-001"
	v2OnlyKey    = "key-v2-only-001"
	unknownKey   = "key-unknown-001"
	current      = "s3cret-current-value"
	previous     = "s3cret-previous-value"
	// serverTime is start in the messages.
	serverTime = "2026-06-01T12:00:00Z"
)

func seed(e *env) {
	e.putKey(goodKey, []string{current, previous}, []string{"ws-a", "ws-b"})
	e.putRaw(malformedKey, `{"secrets": "MALFORMED-SECRET-PLAINTEXT", "workspaceIds": ["ws-a"]}`)
	e.putKey(deletedKey, []string{current}, []string{"ws-a"})
	e.putRaw(v2OnlyKey, `{"secrets": ["`+current+`", "`+previous+`"], "workspaceIds": ["ws-a", "ws-b"], "minSignatureVersion": 2}`)
	e.deleteKey(deletedKey)
	e.sm.ResetCalls()
}

// with returns h with name set to value (deleted when value is nil).
func with(h map[string]string, name string, value *string) map[string]string {
	out := maps.Clone(h)
	for k := range out {
		if strings.EqualFold(k, name) {
			delete(out, k)
		}
	}
	if value != nil {
		out[name] = *value
	}
	return out
}

func ptr(s string) *string { return &s }

func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	seed(e)
	good := e.signed(goodKey, current, 0)
	goodDate := good["x-date"]
	goodSig := good["x-signature"]
	at := func(d string) map[string]string { // good key, signed date d
		return map[string]string{"x-api-key": goodKey, "x-date": d, "x-signature": auth.Sign(current, d)}
	}
	// The request's query, and v2 signatures of it.
	query := map[string][]string{"workspaceId": {"ws-a"}, "mediumId": {"ch-1"}, "from": {"2026-05-01T00:00:00+02:00"}, "to": {"2026-05-31"}, "label": {"cl churné"}}
	v2 := func(key, secret string, q map[string][]string) map[string]string {
		return map[string]string{"x-api-key": key, "x-date": goodDate, "x-signature": signature.SignV2(secret, goodDate, q)}
	}
	plus := func(name, value string) map[string][]string {
		q := maps.Clone(query)
		q[name] = append(slices.Clone(q[name]), value)
		return q
	}
	without := func(name string) map[string][]string {
		q := maps.Clone(query)
		delete(q, name)
		return q
	}
	const v2Required = "this key requires signature v2…"

	const (
		ok = iota
		unauth
	)
	tests := []struct {
		name    string
		headers map[string]string
		multi   map[string][]string
		query   map[string][]string // nil: the request has no query string
		want    int
		msg     string // the client message: exact, or a prefix when it ends with "…"
		lookups int    // GetSecretValue calls it may cause
		key     string // the key a success returns; goodKey when empty
		reason  string // the rejection's Reason, when set
	}{
		{name: "good, current secret", headers: good, want: ok, lookups: 1},
		{name: "good, previous secret", headers: e.signed(goodKey, previous, 0), want: ok},
		{name: "header names in any case", headers: map[string]string{"X-Api-Key": goodKey, "X-DATE": goodDate, "X-Signature": goodSig}, want: ok},
		{name: "multi-value headers only", multi: map[string][]string{"X-Api-Key": {goodKey}, "x-date": {goodDate}, "x-signature": {goodSig}}, want: ok},
		{name: "both maps, consistent", headers: good, multi: map[string][]string{"x-api-key": {goodKey}, "x-date": {goodDate}, "x-signature": {goodSig}}, want: ok},

		{name: "missing x-api-key", headers: with(good, "x-api-key", nil), want: unauth, msg: "missing x-api-key header"},
		{name: "missing x-date", headers: with(good, "x-date", nil), want: unauth, msg: "missing x-date header"},
		{name: "missing x-signature", headers: with(good, "x-signature", nil), want: unauth, msg: "missing x-signature header"},
		{name: "no headers at all", want: unauth, msg: "missing x-api-key header"},
		{name: "empty x-api-key", headers: with(good, "x-api-key", ptr("")), want: unauth, msg: "empty x-api-key header"},
		{name: "empty x-date", headers: with(good, "x-date", ptr("")), want: unauth, msg: "empty x-date header"},
		{name: "blank x-signature", headers: with(good, "x-signature", ptr("  ")), want: unauth, msg: "empty x-signature header"},
		{name: "x-api-key twice, same value", multi: map[string][]string{"x-api-key": {goodKey, goodKey}, "x-date": {goodDate}, "x-signature": {goodSig}}, want: unauth, msg: "x-api-key header sent more than once"},
		{name: "x-date twice, different values", multi: map[string][]string{"x-api-key": {goodKey}, "x-date": {goodDate, serverTime}, "x-signature": {goodSig}}, want: unauth, msg: "x-date header sent more than once"},
		{name: "x-signature twice", multi: map[string][]string{"x-api-key": {goodKey}, "x-date": {goodDate}, "x-signature": {goodSig, goodSig}}, want: unauth, msg: "x-signature header sent more than once"},
		{name: "x-date under two spellings", headers: map[string]string{"x-api-key": goodKey, "x-date": goodDate, "X-Date": goodDate, "x-signature": goodSig}, want: unauth, msg: "x-date header sent more than once"},
		{name: "x-api-key under two spellings in multi", headers: good, multi: map[string][]string{"x-api-key": {goodKey}, "X-API-KEY": {goodKey}}, want: unauth, msg: "x-api-key header sent more than once"},
		{name: "headers and multi disagree", headers: good, multi: map[string][]string{"x-signature": {strings.Repeat("0", 64)}}, want: unauth, msg: "x-signature header sent more than once"},

		{name: "key id too short", headers: with(good, "x-api-key", ptr("short")), want: unauth, msg: "malformed x-api-key header…"},
		{name: "key id too long", headers: with(good, "x-api-key", ptr(strings.Repeat("k", 129))), want: unauth, msg: "malformed x-api-key header…"},
		{name: "key id longest", headers: with(good, "x-api-key", ptr(strings.Repeat("k", 128))), want: unauth, msg: "invalid credentials", lookups: 1},
		{name: "key id with a dot", headers: with(good, "x-api-key", ptr("key.good.0001")), want: unauth, msg: "malformed x-api-key header…"},
		{name: "key id with a slash", headers: with(good, "x-api-key", ptr("../../other-prefix/key")), want: unauth, msg: "malformed x-api-key header…"},
		{name: "key id non-ASCII", headers: with(good, "x-api-key", ptr("key-göod-0001")), want: unauth, msg: "malformed x-api-key header…"},

		{name: "x-date 5s ahead accepted", headers: at(start.Add(5 * time.Second).Format(time.RFC3339)), want: ok},
		{name: "x-date 6s ahead", headers: at(start.Add(6 * time.Second).Format(time.RFC3339)), want: unauth, msg: "x-date header is in the future: it is 6s ahead of server time " + serverTime + "; at most 5s is allowed"},
		{name: "x-date 60s old accepted", headers: at(start.Add(-60 * time.Second).Format(time.RFC3339)), want: ok},
		{name: "x-date 61s old", headers: at(start.Add(-61 * time.Second).Format(time.RFC3339)), want: unauth, msg: "stale x-date header: it is 1m1s older than server time " + serverTime + "; at most 1m0s is allowed"},
		{name: "x-date 1 ms past the window", headers: at(start.Add(-60*time.Second - time.Millisecond).Format(time.RFC3339Nano)), want: unauth, msg: "stale x-date header…"},
		{name: "x-date with fraction", headers: at("2026-06-01T11:59:59.123456Z"), want: ok},
		{name: "x-date with offset", headers: at("2026-06-01T14:00:00+02:00"), want: ok},
		{name: "x-date without offset", headers: at("2026-06-01T12:00:00"), want: unauth, msg: "malformed x-date header: expected an RFC 3339 date-time with offset, e.g. 2026-06-01T12:00:00Z; server time is " + serverTime},
		{name: "x-date date only", headers: at("2026-06-01"), want: unauth, msg: "malformed x-date header…"},
		{name: "x-date epoch", headers: at("1780315200"), want: unauth, msg: "malformed x-date header…"},
		{name: "x-date garbage", headers: at("yesterday at noon"), want: unauth, msg: "malformed x-date header…"},
		{name: "x-date HTTP date", headers: at("Mon, 01 Jun 2026 12:00:00 GMT"), want: unauth, msg: "malformed x-date header…"},

		{name: "signature wrong", headers: with(good, "x-signature", ptr(auth.Sign("other-secret", goodDate))), want: unauth, msg: "invalid credentials", lookups: 0},
		{name: "signature of another date", headers: with(good, "x-signature", ptr(auth.Sign(current, "2026-06-01T12:00:00.000Z"))), want: unauth, msg: "invalid credentials"},
		{name: "signature uppercase hex", headers: with(good, "x-signature", ptr(strings.ToUpper(goodSig))), want: unauth, msg: "malformed x-signature header: expected v2= and 64 lowercase hex characters (HMAC-SHA256), or 64 alone for version 1"},
		{name: "signature too short", headers: with(good, "x-signature", ptr(goodSig[:63])), want: unauth, msg: "malformed x-signature header…"},
		{name: "signature too long", headers: with(good, "x-signature", ptr(goodSig+"0")), want: unauth, msg: "malformed x-signature header…"},
		{name: "signature not hex", headers: with(good, "x-signature", ptr("g"+goodSig[1:])), want: unauth, msg: "malformed x-signature header…"},
		{name: "signature base64", headers: with(good, "x-signature", ptr("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")), want: unauth, msg: "malformed x-signature header…"},

		{name: "v2, current secret", headers: v2(goodKey, current, query), query: query, want: ok, lookups: 1},
		{name: "v2, previous secret (rotation)", headers: v2(goodKey, previous, query), query: query, want: ok},
		{name: "v2, no query", headers: v2(goodKey, current, nil), want: ok},
		{name: "v2 over an empty query is v2 over none", headers: v2(goodKey, current, map[string][]string{}), want: ok},
		{name: "v2 over another query", headers: v2(goodKey, current, plus("label", "other")), query: query, want: unauth, msg: "invalid credentials"},
		{name: "v2 with a parameter added", headers: v2(goodKey, current, query), query: plus("limit", "5"), want: unauth, msg: "invalid credentials"},
		{name: "v2 with a value repeated", headers: v2(goodKey, current, query), query: plus("workspaceId", "ws-a"), want: unauth, msg: "invalid credentials"},
		{name: "v2 with a parameter dropped", headers: v2(goodKey, current, query), query: without("label"), want: unauth, msg: "invalid credentials"},
		{name: "v2 with a value changed", headers: v2(goodKey, current, query), query: plus("workspaceId", "ws-b"), want: unauth, msg: "invalid credentials"},
		{name: "v2 of another date", headers: with(v2(goodKey, current, query), "x-date", ptr("2026-06-01T12:00:00.0Z")), query: query, want: unauth, msg: "invalid credentials"},
		{name: "v2 with the wrong secret", headers: v2(goodKey, "other-secret", query), query: query, want: unauth, msg: "invalid credentials"},
		{name: "v2 prefix on a v1 signature", headers: with(good, "x-signature", ptr("v2="+goodSig)), want: unauth, msg: "invalid credentials"},
		{name: "v1 value under a v2 request", headers: with(v2(goodKey, current, nil), "x-signature", ptr(strings.TrimPrefix(signature.SignV2(current, goodDate, nil), "v2="))), want: unauth, msg: "invalid credentials"},
		{name: "V2= upper case", headers: with(good, "x-signature", ptr("V2="+goodSig)), want: unauth, msg: "malformed x-signature header…"},
		{name: "v3", headers: with(good, "x-signature", ptr("v3="+goodSig)), want: unauth, msg: "malformed x-signature header…"},
		{name: "v2-only key, v2", headers: v2(v2OnlyKey, current, query), query: query, want: ok, key: v2OnlyKey, lookups: 1},
		{name: "v2-only key, v2 with the previous secret", headers: v2(v2OnlyKey, previous, query), query: query, want: ok, key: v2OnlyKey},
		{name: "v2-only key, valid v1", headers: e.signed(v2OnlyKey, current, 0), query: query, want: unauth, msg: v2Required, reason: "signature v1 refused"},
		{name: "v2-only key, valid v1 of the previous secret", headers: e.signed(v2OnlyKey, previous, 0), want: unauth, msg: v2Required, reason: "signature v1 refused"},
		{name: "v2-only key, wrong v1", headers: e.signed(v2OnlyKey, "other-secret", 0), want: unauth, msg: "invalid credentials"},
		{name: "v2-only key, wrong v2", headers: v2(v2OnlyKey, current, query), query: without("from"), want: unauth, msg: "invalid credentials"},

		{name: "unknown key", headers: e.signed(unknownKey, current, 0), want: unauth, msg: "invalid credentials", lookups: 1},
		{name: "key scheduled for deletion", headers: e.signed(deletedKey, current, 0), want: unauth, msg: "invalid credentials", lookups: 1},
		{name: "malformed secret value", headers: e.signed(malformedKey, "MALFORMED-SECRET-PLAINTEXT", 0), want: unauth, msg: "invalid credentials", lookups: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.getCalls()
			key, err := e.v.Authenticate(context.Background(), "GET", "/vip-messages", tt.headers, tt.multi, tt.query)
			if n := e.getCalls() - before; n > tt.lookups {
				t.Errorf("made %d GetSecretValue calls, want at most %d", n, tt.lookups)
			}
			if tt.want == ok {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				wantKey := cmp.Or(tt.key, goodKey)
				if key.ID != wantKey || !key.Allows("ws-a") || !key.Allows("ws-b") || key.Allows("ws-c") {
					t.Fatalf("key = %+v", key)
				}
				return
			}
			ce, isClientErr := clienterr.As(err)
			if !isClientErr || ce.Kind != clienterr.Unauthenticated || errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("err = %v, want a *clienterr.Error of kind Unauthenticated", err)
			}
			if !slices.Contains(auth.Reasons, ce.Reason) {
				t.Fatalf("err %v carries reason %q, not one of auth.Reasons", err, ce.Reason)
			}
			if tt.reason != "" && ce.Reason != tt.reason {
				t.Fatalf("reason %q, want %q", ce.Reason, tt.reason)
			}
			got := ce.Message
			if p, isPrefix := strings.CutSuffix(tt.msg, "…"); isPrefix {
				if !strings.HasPrefix(got, p) {
					t.Fatalf("message %q, want prefix %q", got, p)
				}
			} else if got != tt.msg {
				t.Fatalf("message %q, want %q", got, tt.msg)
			}
			if key.ID != "" {
				t.Fatalf("rejected request returned key %+v", key)
			}
		})
	}
}

// Unknown key, deleted key, wrong signature and malformed secret answer one and the same error.
func TestUniformRejection(t *testing.T) {
	e := newEnv(t)
	seed(e)
	var errs []error
	for _, h := range []map[string]string{
		e.signed(unknownKey, current, 0),
		e.signed(deletedKey, current, 0),
		e.signed(malformedKey, current, 0),
		e.signed(goodKey, "wrong-secret", 0),
	} {
		_, err := e.auth(h)
		errs = append(errs, err)
	}
	for i, err := range errs {
		if !errors.Is(err, auth.ErrUnauthenticated) || auth.ErrUnauthenticated.Message != "invalid credentials" || err.Error() != errs[0].Error() {
			t.Errorf("case %d: err = %v, want exactly ErrUnauthenticated", i, err)
		}
	}
}

func TestRotation(t *testing.T) {
	e := newEnv(t)
	e.putKey(goodKey, []string{"new-secret", "old-secret"}, []string{"ws-a"})
	for _, s := range []string{"new-secret", "old-secret"} {
		if _, err := e.auth(e.signed(goodKey, s, 0)); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	e.putKey(goodKey, []string{"new-secret"}, []string{"ws-a"})
	// Within the TTL the cached value still lists the old secret.
	e.clock.Advance(keystore.DefaultKeyTTL - time.Second)
	if _, err := e.auth(e.signed(goodKey, "old-secret", 0)); err != nil {
		t.Fatalf("old secret within TTL: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.auth(e.signed(goodKey, "old-secret", 0)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("old secret after TTL: err = %v, want ErrUnauthenticated", err)
	}
	if _, err := e.auth(e.signed(goodKey, "new-secret", 0)); err != nil {
		t.Fatalf("new secret after TTL: %v", err)
	}
	if n := e.getCalls(); n != 2 {
		t.Fatalf("GetSecretValue calls = %d, want 2", n)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	e.putKey(goodKey, []string{current}, []string{"ws-a"})
	if _, err := e.auth(e.signed(goodKey, current, 0)); err != nil {
		t.Fatal(err)
	}
	e.deleteKey(goodKey)
	e.clock.Advance(keystore.DefaultKeyTTL)
	if _, err := e.auth(e.signed(goodKey, current, 0)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("deleted key after TTL: err = %v, want ErrUnauthenticated", err)
	}
}

func TestKeyAllows(t *testing.T) {
	k := auth.Key{ID: "k", WorkspaceIDs: []string{"a", "b"}}
	for ws, want := range map[string]bool{"a": true, "b": true, "c": false, "": false, "A": false} {
		if got := k.Allows(ws); got != want {
			t.Errorf("Allows(%q) = %v, want %v", ws, got, want)
		}
	}
	if (auth.Key{}).Allows("a") {
		t.Error("a key without workspaces allows one")
	}
}

func TestSignKnownAnswer(t *testing.T) {
	for _, tc := range []struct{ secret, date, want string }{
		// RFC 4231 test case 2.
		{"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		// docs/signing.md's version 1 example: printf '%s' "$DATE" | openssl dgst -sha256 -hmac "$SECRET" -r
		{"demo-secret-please-change", "2026-06-01T12:00:00Z", "2dbb9a61b9319b4448f9276e69ab1abe3a96dffde024fcda85287c222cd066d3"},
	} {
		if got := auth.Sign(tc.secret, tc.date); got != tc.want {
			t.Errorf("Sign(%q, %q) = %s, want %s", tc.secret, tc.date, got, tc.want)
		}
	}
}
