package signature

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// pairsOf splits fuzz input into name/value pairs: '&' separates pairs, the
// first '=' splits a pair. Any bytes (invalid UTF-8, '%', '+') are kept as they
// are: the canonicalizer sees decoded values, which may hold anything.
func pairsOf(raw string) [][2]string {
	var out [][2]string
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		name, value, _ := strings.Cut(p, "=")
		out = append(out, [2]string{name, value})
	}
	return out
}

func queryOf(pairs [][2]string) map[string][]string {
	q := map[string][]string{}
	for _, p := range pairs {
		q[p[0]] = append(q[p[0]], p[1])
	}
	return q
}

// FuzzCanonical: no panic; the canonical query does not depend on the order of
// the parameters (nor of a name's values); it uses only unreserved bytes, '%XX',
// '=' and '&'; and decoding it gives back exactly the pairs it was made of.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		"workspaceId=ws-demo&mediumId=ch-demo&from=2026-05-01&to=2026-05-31&limit=5",
		"from=2026-05-01T00:00:00+02:00&label=cl churné&mediumId=ch-demo",
		"a=1&a=2&a=1&b=&=x",
		"q=100%&q=%41&q=+",
		"k=\x00\xff\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		pairs := pairsOf(raw)
		got := Canonical(queryOf(pairs))
		reversed := slices.Clone(pairs)
		slices.Reverse(reversed)
		if again := Canonical(queryOf(reversed)); again != got {
			t.Fatalf("order changes the canonical query:\n%q\n%q", got, again)
		}
		for i := 0; i < len(got); i++ {
			c := got[i]
			if !unreserved(c) && c != '%' && c != '=' && c != '&' && !('A' <= c && c <= 'F') {
				t.Fatalf("byte %q in canonical query %q", c, got)
			}
		}
		var back [][2]string
		if got != "" {
			for _, p := range strings.Split(got, "&") {
				en, ev, ok := strings.Cut(p, "=")
				if !ok {
					t.Fatalf("pair %q without '=' in %q", p, got)
				}
				n, err1 := url.PathUnescape(en)
				v, err2 := url.PathUnescape(ev)
				if err1 != nil || err2 != nil {
					t.Fatalf("canonical pair %q does not decode: %v %v", p, err1, err2)
				}
				back = append(back, [2]string{n, v})
			}
		}
		cmp := func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) }
		want := slices.Clone(pairs)
		slices.SortFunc(want, cmp)
		slices.SortFunc(back, cmp)
		if !slices.Equal(back, want) {
			t.Fatalf("canonical %q decodes to %q, want %q", got, back, want)
		}
	})
}

// FuzzSignV2: a signature made for a query verifies for that query in any
// order, and never for a query with one parameter added or dropped.
func FuzzSignV2(f *testing.F) {
	f.Add("workspaceId=ws-demo&mediumId=ch-demo", "2026-06-01T12:00:00Z", "extra", "1")
	f.Add("", "d", "", "")
	f.Fuzz(func(t *testing.T, raw, date, addName, addValue string) {
		pairs := pairsOf(raw)
		sig := SignV2("secret", date, queryOf(pairs))
		if version, _, ok := Parse(sig); !ok || version != V2 {
			t.Fatalf("own signature %q does not parse", sig)
		}
		reversed := slices.Clone(pairs)
		slices.Reverse(reversed)
		if SignV2("secret", date, queryOf(reversed)) != sig {
			t.Fatal("reordering changes the signature")
		}
		if SignV2("secret", date, queryOf(append(slices.Clone(pairs), [2]string{addName, addValue}))) == sig {
			t.Fatal("an added parameter keeps the signature")
		}
		if len(pairs) > 0 && SignV2("secret", date, queryOf(pairs[1:])) == sig {
			t.Fatal("a dropped parameter keeps the signature")
		}
	})
}
