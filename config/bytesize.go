package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes. As text it is a whole number, optionally
// followed by a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB
// (powers of 1024), e.g. 1048576, 1MiB, 512KiB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	// Longest suffixes first so that "KiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalText parses "1048576", "1MiB", "512 KiB" and the like.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	factor := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, factor = strings.TrimSpace(rest), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not a whole number of bytes (e.g. 1048576 or 1MiB)")
	}
	if n > math.MaxInt64/factor || n < math.MinInt64/factor {
		return errors.New("too large")
	}
	*b = ByteSize(n * factor)
	return nil
}

// String is the number of bytes.
func (b ByteSize) String() string { return strconv.FormatInt(int64(b), 10) }
