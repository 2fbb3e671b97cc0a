package rfc3339

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	ok := map[string]time.Time{
		"2026-06-01T12:00:00Z":           time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
		"2026-06-01T12:00:00.123Z":       time.Date(2026, 6, 1, 12, 0, 0, 123e6, time.UTC),
		"2026-06-01T14:00:00+02:00":      time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
		"2026-06-01T12:00:00.123456789Z": time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC),
		"2026-06-01T06:30:00.5-05:30":    time.Date(2026, 6, 1, 12, 0, 0, 5e8, time.UTC),
	}
	for in, want := range ok {
		if got, err := Parse(in); err != nil || !got.Equal(want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "2026-06-01", "2026-06-01T12:00:00", "2026-06-01 12:00:00Z", "2026-06-01t12:00:00Z",
		"2026-06-01T12:00:00z", "2026-06-01T12:00:00,5Z", "2026-06-01T12:00:00+24:00", "2026-13-01T12:00:00Z",
		"2026-06-01T12:00:00.1234567890Z", "2026-06-01T12:00Z", "20260601T120000Z", "2026-06-01T12:00:00+0200",
	} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}
