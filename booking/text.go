package booking

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// TextRule says what one stored text field may hold. Every text field the
// API stores is checked by CheckText before anything reaches a store, so the
// answer is the same on Postgres (whose text and jsonb refuse NUL and
// invalid UTF-8, failing the whole commit) and on SQLite (which would store
// them as they are), and so a text no person means (control characters,
// noncharacters) is refused where it arrives, naming its field.
type TextRule struct {
	// Max is the most characters (Unicode code points) the field takes.
	// Lengths count characters, not bytes, so a name in any script has the
	// same room; a character is at most 4 bytes of UTF-8, so 200
	// characters stay far below Postgres' 2704-byte limit on an indexed
	// (btree) value.
	Max int
	// Required refuses an empty or blank (only white space) value.
	Required bool
	// Multiline allows line feed and tab. None of today's fields does: a
	// name, a phone number or a channel's reference is one line.
	Multiline bool
}

// The rules of the text fields the API stores.
var (
	NameRule        = TextRule{Max: 200, Required: true} // property, room type and guest names
	EmailRule       = TextRule{Max: 254}                 // RFC 5321's bound on a path
	PhoneRule       = TextRule{Max: 50}
	ChannelRule     = TextRule{Max: 64}
	ExternalRefRule = TextRule{Max: 200}
)

// CheckText returns "" when s is acceptable under r, else a message that
// names the rule s breaks (and where, for a character), for details.fields.
// It refuses invalid UTF-8; NUL and the other C0 controls (line feed and tab
// only where r.Multiline allows them); DEL and the C1 controls; the line and
// paragraph separators U+2028/U+2029 in a one-line field; and the Unicode
// noncharacters (U+FDD0–U+FDEF and every U+xFFFE/U+xFFFF), which Unicode
// reserves for a program's internal use and never for interchange.
func CheckText(s string, r TextRule) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	n := 0
	for i, c := range s {
		n++
		if msg := checkRune(c, r.Multiline); msg != "" {
			return fmt.Sprintf("%s (U+%04X at character %d)", msg, c, utf8.RuneCountInString(s[:i])+1)
		}
	}
	if r.Max > 0 && n > r.Max {
		return fmt.Sprintf("must be at most %d characters, got %d", r.Max, n)
	}
	if r.Required {
		if s == "" {
			return "is required"
		}
		if strings.TrimSpace(s) == "" {
			return "must not be blank"
		}
	}
	return ""
}

// checkRune returns why c may not appear in a text field, or "".
func checkRune(c rune, multiline bool) string {
	switch {
	case c == 0:
		return "must not contain NUL"
	case (c == '\n' || c == '\t') && multiline:
		return ""
	case c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029:
		return "must be one line, without line breaks"
	case c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f):
		return "must not contain control characters"
	case (c >= 0xfdd0 && c <= 0xfdef) || c&0xfffe == 0xfffe:
		return "must not contain Unicode noncharacters"
	}
	return ""
}

// ValidateText records in fe, under field, why s breaks r (if it does).
func ValidateText(fe FieldErrors, field, s string, r TextRule) {
	if msg := CheckText(s, r); msg != "" {
		fe.Add(field, msg)
	}
}
