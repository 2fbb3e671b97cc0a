package app

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// env reads variables through getenv and gathers every problem, so that a
// misconfigured function reports them all in one cold start.
type env struct {
	getenv func(string) string
	errs   []error
}

func (e *env) get(name string) string { return strings.TrimSpace(e.getenv(name)) }

func (e *env) required(name string) string {
	v := e.get(name)
	if v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

// stage is STAGE, the metrics' Stage dimension of both functions;
// DefaultStage when unset.
func (e *env) stage() string {
	s := e.get("STAGE")
	if s == "" {
		s = DefaultStage
	}
	if !validStage(s) {
		e.errs = append(e.errs, fmt.Errorf("STAGE=%q: want 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'", s))
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

// logLevel is LOG_LEVEL; info when unset.
func (e *env) logLevel() slog.Level {
	var level slog.Level
	if v := e.get("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			e.errs = append(e.errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	return level
}

// duration is a positive Go duration; zero when unset, for the package default.
func (e *env) duration(name string) time.Duration {
	v := e.get(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a positive Go duration such as 30s or 5m", name, v))
	}
	return d
}

// number is an integer from 1 to most; zero when unset, for the package default.
func (e *env) number(name string, most int) int {
	v := e.get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > most {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want an integer from 1 to %d", name, v, most))
	}
	return n
}

func logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
