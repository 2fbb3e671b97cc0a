package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/metrics"
)

// make run stays quiet until its banner: the indexer's per-batch info lines
// (metrics documents, which metrics.Log writes without asking Enabled) show
// only at debug level; its warnings and errors always do.
func TestBatchesAtDebug(t *testing.T) {
	for _, c := range []struct {
		level       slog.Level
		batch, warn bool
	}{
		{slog.LevelInfo, false, true},
		{slog.LevelDebug, true, true},
		{slog.LevelError, false, false},
	} {
		var out bytes.Buffer
		log := slog.New(batchesAtDebug{slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: c.level})}).With("function", "label-indexer")
		doc := metrics.New(time.Now())
		doc.Dimension(metrics.DimStage, "local")
		metrics.Log(context.Background(), log, slog.LevelInfo, "label index: batch", doc)
		log.Info("plain info")
		log.Warn("label index: batch with failures")
		got := out.String()
		for _, line := range []string{`"msg":"label index: batch"`, "plain info"} {
			if shown := strings.Contains(got, line); shown != c.batch {
				t.Errorf("level %v: %s shown = %v, want %v:\n%s", c.level, line, shown, c.batch, got)
			}
		}
		if shown := strings.Contains(got, "batch with failures"); shown != c.warn {
			t.Errorf("level %v: warning shown = %v, want %v:\n%s", c.level, shown, c.warn, got)
		}
		if c.batch && !strings.Contains(got, `"level":"DEBUG"`) {
			t.Errorf("level %v: batch line not at debug:\n%s", c.level, got)
		}
	}
}
