package rfc3339_test

import (
	"testing"
	"time"

	"github.com/vip-messages/api/internal/rfc3339"
	"github.com/vip-messages/api/internal/rfc3339/rfc3339test"
)

func TestCases(t *testing.T) {
	for _, c := range rfc3339test.Cases(t) {
		t.Run(c.Why, func(t *testing.T) {
			got, err := rfc3339.Parse(c.Value)
			switch {
			case c.Instant == "" && err == nil:
				t.Fatalf("Parse(%q) = %v, want an error", c.Value, got)
			case c.Instant != "" && (err != nil || !got.Equal(c.Time(t))):
				t.Fatalf("Parse(%q) = %v, %v; want %s", c.Value, got, err, c.Instant)
			}
			d, err := rfc3339.ParseDate(c.Value)
			switch {
			case !c.Date && err == nil:
				t.Fatalf("ParseDate(%q) = %v, want an error", c.Value, d)
			case c.Date && (err != nil || d.Format(time.DateOnly) != c.Value || d.Location() != time.UTC || d.Hour() != 0):
				t.Fatalf("ParseDate(%q) = %v, %v", c.Value, d, err)
			}
		})
	}
}

// Every instant Parse reads, time.Parse reads the same (it is only stricter),
// and the value round-trips through Format.
func FuzzParse(f *testing.F) {
	for _, c := range rfc3339test.Cases(f) {
		f.Add(c.Value)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := rfc3339.Parse(s)
		if err != nil {
			return
		}
		loose, lerr := time.Parse(time.RFC3339Nano, s)
		if lerr != nil || !loose.Equal(got) {
			t.Fatalf("Parse(%q) = %v, time.Parse = %v, %v", s, got, loose, lerr)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := rfc3339.Parse("2026-06-01T14:00:00.123+02:00"); err != nil {
			b.Fatal(err)
		}
	}
}
