package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vip-messages/api/internal/labelindex/rebuild"
)

func init() {
	register(&command{name: "index", summary: "maintain the label index (DynamoDB)", subs: []*command{
		{name: "rebuild", args: "(--workspace W --medium M | --all) [--resume TOKEN] [--page-size N] [--table T]",
			summary: "backfill the label index from the messages and delete orphaned index items (idempotent, resumable)", run: indexRebuild},
	}})
}

// indexRebuild writes the label index items of existing messages: of one
// channel, or (--all) of every channel, scanning the table; then it sweeps the
// index items (of that channel, or all) and deletes the orphans, whose message
// is gone or no longer carries the label. The sweep is a Scan of the table in
// both cases: a channel's label partitions cannot be listed otherwise. A page
// at a time, with a progress line on stderr; interrupted or failed, it says
// how to resume.
func indexRebuild(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "(--workspace W --medium M | --all) [--resume TOKEN] [--page-size N] [--table T]")
	workspace := f.String("workspace", "", "workspace id of the channel")
	medium := f.String("medium", "", "medium (channel) id")
	all := f.Bool("all", false, "every channel of the table (a Scan)")
	resume := f.String("resume", "", "the resume token printed by an interrupted rebuild")
	pageSize := f.Int("page-size", 100, "items read per page (1-1000)")
	table := tableFlag(f, e)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	switch {
	case *all && (*workspace != "" || *medium != ""):
		return f.usageErr("--all or --workspace/--medium, not both")
	case !*all && (*workspace == "" || *medium == ""):
		return f.usageErr("want --workspace and --medium, or --all")
	case *pageSize < 1 || *pageSize > 1000:
		return f.usageErr("--page-size %d: want 1-1000", *pageSize)
	}
	if !*all {
		if err := checkIDs(f, []string{"--workspace", "--medium"}, []string{*workspace, *medium}); err != nil {
			return err
		}
	}
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	where := "every channel"
	if !*all {
		// A rebuild of a channel that is not there would sweep the table for
		// nothing and report success with 0 messages.
		if err := channelExists(ctx, db, table.name, *workspace, *medium); err != nil {
			return err
		}
		where = "channel " + *workspace + "/" + *medium
	}
	rb := rebuild.New(db, table.name)
	rb.PageSize = *pageSize

	line := func(p rebuild.Progress) string {
		return fmt.Sprintf("%s, %s, %s written, %d repaired, %d skipped, %d over the item size limit; "+
			"orphan sweep: %s, %s checked, %s deleted",
			count(p.Pages, "page"), count(p.Messages, "message"), count(p.Written, "index item"), p.Repaired, p.Skipped, p.TooLarge,
			count(p.SweepPages, "page"), count(p.Checked, "index item"), count(p.Orphans, "orphan"))
	}
	// The progress line: rewritten in place on a terminal, every 50 pages otherwise.
	token := *resume
	report := func(p rebuild.Progress) {
		token = p.Token
		switch {
		case e.stderrTTY:
			fmt.Fprintf(e.stderr, "\r\033[K%s ...", line(p))
		case (p.Pages+p.SweepPages)%50 == 0:
			fmt.Fprintf(e.stderr, "%s; resume token %s\n", line(p), p.Token)
		}
	}
	var p rebuild.Progress
	if *all {
		p, err = rb.All(ctx, *resume, report)
	} else {
		p, err = rb.Channel(ctx, *workspace, *medium, *resume, report)
	}
	if e.stderrTTY {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	// The command that continues where this one stopped.
	again := path
	if *all {
		again += " --all"
	} else {
		again += " --workspace " + *workspace + " --medium " + *medium
	}
	if f.isSet("table") {
		again += " --table " + table.name
	}
	again += " --resume " + token
	switch {
	case errors.Is(err, rebuild.ErrBadToken):
		return fmt.Errorf("--resume %q is not a token of this kind of rebuild (--all and a channel have their own)", *resume)
	case errors.Is(err, rebuild.ErrMayBeStale):
		// The resume token covers the page that could not finish.
		if token == "" {
			again = strings.TrimSuffix(again, " --resume ")
		}
		return fmt.Errorf("%s: %w; run it again to repair: %s", line(p), err, again)
	case errors.Is(err, context.Canceled) && token != "":
		return fmt.Errorf("interrupted after %s; resume with: %s", line(p), again)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted before the first page was done: nothing to resume, run it again")
	case err != nil && token != "":
		return fmt.Errorf("%s: %w; resume with: %s", line(p), err, again)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "label index rebuilt for %s: %s\n", where, line(p))
	return nil
}
