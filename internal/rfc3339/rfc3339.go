// Package rfc3339 parses RFC 3339 date-times strictly: time.Parse also takes a
// comma before the fraction and a 24:00 offset, which the contract does not.
package rfc3339

import (
	"errors"
	"regexp"
	"time"
)

// pattern is an RFC 3339 date-time with a mandatory offset, an optional fraction
// of up to 9 digits, and upper-case 'T' and 'Z'.
var pattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$`)

// ErrFormat is returned for any value that is not such a date-time.
var ErrFormat = errors.New("not an RFC 3339 date-time with offset")

// Parse reads a date-time such as 2026-06-01T12:00:00Z or 2026-06-01T14:00:00.123+02:00.
func Parse(s string) (time.Time, error) {
	if len(s) > 64 || !pattern.MatchString(s) {
		return time.Time{}, ErrFormat
	}
	if off := s[len(s)-6:]; off[0] == '+' || off[0] == '-' {
		if off[1:3] > "23" || off[4:6] > "59" {
			return time.Time{}, ErrFormat
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, ErrFormat // e.g. month 13, offset hour 24
	}
	return t, nil
}
