package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/vip-messages/api/client"
)

func init() {
	register(&command{name: "labels", args: labelsArgs, summary: "count a window's VIP messages by label (a table on a terminal, JSON otherwise)", run: labelsCount})
}

const labelsArgs = "--workspace ID --medium ID --from DATE --to DATE [--json | --table]"

// labelsCount prints GET /vip-messages/labels: a table when stdout is a
// terminal, the API's JSON body otherwise (--json and --table choose).
func labelsCount(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, labelsArgs)
	var cred credentials
	cred.register(f, e, true)
	var q client.Query
	windowFlags(f, &q)
	asJSON := f.Bool("json", false, "print the API's JSON body, also on a terminal")
	asTable := f.Bool("table", false, "print a table, also when stdout is not a terminal")
	timeout := f.Duration("timeout", 30*time.Second, "timeout of the HTTP request")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	if *asJSON && *asTable {
		return f.usageErr("--json and --table: choose one")
	}
	if err := cred.check(f, e, missingWindow(q)...); err != nil {
		return err
	}
	c := cred.client(*timeout)
	counts, err := c.Labels(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON || (!*asTable && !e.stdoutTTY) {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(counts)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tKIND\tCOUNT\tSHARE")
	for _, l := range counts.Labels {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f%%\n", cell(l.Label, 64), l.Kind, l.Count, 100*float64(l.Count)/float64(max(counts.Total, 1)))
	}
	fmt.Fprintf(tw, "(all messages)\t-\t%d\t\n", counts.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if counts.Total == 0 {
		e.nothing("no messages in this window")
	}
	return nil
}
