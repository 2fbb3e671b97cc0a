package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/signature"
)

// mapSource is an in-memory KeySource, so fuzzing runs without a network.
type mapSource map[string]auth.SecretValue

func (m mapSource) LookupKey(_ context.Context, keyID string) (auth.SecretValue, error) {
	v, ok := m[keyID]
	if !ok {
		return auth.SecretValue{}, auth.ErrUnauthenticated
	}
	return v, nil
}

func FuzzAuthenticate(f *testing.F) {
	good := auth.Sign(current, serverTime)
	seeds := []struct{ key, date, sig, extraName, extraValue string }{
		{goodKey, serverTime, good, "", ""},
		{goodKey, serverTime, auth.Sign(previous, serverTime), "", ""},
		{goodKey, serverTime, strings.ToUpper(good), "", ""},
		{goodKey, serverTime, good, "X-Date", serverTime},
		{goodKey, serverTime, good, "x-signature", good},
		{goodKey, serverTime, good, "X-API-KEY", goodKey},
		{goodKey, serverTime, good, "content-type", "text/plain"},
		{goodKey, "2026-06-01T11:59:59.999999999+00:00", auth.Sign(current, "2026-06-01T11:59:59.999999999+00:00"), "", ""},
		{goodKey, "2026-06-01T12:00:00", good, "", ""},
		{goodKey, "2026-06-01T12:00:00.1234567890123456789Z", good, "", ""},
		{goodKey, "9999-12-31T23:59:59Z", good, "", ""},
		{goodKey, "0000-01-01T00:00:00-23:59", good, "", ""},
		{"short", serverTime, good, "", ""},
		{unknownKey, serverTime, good, "", ""},
		{"", "", "", "", ""},
		{goodKey + "\x00", serverTime, good, "", ""},
		{goodKey, serverTime + "\n", good, "", ""},
		{goodKey, serverTime, good[:63] + "g", "", ""},
		{goodKey, "  ", good, "", ""},
	}
	for _, s := range seeds {
		f.Add(s.key, s.date, s.sig, s.extraName, s.extraValue)
	}
	v := auth.NewVerifier(mapSource{goodKey: {Secrets: []string{current, previous}, WorkspaceIDs: []string{"ws-a"}}}, nil)
	v.Now = func() time.Time { return start }

	f.Fuzz(func(t *testing.T, keyID, date, sig, extraName, extraValue string) {
		headers := map[string]string{"x-api-key": keyID, "x-date": date, "x-signature": sig}
		multi := map[string][]string{"x-api-key": {keyID}, "x-date": {date}, "x-signature": {sig}}
		if extraName != "" {
			headers[extraName] = extraValue
			multi[extraName] = append(multi[extraName], extraValue)
		}
		for _, m := range []map[string][]string{multi, nil} {
			key, err := v.Authenticate(context.Background(), "GET", "/vip-messages", headers, m, nil)
			if err == nil {
				// The extra header may have replaced one of the three in headers.
				keyID, date, sig := headers["x-api-key"], headers["x-date"], headers["x-signature"]
				signedBy := auth.Sign(current, date) == sig || auth.Sign(previous, date) == sig
				if key.ID != goodKey || keyID != goodKey || !signedBy || !key.Allows("ws-a") {
					t.Fatalf("accepted key=%q date=%q sig=%q as %+v", keyID, date, sig, key)
				}
				ts, perr := time.Parse(time.RFC3339Nano, date)
				if age := start.Sub(ts); perr != nil || age > auth.MaxAge || age < -auth.MaxClockAhead {
					t.Fatalf("accepted x-date %q (age %v, %v)", date, age, perr)
				}
				continue
			}
			ce, isClientErr := clienterr.As(err)
			if !isClientErr || ce.Kind != clienterr.Unauthenticated || errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("err = %v, want a 401", err)
			}
			msg := ce.Message
			if msg == "" || strings.Contains(msg, current) || strings.Contains(msg, previous) ||
				len(sig) >= 16 && strings.Contains(msg, sig) {
				t.Fatalf("client message %q", msg)
			}
		}
	})
}

// FuzzAuthenticateV2: any query, any signature, two keys (one v2-only): no
// panic; a request passes only when its signature is v2 over exactly its query
// and x-date with a listed secret, or a valid v1 for the key that accepts v1;
// the v2-only key says "requires signature v2" only to a valid v1 signature.
func FuzzAuthenticateV2(f *testing.F) {
	q := "workspaceId=ws-a&mediumId=ch-1&from=2026-05-01T00:00:00+02:00&label=cl churné"
	query := func(raw string) map[string][]string {
		m := map[string][]string{}
		for _, p := range strings.Split(raw, "&") {
			if p == "" {
				continue
			}
			name, value, _ := strings.Cut(p, "=")
			m[name] = append(m[name], value)
		}
		return m
	}
	for _, s := range []struct{ key, sig, raw string }{
		{goodKey, signature.SignV2(current, serverTime, query(q)), q},
		{goodKey, signature.SignV2(previous, serverTime, query(q)), q + "&limit=5"},
		{v2OnlyKey, signature.SignV2(current, serverTime, query(q)), q},
		{v2OnlyKey, auth.Sign(current, serverTime), q},
		{v2OnlyKey, auth.Sign("other", serverTime), ""},
		{goodKey, "v2=" + auth.Sign(current, serverTime), ""},
		{goodKey, signature.SignV2(current, serverTime, nil), "a"},
	} {
		f.Add(s.key, s.sig, s.raw)
	}
	v := auth.NewVerifier(mapSource{
		goodKey:   {Secrets: []string{current, previous}, WorkspaceIDs: []string{"ws-a"}},
		v2OnlyKey: {Secrets: []string{current, previous}, WorkspaceIDs: []string{"ws-a"}, MinSignatureVersion: 2},
	}, nil)
	v.Now = func() time.Time { return start }

	f.Fuzz(func(t *testing.T, keyID, sig, raw string) {
		headers := map[string]string{"x-api-key": keyID, "x-date": serverTime, "x-signature": sig}
		q := query(raw)
		key, err := v.Authenticate(context.Background(), "GET", "/vip-messages", headers, nil, q)
		validV2 := sig == signature.SignV2(current, serverTime, q) || sig == signature.SignV2(previous, serverTime, q)
		validV1 := sig == auth.Sign(current, serverTime) || sig == auth.Sign(previous, serverTime)
		known := keyID == goodKey || keyID == v2OnlyKey
		switch {
		case err == nil:
			if !known || key.ID != keyID || !(validV2 || validV1 && keyID == goodKey) {
				t.Fatalf("accepted key=%q sig=%q query=%q", keyID, sig, raw)
			}
		case errors.Is(err, auth.ErrV2Required):
			if keyID != v2OnlyKey || !validV1 {
				t.Fatalf("v2-required for key=%q sig=%q", keyID, sig)
			}
		default:
			if known && (validV2 || validV1 && keyID == goodKey) {
				t.Fatalf("refused key=%q sig=%q query=%q: %v", keyID, sig, raw, err)
			}
			if clienterr.KindOf(err) != clienterr.Unauthenticated {
				t.Fatalf("err = %v, want a 401", err)
			}
		}
	})
}
