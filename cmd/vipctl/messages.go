package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vip-messages/api/client"
)

func init() {
	register(&command{name: "messages", summary: "list a channel's VIP messages", subs: []*command{
		{name: "list", args: messagesListArgs, summary: "list messages, newest first (JSON lines, or --table)", run: messagesList},
	}})
}

const messagesListArgs = "--workspace ID --medium ID --from DATE --to DATE [--label L] [--content-type T] [--limit N] [--before CURSOR] [--all] [--table]"

func messagesList(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, messagesListArgs)
	var cred credentials
	cred.register(f, e, true)
	var q client.Query
	windowFlags(f, &q)
	f.StringVar(&q.Label, "label", "", "only messages with this built-in label or custom label id")
	f.StringVar(&q.ContentType, "content-type", "", "only text, postback, attachment or other")
	f.IntVar(&q.Limit, "limit", 0, "page size 1-200 (when left out, the API's default, 50)")
	f.StringVar(&q.Before, "before", "", "a nextCursor, or an epoch-ms instant: start below it")
	all := f.Bool("all", false, "walk every page (progress on stderr when it is a terminal)")
	table := f.Bool("table", false, "print a table instead of JSON lines")
	timeout := f.Duration("timeout", 30*time.Second, "timeout of each HTTP request")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	if err := cred.check(f, e, missingWindow(q)...); err != nil {
		return err
	}
	// The API answers 422 for a limit out of range; 0 must not quietly mean the default.
	if f.isSet("limit") && (q.Limit < 1 || q.Limit > 200) {
		return f.usageErr("--limit %d: want 1 to 200 (leave it out for the API's default, 50)", q.Limit)
	}
	c := cred.client(*timeout)

	out := newItemWriter(e.stdout, *table)
	if !*all {
		page, err := c.List(ctx, q)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := out.write(it); err != nil {
				return err
			}
		}
		if err := out.flush(); err != nil {
			return err
		}
		switch {
		case page.MayHaveMore && len(page.Items) == 0:
			fmt.Fprintf(e.stderr, "no matches in this page (a filtered page can end before it finds one); more: --before %s (or --all)\n", page.NextCursor)
		case page.MayHaveMore:
			fmt.Fprintf(e.stderr, "more: --before %s (or --all)\n", page.NextCursor)
		case len(page.Items) == 0:
			e.nothing("no messages in this window")
		}
		return nil
	}

	progress := func(string) {}
	if e.stderrTTY {
		progress = func(s string) { fmt.Fprintf(e.stderr, "\r\033[K%s", s) }
	}
	pages, items := 0, 0
	for page, err := range c.Pages(ctx, q) {
		if err != nil {
			progress("")
			_ = out.flush()
			return fmt.Errorf("after %s (%s): %w", count(pages, "page"), count(items, "item"), err)
		}
		pages++
		items += len(page.Items)
		for _, it := range page.Items {
			if err := out.write(it); err != nil {
				progress("")
				return err
			}
		}
		progress(fmt.Sprintf("%s, %s ...", count(pages, "page"), count(items, "item")))
	}
	progress("")
	if err := out.flush(); err != nil {
		return err
	}
	if items == 0 {
		e.nothing("no messages in this window")
	}
	return nil
}

// itemWriter prints items as JSON lines or a table.
type itemWriter struct {
	enc *json.Encoder
	tw  *tabwriter.Writer
}

func newItemWriter(w io.Writer, table bool) *itemWriter {
	if table {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DATE\tKIND\tSOURCE\tUSER\tCONVERSATION\tLABELS\tTEXT")
		return &itemWriter{tw: tw}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &itemWriter{enc: enc}
}

func (w *itemWriter) write(it client.Item) error {
	if w.enc != nil {
		return w.enc.Encode(it)
	}
	labels := strings.Join(append(append([]string{}, it.Labels...), it.CustomLabelIDs...), ",")
	if labels == "" {
		labels = "-"
	}
	_, err := fmt.Fprintf(w.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Date, cell(it.Kind, 12), cell(it.Source, 16),
		cell(it.UserName, 24), cell(it.ConversationID, 24), cell(labels, 40), cell(it.Text, 60))
	return err
}

func (w *itemWriter) flush() error {
	if w.tw != nil {
		return w.tw.Flush()
	}
	return nil
}

// cell is s on one line, without tabs, at most n runes.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

// windowFlags registers the channel and window every read of the API names.
func windowFlags(f *flags, q *client.Query) {
	f.StringVar(&q.WorkspaceID, "workspace", "", "workspace id (required)")
	f.StringVar(&q.MediumID, "medium", "", "channel (medium) id (required)")
	f.StringVar(&q.From, "from", "", "first day YYYY-MM-DD (UTC) or RFC 3339 date-time (required)")
	f.StringVar(&q.To, "to", "", "last day YYYY-MM-DD (inclusive) or RFC 3339 date-time (required)")
}

// missingWindow names the window flags left out.
func missingWindow(q client.Query) []string {
	var missing []string
	for _, r := range []struct{ name, v string }{{"--workspace", q.WorkspaceID}, {"--medium", q.MediumID}, {"--from", q.From}, {"--to", q.To}} {
		if r.v == "" {
			missing = append(missing, r.name)
		}
	}
	return missing
}

// client is the API client these credentials sign for.
func (c *credentials) client(timeout time.Duration) *client.Client {
	api := client.New(c.url, c.key, c.secret)
	api.SignatureVersion = c.version
	api.HTTPClient = httpClient(timeout)
	api.UserAgent = "vipctl"
	return api
}

func httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: client.NoRedirect}
}
