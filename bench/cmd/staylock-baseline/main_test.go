package main

import (
	"strings"
	"testing"
)

func TestRunRefusesABadCommandLine(t *testing.T) {
	t.Setenv("BASELINE_KEY", "")
	t.Setenv("DB_URL", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--engine", "naive"}, "a key is required"},
		{[]string{"--key", "k", "--engine", "naive"}, "needs --db-url"},
		{[]string{"--key", "k", "--engine", "mysql"}, "want naive or redis"},
	} {
		err := run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
