package signature

import (
	"encoding/json"
	"os"
	"testing"
)

// Vector is one documented v2 test vector (testdata/vectors.json, also used by
// the snippet tests of docs/signing.md).
type Vector struct {
	Name      string              `json:"name"`
	Secret    string              `json:"secret"`
	Date      string              `json:"date"`
	Query     map[string][]string `json:"query"`
	Canonical string              `json:"canonical"`
	Signature string              `json:"signature"`
}

func loadVectors(t testing.TB) []Vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []Vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 2 {
		t.Fatalf("only %d vectors", len(vs))
	}
	return vs
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if got := Canonical(v.Query); got != v.Canonical {
				t.Errorf("Canonical = %q\nwant        %q", got, v.Canonical)
			}
			if got := SignV2(v.Secret, v.Date, v.Query); got != v.Signature {
				t.Errorf("SignV2 = %s, want %s", got, v.Signature)
			}
			version, mac, ok := Parse(v.Signature)
			if !ok || version != V2 || len(mac) != 32 {
				t.Errorf("Parse(%s) = %d, %x, %v", v.Signature, version, mac, ok)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	for _, c := range []struct {
		name  string
		query map[string][]string
		want  string
	}{
		{"none", nil, ""},
		{"empty map", map[string][]string{}, ""},
		{"name without values", map[string][]string{"a": {}}, ""},
		{"empty value", map[string][]string{"a": {""}}, "a="},
		{"unreserved stay", map[string][]string{"aZ09-._~": {"-._~aZ09"}}, "aZ09-._~=-._~aZ09"},
		{"space is %20, never +", map[string][]string{"label": {"a b"}}, "label=a%20b"},
		{"plus is %2B", map[string][]string{"from": {"+02:00"}}, "from=%2B02%3A00"},
		{"percent is %25", map[string][]string{"q": {"100%"}}, "q=100%25"},
		{"an encoded-looking value is encoded again", map[string][]string{"q": {"%41"}}, "q=%2541"},
		{"UTF-8 bytes, upper-case hex", map[string][]string{"label": {"é€😀"}}, "label=%C3%A9%E2%82%AC%F0%9F%98%80"},
		{"reserved and sub-delims", map[string][]string{"k": {"&=?/#[]!$'()*,;@"}}, "k=%26%3D%3F%2F%23%5B%5D%21%24%27%28%29%2A%2C%3B%40"},
		{"control bytes and invalid UTF-8", map[string][]string{"k": {"\x00\n\xff"}}, "k=%00%0A%FF"},
		{"encoded names too", map[string][]string{"a b": {"1"}, "a": {"2"}}, "a=2&a%20b=1"},
		{"repeated name: sorted by value", map[string][]string{"label": {"b", "a", "a"}}, "label=a&label=a&label=b"},
		// Sorting is on the encoded form: '%' (0x25) sorts before letters, so
		// "a b" (a%20b) comes before "a-b" (0x2D), unlike the decoded order.
		{"sorted by encoded bytes", map[string][]string{"x": {"a-b", "a b"}}, "x=a%20b&x=a-b"},
		{"name before value", map[string][]string{"a": {"z"}, "ab": {"a"}}, "a=z&ab=a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Canonical(c.query); got != c.want {
				t.Errorf("Canonical(%q) = %q, want %q", c.query, got, c.want)
			}
		})
	}
}

func TestQueryMerge(t *testing.T) {
	got := Query(map[string]string{"a": "last", "b": "only"}, map[string][]string{"a": {"first", "last"}})
	want := map[string][]string{"a": {"first", "last"}, "b": {"only"}}
	if Canonical(got) != Canonical(want) || len(got) != 2 {
		t.Fatalf("Query = %q, want %q", got, want)
	}
	if q := Query(nil, nil); len(q) != 0 {
		t.Fatalf("Query(nil, nil) = %q", q)
	}
}

func TestStringToSign(t *testing.T) {
	got := StringToSign(map[string][]string{"b": {"2"}, "a": {"1"}}, "2026-06-01T12:00:00.5+02:00")
	want := "v2\nGET\n/vip-messages\na=1&b=2\n2026-06-01T12:00:00.5+02:00"
	if got != want {
		t.Fatalf("StringToSign = %q, want %q", got, want)
	}
	if got := StringToSign(nil, "d"); got != "v2\nGET\n/vip-messages\n\nd" {
		t.Fatalf("no query: %q", got)
	}
}

func TestSignV1(t *testing.T) {
	// The v1 example of docs/signing.md (openssl dgst -sha256 -hmac agrees).
	const want = "2dbb9a61b9319b4448f9276e69ab1abe3a96dffde024fcda85287c222cd066d3"
	got := SignV1("demo-secret-please-change", "2026-06-01T12:00:00Z")
	if got != want {
		t.Fatalf("SignV1 = %q, want %q", got, want)
	}
	v, _, ok := Parse(got)
	if !ok || v != V1 {
		t.Fatalf("Parse(v1) = %d, %v", v, ok)
	}
}

func TestParse(t *testing.T) {
	hex64 := "feed1fe20c8aa0b1a98ea1d9c8b6cca97b91c91b8450cc6998929232a064386e"
	for _, c := range []struct {
		sig     string
		version int
		ok      bool
	}{
		{hex64, V1, true},
		{"v2=" + hex64, V2, true},
		{"V2=" + hex64, 0, false},
		{"v3=" + hex64, 0, false},
		{"v2=" + hex64[:63], 0, false},
		{"v2=" + hex64 + "0", 0, false},
		{"v2=FEED" + hex64[4:], 0, false},
		{"v2=" + "v2=" + hex64[3:], 0, false},
		{" v2=" + hex64, 0, false},
		{"v2 =" + hex64, 0, false},
		{"", 0, false},
		{"v2=", 0, false},
	} {
		version, mac, ok := Parse(c.sig)
		if ok != c.ok || version != c.version || ok && len(mac) != 32 {
			t.Errorf("Parse(%q) = %d, %d bytes, %v; want %d, %v", c.sig, version, len(mac), ok, c.version, c.ok)
		}
	}
}
