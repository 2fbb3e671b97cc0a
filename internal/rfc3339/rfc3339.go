// Package rfc3339 is the one parser of the API's dates: x-date, from and to
// (docs/signing.md, "Rules"; docs/api.md, "The query"). It reads RFC 3339 strictly,
// where time.Parse is loose (a comma before the fraction, one-digit hours,
// offsets such as +24:00 or +00:60).
package rfc3339

import (
	"errors"
	"time"
)

// ErrFormat is returned for any value that is not of the form asked for.
var ErrFormat = errors.New("not an RFC 3339 date-time with offset")

// ErrDateFormat is returned by ParseDate for any value that is not YYYY-MM-DD.
var ErrDateFormat = errors.New("not a date YYYY-MM-DD")

// MaxFractionDigits is the longest fraction of a second accepted: nanoseconds.
const MaxFractionDigits = 9

// Parse reads an RFC 3339 date-time (section 5.6) such as
// 2026-06-01T12:00:00Z or 2026-06-01T14:00:00.123+02:00:
//
//   - exactly YYYY-MM-DD, an upper-case 'T', hh:mm:ss, each part with all its
//     digits (ASCII); a real calendar day; hour 00-23, minute and second 00-59
//     (a leap second, :60, is refused: Go's time cannot hold it);
//   - an optional '.' and 1-9 digits of fraction;
//   - an upper-case 'Z' or an offset ±hh:mm with hh 00-23 and mm 00-59
//     (-00:00 reads as UTC).
func Parse(s string) (time.Time, error) {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, ErrFormat
	}
	y, mo, d, ok := date(s[:10])
	if !ok || s[10] != 'T' {
		return time.Time{}, ErrFormat
	}
	hh, ok1 := num(s, 11, 2)
	mm, ok2 := num(s, 14, 2)
	ss, ok3 := num(s, 17, 2)
	if !ok1 || !ok2 || !ok3 || s[13] != ':' || s[16] != ':' || hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}, ErrFormat
	}
	rest := s[19:]
	ns := 0
	if rest != "" && rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		digits := n - 1
		if digits == 0 || digits > MaxFractionDigits {
			return time.Time{}, ErrFormat
		}
		frac, _ := num(rest, 1, digits)
		for range MaxFractionDigits - digits {
			frac *= 10
		}
		ns, rest = frac, rest[n:]
	}
	loc := time.UTC
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest, 1, 2)
		om, ok2 := num(rest, 4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, ErrFormat
		}
		off := oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
		if off != 0 {
			loc = time.FixedZone("", off)
		}
	default:
		return time.Time{}, ErrFormat
	}
	return time.Date(y, time.Month(mo), d, hh, mm, ss, ns, loc), nil
}

// ParseDate reads a full-date YYYY-MM-DD (a real calendar day, ASCII digits)
// as the start of that day in UTC.
func ParseDate(s string) (time.Time, error) {
	y, m, d, ok := date(s)
	if !ok {
		return time.Time{}, ErrDateFormat
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

// date reads exactly YYYY-MM-DD of a real day.
func date(s string) (y, m, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := num(s, 0, 4)
	m, ok2 := num(s, 5, 2)
	d, ok3 := num(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// num reads n ASCII digits of s at i.
func num(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
