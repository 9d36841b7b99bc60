package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// defaultProbeURL is the readiness endpoint of a node on its default
// HTTP_ADDR, seen from inside its own container.
const defaultProbeURL = "http://127.0.0.1:8080/readyz"

// newProbeCmd is `staylock probe`: one GET, exit 0 on a 2xx. Minimal
// images (distroless, scratch) have no shell, curl or wget, so the binary
// is its own health-check client: Docker's exec-form HEALTHCHECK and the
// compose healthcheck run it. It needs no configuration, so a probe never
// fails for a setting it does not use.
func newProbeCmd(a *app) *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe [--url URL]",
		Short: "GET a health endpoint (default " + defaultProbeURL + "); exit 0 on 2xx, 1 otherwise",
		Long: "Sends one GET to URL and exits 0 when it answers 2xx within --timeout, else 1\n" +
			"(the answer's status or the error on stderr). For container health checks\n" +
			"where no curl exists: HEALTHCHECK CMD [\"/usr/local/bin/staylock\", \"probe\"].",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("--url %q: want an http:// or https:// URL", target)
			}
			if timeout <= 0 {
				return usagef("--timeout %s: must be positive", timeout)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return fmt.Errorf("probe %s: %w", u, err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("probe %s: %w", u, err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return fmt.Errorf("probe %s: %s", u, resp.Status)
			}
			fmt.Fprintf(a.stdout, "%s: %s\n", u, resp.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", defaultProbeURL, "endpoint to GET")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
