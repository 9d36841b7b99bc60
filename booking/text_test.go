package booking_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/staylock/staylock/booking"
)

// Hostile is every kind of text a stored field must refuse, by name; the
// gateway's and the stores' tests send the same kinds.
var hostile = map[string]string{
	"NUL":                     "A\x00B",
	"only NUL":                "\x00",
	"invalid UTF-8":           "A\xffB",
	"truncated UTF-8":         "Caf\xc3",
	"UTF-8 encoded surrogate": "A\xed\xa0\x80B",
	"overlong UTF-8":          "A\xc0\xafB",
	"bell":                    "A\aB",
	"escape":                  "A\x1b[31mB",
	"line feed":               "A\nB",
	"carriage return":         "A\rB",
	"tab":                     "A\tB",
	"DEL":                     "A\x7fB",
	"C1 control":              "A\u0085B",
	"line separator":          "A\u2028B",
	"paragraph separator":     "A\u2029B",
	"noncharacter U+FFFE":     "A\ufffeB",
	"noncharacter U+FFFF":     "A\uffffB",
	"noncharacter U+FDD0":     "A\ufdd0B",
	"noncharacter U+10FFFF":   "A\U0010ffffB",
}

func TestCheckText(t *testing.T) {
	one := booking.TextRule{Max: 40}
	t.Run("refuses", func(t *testing.T) {
		for name, s := range hostile {
			t.Run(name, func(t *testing.T) {
				if msg := booking.CheckText(s, one); msg == "" {
					t.Fatalf("CheckText(%q) accepted it", s)
				}
			})
		}
	})

	accepted := []struct{ name, s string }{
		{"empty when optional", ""},
		{"ASCII", "Ada Lovelace"},
		{"accents", "Zoë Ångström"},
		{"CJK counts characters", strings.Repeat("東", 40)},
		{"emoji", "🏨🛏️"},
		{"replacement character is a real character", "A\ufffdB"},
		{"right-to-left script", "فندق"},
		{"punctuation", `O'Brien-Smith, "Jr." <x>`},
	}
	for _, tc := range accepted {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			if msg := booking.CheckText(tc.s, one); msg != "" {
				t.Fatalf("CheckText(%q) = %q, want accepted", tc.s, msg)
			}
		})
	}

	messages := []struct {
		name string
		s    string
		r    booking.TextRule
		want string
	}{
		{"NUL is named with its place", "AB\x00", one, "must not contain NUL (U+0000 at character 3)"},
		{"place counts characters", "éé\x07", one, "control characters (U+0007 at character 3)"},
		{"invalid UTF-8", "\xff", one, "must be valid UTF-8"},
		{"line break in a one-line field", "a\nb", one, "must be one line"},
		{"noncharacter", "\ufffe", one, "noncharacters (U+FFFE"},
		{"too long counts characters", strings.Repeat("東", 41), one, "at most 40 characters, got 41"},
		{"required and empty", "", booking.TextRule{Max: 10, Required: true}, "is required"},
		{"required and blank", "   ", booking.TextRule{Max: 10, Required: true}, "must not be blank"},
	}
	for _, tc := range messages {
		t.Run("message: "+tc.name, func(t *testing.T) {
			if got := booking.CheckText(tc.s, tc.r); !strings.Contains(got, tc.want) {
				t.Fatalf("CheckText(%q) = %q, want …%s…", tc.s, got, tc.want)
			}
		})
	}

	t.Run("multiline allows line feed and tab, still no other controls", func(t *testing.T) {
		m := booking.TextRule{Max: 10, Multiline: true}
		if msg := booking.CheckText("a\nb\tc", m); msg != "" {
			t.Fatalf("multiline refused line feed or tab: %s", msg)
		}
		for _, s := range []string{"a\x00", "a\rb", "a\x1b", "a\u0085"} {
			if booking.CheckText(s, m) == "" {
				t.Errorf("multiline accepted %q", s)
			}
		}
	})
}

// FuzzCheckText checks CheckText against an independent oracle: what it
// accepts is valid UTF-8 within the length, with no character Postgres
// cannot store (NUL) and no control or noncharacter; and everything such is
// accepted.
func FuzzCheckText(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, uint8(10))
	}
	f.Add("Ada Lovelace", uint8(200))
	f.Add(strings.Repeat("東", 50), uint8(49))
	f.Add("", uint8(0))
	f.Fuzz(func(t *testing.T, s string, max uint8) {
		r := booking.TextRule{Max: int(max)}
		got := booking.CheckText(s, r) == ""
		want := utf8.ValidString(s) && (r.Max == 0 || utf8.RuneCountInString(s) <= r.Max)
		for _, c := range s {
			if c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
				(c >= 0xfdd0 && c <= 0xfdef) || c%0x10000 == 0xfffe || c%0x10000 == 0xffff {
				want = false
			}
		}
		if got != want {
			t.Fatalf("CheckText(%q, max %d) accepted=%v, want %v", s, max, got, want)
		}
	})
}
