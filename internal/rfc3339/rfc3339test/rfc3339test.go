// Package rfc3339test holds the strictness cases of internal/rfc3339
// (testdata/cases.json), so that the auth path (x-date) and the query-string
// path (from, to) are tested with the very same values. Only tests import it.
package rfc3339test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/local/repo"
)

// Case is one value and what the strict parser must make of it.
type Case struct {
	Value string `json:"value"`
	// Instant is the value as an RFC 3339 UTC instant when it is a valid
	// date-time; empty when it is not one.
	Instant string `json:"instant"`
	// Date is true when the value is a valid date YYYY-MM-DD.
	Date bool   `json:"date"`
	Why  string `json:"why"`
}

// Time is the instant of a valid date-time.
func (c Case) Time(t testing.TB) time.Time {
	t.Helper()
	tt, err := time.Parse(time.RFC3339Nano, c.Instant)
	if err != nil {
		t.Fatalf("case %q: bad instant %q", c.Why, c.Instant)
	}
	return tt
}

// Cases reads the cases.
func Cases(t testing.TB) []Case {
	t.Helper()
	path, err := repo.Path("internal/rfc3339/testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cs []Case
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs) < 20 {
		t.Fatalf("only %d cases", len(cs))
	}
	return cs
}
