package auth

import (
	"context"
	"testing"
	"time"
)

// keys is an in-memory KeySource (the store itself is tested against Secrets
// Manager in keystore_test.go).
type keys map[string]SecretValue

func (k keys) LookupKey(_ context.Context, id string) (SecretValue, error) {
	if v, ok := k[id]; ok {
		return v, nil
	}
	return SecretValue{}, ErrUnauthenticated
}

var dummyTestNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func dummyVerifier() *Verifier {
	return &Verifier{Now: func() time.Time { return dummyTestNow }, Keys: keys{
		"key-one-secret":  {Secrets: []string{"s3cret-one"}, WorkspaceIDs: []string{"ws"}},
		"key-two-secrets": {Secrets: []string{"s3cret-new", "s3cret-old"}, WorkspaceIDs: []string{"ws"}},
	}}
}

func headersFor(key, secret string) map[string]string {
	date := dummyTestNow.Format(time.RFC3339)
	return map[string]string{HeaderKeyID: key, HeaderDate: date, HeaderSignature: Sign(secret, date)}
}

// Every request that reaches the signature check computes the same number of
// HMACs: an unknown key as many as a wrong signature, whatever the number of
// secrets, so that timing does not tell which key ids exist.
func TestEveryCheckComputesTheSameHMACs(t *testing.T) {
	v := dummyVerifier()
	cases := []struct {
		name    string
		headers map[string]string
		ok      bool
	}{
		{"unknown key", headersFor("key-unknown-1", "s3cret-one"), false},
		{"wrong signature, one secret", headersFor("key-one-secret", "wrong"), false},
		{"wrong signature, two secrets", headersFor("key-two-secrets", "wrong"), false},
		{"right signature, one secret", headersFor("key-one-secret", "s3cret-one"), true},
		{"right signature, previous secret", headersFor("key-two-secrets", "s3cret-old"), true},
		{"the dummy secret itself, unknown key", headersFor("key-unknown-1", dummySecret()), false},
		{"the dummy secret itself, known key", headersFor("key-one-secret", dummySecret()), false},
	}
	for _, c := range cases {
		n := 0
		onSum = func() { n++ }
		_, err := v.Authenticate(context.Background(), "GET", "/vip-messages", c.headers, nil, nil)
		onSum = nil
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.name, err)
		}
		if n != minMACs {
			t.Errorf("%s: %d HMACs, want %d", c.name, n, minMACs)
		}
	}
}

// BenchmarkRejection: an unknown key and a wrong signature cost the same.
//
//	go test -run '^$' -bench Rejection -benchmem ./internal/auth
func BenchmarkRejection(b *testing.B) {
	v := dummyVerifier()
	for _, c := range []struct {
		name    string
		headers map[string]string
	}{
		{"unknown key", headersFor("key-unknown-1", "s3cret-one")},
		{"wrong signature", headersFor("key-one-secret", "wrong")},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Authenticate(context.Background(), "GET", "/vip-messages", c.headers, nil, nil); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
