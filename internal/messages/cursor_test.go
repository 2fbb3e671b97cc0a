package messages

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/table"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, sk := range []string{table.MessageSK(0, "a"), table.MessageSK(1780000000123, "msg-000001"), table.MessageSK(9999999999999, "ü-ñ")} {
		p := Position{sk: sk}
		tok := p.Token()
		if strings.Trim(tok, "0123456789") == "" {
			t.Errorf("token %q is all digits", tok)
		}
		if strings.ContainsAny(tok, "+/=?&# ") {
			t.Errorf("token %q is not URL-safe", tok)
		}
		got, err := ParseCursor(tok)
		if err != nil || got != p {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v", tok, got, err, p)
		}
	}
}

func TestParseCursorRejects(t *testing.T) {
	enc := func(s string) string { return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(s)) }
	cases := map[string]string{
		"empty":               "",
		"no prefix":           base64.RawURLEncoding.EncodeToString([]byte(table.MessageSK(1, "a"))),
		"other version":       "v2." + base64.RawURLEncoding.EncodeToString([]byte(table.MessageSK(1, "a"))),
		"not base64":          cursorPrefix + "***",
		"padded base64":       cursorPrefix + base64.URLEncoding.EncodeToString([]byte(table.MessageSK(1, "ab"))),
		"std alphabet":        cursorPrefix + "+/+/",
		"bare time":           enc("0000000000001"),
		"short time":          enc("123#a"),
		"letters in time":     enc("00000000000x1#a"),
		"empty id":            enc("0000000000001#"),
		"hash in id":          enc("0000000000001#a#b"),
		"partition smuggled":  enc("MSG#ws#ch"),
		"control char":        enc("0000000000001#a\nb"),
		"invalid utf-8":       enc("0000000000001#\xff"),
		"too long":            enc("0000000000001#" + strings.Repeat("a", table.MaxMessageIDLen+1)),
		"digits only (epoch)": "1780000000000",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCursor(tok); !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("ParseCursor(%q) err = %v, want ErrInvalidCursor", tok, err)
			}
		})
	}
}

func TestPositionAtIsBeforeThatMillisecond(t *testing.T) {
	p := PositionAt(1000)
	if !(table.MessageSK(999, "zzz") < p.sk && p.sk < table.MessageSK(1000, "!")) {
		t.Fatalf("PositionAt(1000) = %q is not between ms 999 and ms 1000", p.sk)
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(Position{sk: table.MessageSK(1780000000000, "m-1")}.Token())
	f.Add("v1.")
	f.Add("v1.MDAwMDAwMDAwMDAwMSNh")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := ParseCursor(tok)
		if err != nil {
			return
		}
		if !table.ValidMessageSK(p.sk) {
			t.Fatalf("accepted %q with sort key %q", tok, p.sk)
		}
		if again, err := ParseCursor(p.Token()); err != nil || again != p {
			t.Fatalf("re-encoding %q does not round-trip", tok)
		}
	})
}
