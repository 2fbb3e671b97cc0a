package auth_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/auth/keystore"
	"github.com/vip-messages/api/internal/local/smlocal"
)

// TestLogsLeakNoSecret drives every path of Authenticate and the key store with
// logging on, then checks the output for secrets, signatures and x-date values
// sent with their signature.
func TestLogsLeakNoSecret(t *testing.T) {
	e := newEnv(t)
	seed(e)
	secrets := []string{current, previous, "MALFORMED-SECRET-PLAINTEXT", "wrong-secret"}
	var sent []map[string]string
	send := func(h map[string]string, multi map[string][]string) {
		sent = append(sent, h)
		_, _ = e.v.Authenticate(t.Context(), "GET", "/vip-messages", h, multi, nil)
	}
	at := func(d, secret string) map[string]string {
		return map[string]string{"x-api-key": goodKey, "x-date": d, "x-signature": auth.Sign(secret, d)}
	}
	good := e.signed(goodKey, current, 0)

	send(good, nil)
	send(e.signed(goodKey, previous, 0), nil)
	send(e.signed(goodKey, "wrong-secret", 0), nil)
	send(with(good, "x-signature", ptr(strings.ToUpper(good["x-signature"]))), nil)
	send(with(good, "x-signature", ptr(good["x-signature"][:60])), nil)
	send(with(good, "x-api-key", nil), nil)
	send(with(good, "x-api-key", ptr("bad key!")), nil)
	send(with(good, "x-date", ptr("")), nil)
	send(good, map[string][]string{"x-signature": {good["x-signature"], good["x-signature"]}})
	send(at(start.Add(-61*time.Second).Format(time.RFC3339), current), nil)
	send(at(start.Add(6*time.Second).Format(time.RFC3339Nano), current), nil)
	send(at("2026-06-01 12:00:00", current), nil)
	send(e.signed(unknownKey, current, 0), nil)
	send(e.signed(deletedKey, current, 0), nil)
	send(e.signed(malformedKey, "MALFORMED-SECRET-PLAINTEXT", 0), nil)
	// A secret sent as the key id by mistake (both are base64url).
	send(e.signed(current, current, 0), nil)
	// Stale-if-error, then unavailable, then an uncached key in the outage.
	e.sm.SetFailure(smlocal.AllOperations, &smlocal.Internal)
	e.clock.Advance(keystore.DefaultKeyTTL)
	send(e.signed(goodKey, current, 0), nil)
	e.clock.Advance(keystore.DefaultStaleKeyTTL)
	send(e.signed(goodKey, current, 0), nil)
	send(e.signed("key-never-seen", current, 0), nil)
	send(e.signed(current, current, 0), nil)

	out := e.logs.String()
	for _, want := range []string{"malformed API key secret", "serving stale API key", "key store unavailable", `"apiKeyId":"key-good-0001"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q; the paths did not run as intended:\n%s", want, out)
		}
	}
	// A key id no secret was found for is the client's text: only its hash.
	if strings.Contains(out, "key-never-seen") || !strings.Contains(out, auth.KeyIDHash("key-never-seen")) {
		t.Errorf("logs name an unknown key id, or not even its hash:\n%s", out)
	}
	// A rejection is logged once, on the request's own line, by the API, not here.
	if strings.Contains(out, "auth rejected") {
		t.Errorf("the verifier logged a rejection of its own:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("logs contain the secret %q", s)
		}
	}
	if hex := regexp.MustCompile(`[0-9a-fA-F]{32,}`).FindString(out); hex != "" {
		t.Errorf("logs contain a signature-like value %q", hex)
	}
	for _, line := range strings.Split(out, "\n") {
		for _, h := range sent {
			if sig := h["x-signature"]; len(sig) >= 16 && strings.Contains(line, sig[:16]) {
				t.Errorf("log line has (part of) a signature: %s", line)
			}
			if d := h["x-date"]; d != "" && strings.Contains(line, d) && strings.Contains(line, h["x-signature"]) && h["x-signature"] != "" {
				t.Errorf("log line has an x-date with its signature: %s", line)
			}
		}
	}
}
