package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/signature"
)

// Keys of the signature tests, besides the demo key (v1 and v2).
const (
	v2OnlyKeyID          = "vk_v2only000000000000"
	rotatedKeyID         = "vk_rotated00000000000"
	newSecret, oldSecret = "the-new-secret", "the-old-secret"
)

// signatureAPI is the handler behind the local gateway, over HTTP: the query
// string goes through the gateway's decoding, as through API Gateway's. The
// signature tests' keys are added to the fixture's.
func signatureAPI(t *testing.T) string {
	t.Helper()
	f := newFixture()
	f.keys.values[v2OnlyKeyID] = auth.SecretValue{Secrets: []string{newSecret, oldSecret}, WorkspaceIDs: []string{wsVIP}, MinSignatureVersion: 2}
	f.keys.values[rotatedKeyID] = auth.SecretValue{Secrets: []string{newSecret, oldSecret}, WorkspaceIDs: []string{wsVIP}}
	srv := httptest.NewServer(gateway.NewWithOptions(gateway.VipMessages, f.h.Handle, gateway.Options{Authorizer: f.z.Handle}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// get sends GET /vip-messages?rawQuery with the three headers and returns the
// status and the message of an error body.
func get(t *testing.T, base, rawQuery, keyID, sig, date string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/vip-messages?"+rawQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", keyID)
	req.Header.Set("x-date", date)
	req.Header.Set("x-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m struct{ Message string }
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m.Message
}

// TestSignatureV2ThroughTheGateway: the signature covers the query as API
// Gateway decodes it, whatever its order or spelling on the wire, and nothing
// else: another, added or dropped parameter is refused.
func TestSignatureV2ThroughTheGateway(t *testing.T) {
	base := signatureAPI(t)
	ws, ch := wsVIP, chOn
	// The decoded query the client signs (as url.Values) for each case.
	plain := url.Values{"workspaceId": {ws}, "mediumId": {ch}, "from": {"2026-11-20"}, "to": {"2026-11-26"}, "limit": {"5"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for name, vs := range plain {
			q[name] = append([]string(nil), vs...)
		}
		q[k] = []string{v}
		return q
	}
	const ok, unauth = http.StatusOK, http.StatusUnauthorized
	for _, tc := range []struct {
		name   string
		signed url.Values // what the signature covers
		raw    string     // the query string on the wire
		want   int
	}{
		{"v2 accepted", plain, plain.Encode(), ok},
		{"parameters reordered", plain, "to=2026-11-26&limit=5&mediumId=" + ch + "&workspaceId=" + ws + "&from=2026-11-20", ok},
		{"signature over another query", with("limit", "6"), plain.Encode(), unauth},
		{"a parameter added", plain, plain.Encode() + "&label=frustrated", unauth},
		{"a parameter repeated", plain, plain.Encode() + "&limit=5", unauth},
		{"a parameter dropped", plain, strings.Replace(plain.Encode(), "&limit=5", "", 1), unauth},
		{"an empty parameter added", plain, plain.Encode() + "&before=", unauth},

		// Spellings of one decoded value: the signature does not care.
		{"space as %20", with("label", "cl churné"), strings.Replace(with("label", "X").Encode(), "label=X", "label=cl%20churn%C3%A9", 1), ok},
		{"space as + (API Gateway decodes + to a space)", with("label", "cl churné"), strings.Replace(with("label", "X").Encode(), "label=X", "label=cl+churn%C3%A9", 1), ok},
		{"UTF-8 unencoded on the wire", with("label", "cl churné"), strings.Replace(with("label", "X").Encode(), "label=X", "label=cl%20churné", 1), ok},
		{"a plus sign as %2B", with("label", "a+b"), with("label", "a+b").Encode(), ok},
		// A label may hold no '%' (a value passed on undecoded could not be told
		// apart), so even a well-signed %25 is a 422, not a filter on "100%".
		{"a percent sign as %25", with("label", "100%"), with("label", "100%").Encode(), http.StatusUnprocessableEntity},
		{"a date-time, ':' as is and + as %2B", with("from", "2026-11-20T00:00:00+02:00"),
			strings.Replace(plain.Encode(), "from=2026-11-20", "from=2026-11-20T00:00:00%2B02:00", 1), ok},
		{"a date-time, ':' as %3A", with("from", "2026-11-20T00:00:00+02:00"),
			strings.Replace(plain.Encode(), "from=2026-11-20", "from=2026-11-20T00%3A00%3A00%2B02%3A00", 1), ok},
		// The classic mistake: the offset's '+' sent unencoded reaches the
		// function as a space, which the client did not sign.
		{"a bare + in an offset", with("from", "2026-11-20T00:00:00+02:00"),
			strings.Replace(plain.Encode(), "from=2026-11-20", "from=2026-11-20T00:00:00+02:00", 1), unauth},
		{"signed %41 literally, sent as %41 (decodes to A)", with("label", "%41"), strings.Replace(with("label", "X").Encode(), "label=X", "label=%41", 1), unauth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			date := time.Now().UTC().Format(time.RFC3339)
			status, msg := get(t, base, tc.raw, demoKeyID, signature.SignV2(demoSecret, date, tc.signed), date)
			if status != tc.want {
				t.Fatalf("?%s signed over %q: %d %q, want %d", tc.raw, signature.Canonical(tc.signed), status, msg, tc.want)
			}
			if status == unauth && msg != auth.ErrUnauthenticated.Message {
				t.Fatalf("message %q, want the uniform %q", msg, auth.ErrUnauthenticated.Message)
			}
		})
	}
}

// TestSignatureVersionsPerKey: a v2-only key refuses a valid v1 signature and
// says why; either listed secret signs v2 (rotation); the demo key, without
// the field, takes both versions.
func TestSignatureVersionsPerKey(t *testing.T) {
	base := signatureAPI(t)
	q := url.Values{"workspaceId": {wsVIP}, "mediumId": {chOn}, "from": {"2026-11-20"}, "to": {"2026-11-26"}}
	raw := q.Encode()
	v1 := func(secret, date string) string { return signature.SignV1(secret, date) }
	v2 := func(secret, date string) string { return signature.SignV2(secret, date, q) }
	for _, tc := range []struct {
		name, key string
		sign      func(secret, date string) string
		secret    string
		want      int
		msg       string // prefix of the 401 message
	}{
		{"v2-only key, v2, current secret", v2OnlyKeyID, v2, newSecret, 200, ""},
		{"v2-only key, v2, previous secret", v2OnlyKeyID, v2, oldSecret, 200, ""},
		{"v2-only key, valid v1", v2OnlyKeyID, v1, newSecret, 401, "this key requires signature v2"},
		{"v2-only key, valid v1 of the previous secret", v2OnlyKeyID, v1, oldSecret, 401, "this key requires signature v2"},
		{"v2-only key, wrong v1", v2OnlyKeyID, v1, "guess", 401, auth.ErrUnauthenticated.Message},
		{"v2-only key, wrong v2", v2OnlyKeyID, v2, "guess", 401, auth.ErrUnauthenticated.Message},
		{"rotation, v2 with the new secret", rotatedKeyID, v2, newSecret, 200, ""},
		{"rotation, v2 with the old secret", rotatedKeyID, v2, oldSecret, 200, ""},
		{"rotation, v1 with the old secret", rotatedKeyID, v1, oldSecret, 200, ""},
		{"rotation, a secret never listed", rotatedKeyID, v2, "the-oldest-secret", 401, auth.ErrUnauthenticated.Message},
		{"demo key, v1", demoKeyID, v1, demoSecret, 200, ""},
		{"demo key, v2", demoKeyID, v2, demoSecret, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			date := time.Now().UTC().Format(time.RFC3339)
			status, msg := get(t, base, raw, tc.key, tc.sign(tc.secret, date), date)
			if status != tc.want || !strings.HasPrefix(msg, tc.msg) {
				t.Fatalf("%d %q, want %d %q…", status, msg, tc.want, tc.msg)
			}
		})
	}
}
