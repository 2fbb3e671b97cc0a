// Package envvar reads a function's settings from environment variables and
// gathers every problem, so that a misconfigured function reports them all in
// one cold start. It is the leaf that each function's loader (internal/app and
// its subpackages) shares, so that a function links only its own loader's
// packages (docs/performance.md).
package envvar

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// DefaultStage is the Stage when STAGE is unset: the local stack's.
const DefaultStage = "local"

// Reader reads variables through getenv (os.Getenv in a function).
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New is a Reader of getenv.
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Err is every problem found so far, joined; nil when none.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Fail adds a problem that the caller found in a value.
func (r *Reader) Fail(err error) { r.errs = append(r.errs, err) }

// Get is the variable without surrounding spaces.
func (r *Reader) Get(name string) string { return strings.TrimSpace(r.getenv(name)) }

// Required is Get, and a problem when it is empty.
func (r *Reader) Required(name string) string {
	v := r.Get(name)
	if v == "" {
		r.Fail(fmt.Errorf("%s is required", name))
	}
	return v
}

// Stage is STAGE, the metrics' Stage dimension of every function;
// DefaultStage when unset.
func (r *Reader) Stage() string {
	s := r.Get("STAGE")
	if s == "" {
		s = DefaultStage
	}
	if !validStage(s) {
		r.Fail(fmt.Errorf("STAGE=%q: want 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'", s))
	}
	return s
}

// validStage keeps the Stage dimension a short, plain value (a CloudWatch
// dimension value must be non-empty ASCII).
func validStage(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// LogLevel is LOG_LEVEL; info when unset.
func (r *Reader) LogLevel() slog.Level {
	var level slog.Level
	if v := r.Get("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			r.Fail(fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	return level
}

// Duration is a positive Go duration; zero when unset, for the package default.
func (r *Reader) Duration(name string) time.Duration {
	v := r.Get(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.Fail(fmt.Errorf("%s=%q: want a positive Go duration such as 30s or 5m", name, v))
	}
	return d
}

// Number is an integer from 1 to most; zero when unset, for the package default.
func (r *Reader) Number(name string, most int) int {
	v := r.Get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > most {
		r.Fail(fmt.Errorf("%s=%q: want an integer from 1 to %d", name, v, most))
	}
	return n
}

// Logger is a function's JSON logger at level.
func Logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
