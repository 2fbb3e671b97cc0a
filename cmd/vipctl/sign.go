package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/vip-messages/api/client"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/rfc3339"
	"github.com/vip-messages/api/internal/sampleevent"
)

func init() {
	register(&command{name: "sign", args: "[--key ID] [--secret S] [--date RFC3339] [--signature-version 1] URL",
		summary: "print the three signature headers of a request to URL (curl -H @<(vipctl sign \"$URL\") \"$URL\")", run: signCmd})
	register(&command{name: "sign-event", args: "[--key ID] [--secret S] FILE",
		summary: "print a sample API Gateway event with a fresh x-date, signed as the key (error samples stay errors)", run: signEventCmd})
}

// credentials are the caller's flags shared by sign and messages.
type credentials struct {
	url, key, secret string
	// version is the signature version: 2 (the default) or 1, the fallback
	// for a server that predates version 2.
	version int
}

func (c *credentials) register(f *flags, e *env, withURL bool) {
	if withURL {
		f.StringVar(&c.url, "url", e.envOr(envAPIURL, defaultAPIURL), "API base (stage) URL ($"+envAPIURL+")")
	}
	f.StringVar(&c.key, "key", e.getenv(envAPIKey), "API key id ($"+envAPIKey+")")
	f.StringVar(&c.secret, "secret", "", "API key secret ($"+envAPISecret+"; prefer the variable: flags show in ps)")
	f.IntVar(&c.version, "signature-version", client.SignatureV2, "2 signs the query too; 1 signs x-date only (for a server without version 2; keys set to minSignatureVersion 2 refuse it)")
}

// check fills the secret from the environment and reports what is missing,
// after the other missing flags of the command.
func (c *credentials) check(f *flags, e *env, missing ...string) error {
	if c.secret == "" {
		c.secret = e.getenv(envAPISecret)
	}
	if c.key == "" {
		missing = append(missing, "--key (or $"+envAPIKey+")")
	}
	if c.secret == "" {
		missing = append(missing, "--secret (or $"+envAPISecret+")")
	}
	if len(missing) > 0 {
		return f.usageErr("missing %s", strings.Join(missing, ", "))
	}
	if !auth.ValidKeyID(c.key) {
		return f.usageErr("--key %q is not a key id ([A-Za-z0-9_-]{8,128})", c.key)
	}
	if c.version != client.SignatureV1 && c.version != client.SignatureV2 {
		return f.usageErr("--signature-version %d: want 2 or 1", c.version)
	}
	return nil
}

func signCmd(_ context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--key ID] [--secret S] [--date RFC3339] [--signature-version 1] URL")
	var cred credentials
	cred.register(f, e, false)
	date := f.String("date", "", "the instant to sign (RFC 3339); default now")
	pos, err := f.parse(e, args, 0, 1)
	if err != nil {
		return err
	}
	if err := cred.check(f, e); err != nil {
		return err
	}
	now := e.now()
	if *date != "" {
		t, err := rfc3339.Parse(*date)
		if err != nil {
			return f.usageErr("--date %q is not an RFC 3339 date-time", *date)
		}
		now = t
	}
	var h http.Header
	switch {
	case cred.version == client.SignatureV1:
		h = client.SignedHeaders(cred.key, cred.secret, now)
	case len(pos) == 0:
		return f.usageErr("missing URL: a version 2 signature covers the request's query (or --signature-version 1)")
	default:
		query, err := signedQuery(e, pos[0])
		if err != nil {
			return f.usageErr("%s", err)
		}
		h = client.SignedHeadersV2(cred.key, cred.secret, now, query)
	}
	for _, name := range []string{client.HeaderKeyID, client.HeaderDate, client.HeaderSignature} {
		fmt.Fprintf(e.stdout, "%s: %s\n", name, h.Get(name))
	}
	return nil
}

// signedQuery is the query of a request URL as API Gateway decodes it (a '+'
// is a space, as in url.ParseQuery), which a version 2 signature covers.
func signedQuery(e *env, raw string) (url.Values, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("URL %q: want http(s)://host[/stage]/vip-messages?query", raw)
	}
	if !strings.HasSuffix(u.Path, client.Path) {
		return nil, fmt.Errorf("URL %q: its path does not end in %s, the API's one resource", raw, client.Path)
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("URL %q: query: %v", raw, err)
	}
	if strings.Contains(u.RawQuery, "+") {
		fmt.Fprintln(e.stderr, "vipctl: note: a '+' in a query string is a space to API Gateway, and so in the signature; write %2B for a plus sign (as in an offset like +02:00)")
	}
	return query, nil
}

// signEventCmd signs a sample event as a key: the samples of events/ are
// signed with the demo secret, and an event whose signature was right (for its
// own x-date) with the demo secret or the given one is signed again with the
// given key and secret, version 2 over the event's own method, resource and
// query. The authorizer's samples (events/authorizer-*.json) are what the
// signature matters to; the API function's carry the authorizer's context and
// keep working unsigned. A signature right with neither secret is a deliberate
// error (authorizer-401-bad-signature.json): it is kept, and only x-date renewed.
func signEventCmd(_ context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--key ID] [--secret S] FILE")
	key := f.String("key", e.getenv(envAPIKey), "API key id to sign as ($"+envAPIKey+"; default the event's own, the demo key's)")
	secret := f.String("secret", "", "the key's secret ($"+envAPISecret+"; default the demo secret; prefer the variable: flags show in ps)")
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	if *secret == "" {
		*secret = e.envOr(envAPISecret, demoSecret)
	}
	switch {
	case *key != "" && !auth.ValidKeyID(*key):
		return f.usageErr("--key %q is not a key id ([A-Za-z0-9_-]{8,128})", *key)
	case *key == "" && *secret != demoSecret:
		return f.usageErr("a secret other than the demo secret needs its key: --key (or $%s)", envAPIKey)
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	was := []string{demoSecret, *secret}
	var signed any
	var ok, hasSig bool
	if sampleevent.IsAuthorizerEvent(raw) {
		ev, err := sampleevent.LoadAuthorizer(pos[0])
		if err != nil {
			return err
		}
		_, hasSig = headerValue(ev.Headers, client.HeaderSignature)
		signed, ok = sampleevent.ResignAuthorizerAs(ev, was, *key, *secret, e.now())
	} else {
		ev, err := sampleevent.Load(pos[0])
		if err != nil {
			return err
		}
		_, hasSig = headerValue(ev.Headers, client.HeaderSignature)
		signed, ok = sampleevent.ResignAs(ev, was, *key, *secret, e.now())
	}
	if hasSig && !ok {
		fmt.Fprintf(e.stderr, "vipctl: note: the x-signature of %s is right neither for the demo secret nor for this one: "+
			"an error sample, kept as it is (only x-date renewed)\n", pos[0])
	}
	out, err := json.MarshalIndent(signed, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", out)
	return err
}

func headerValue(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
