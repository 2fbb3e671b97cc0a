package app

import (
	"io"
	"log/slog"
	"time"

	"github.com/vip-messages/api/internal/app/envvar"
)

// env is this package's loaders' view of envvar.Reader: it reads through
// getenv and gathers every problem in errs.
type env struct {
	getenv func(string) string
	errs   []error
}

// read runs f on a Reader of e's variables and keeps its problems.
func read[T any](e *env, f func(*envvar.Reader) T) T {
	r := envvar.New(e.getenv)
	v := f(r)
	if err := r.Err(); err != nil {
		e.errs = append(e.errs, err)
	}
	return v
}

func (e *env) get(name string) string { return envvar.New(e.getenv).Get(name) }

func (e *env) required(name string) string {
	return read(e, func(r *envvar.Reader) string { return r.Required(name) })
}

func (e *env) stage() string { return read(e, (*envvar.Reader).Stage) }

func (e *env) logLevel() slog.Level { return read(e, (*envvar.Reader).LogLevel) }

func (e *env) duration(name string) time.Duration {
	return read(e, func(r *envvar.Reader) time.Duration { return r.Duration(name) })
}

func (e *env) number(name string, most int) int {
	return read(e, func(r *envvar.Reader) int { return r.Number(name, most) })
}

func logger(w io.Writer, level slog.Level) *slog.Logger { return envvar.Logger(w, level) }
