package gateway_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/persistence"
)

// chromiumPath is Debian's chromium. Without it the browser test skips on a
// developer's machine and fails in CI (CI set), where .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: apt-get install -y chromium (.ci/run does)", path)
		}
		t.Skipf("%s is missing: apt-get install -y chromium to run the dashboard's browser test", path)
	}
	return path
}

// saveScreenshot writes a PNG under the test's temp dir (and, when
// DASHBOARD_SCREENSHOT_DIR is set, there too, to look at it).
func saveScreenshot(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	for _, d := range []string{dir, os.Getenv("DASHBOARD_SCREENSHOT_DIR")} {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatalf("save screenshot: %v", err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// TestDashboardShowsBookingsLive drives headless Chromium: load the
// dashboard, sign in with a key, see the grid, book through the API and see
// the cell change within 2 s; then the same page on a phone-sized viewport.
func TestDashboardShowsBookingsLive(t *testing.T) {
	chrome := chromiumPath(t)
	e := newStreamEnv(t, gateway.StreamOptions{})
	e.mustDo("PUT", "/v1/properties/p1/room-types/std", e.admin, `{"name":"Standard","rooms":4,"price":9900}`, http.StatusCreated)
	shots := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser() // browser first, then the allocator, then (cleanup) the server

	// The first run starts the browser, which lives as long as the context
	// of that run: bctx itself (ctx bounds it), never a shorter one.
	start := time.Now()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("chromium started in %v", time.Since(start))

	step := func(name string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, timeout)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			png, _ := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			if len(png) > 0 {
				saveScreenshot(t, shots, "failed.png", png)
			}
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitJS := func(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(10*time.Millisecond))(ctx, tg)
			return err
		})
	}
	cell := `document.getElementById("cell-dlx-2026-12-01")`

	step("open the dashboard", 30*time.Second,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("api-key")),
	)

	step("sign in", 30*time.Second,
		chromedp.SendKeys(chromedp.ID("api-key"), e.viewer),
		chromedp.Click(chromedp.ID("sign-in-button")),
		waitJS(`document.getElementById("conn-state").dataset.state === "live"`, 20*time.Second),
	)
	step("pick December", 30*time.Second,
		chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("from"); f.value = "2026-12-01"; f.dispatchEvent(new Event("change")); })()`),
		waitJS(cell+` !== null && `+cell+`.dataset.available === "10" && document.getElementById("cell-std-2026-12-14") !== null`, 20*time.Second),
	)

	for i := 1; i <= 3; i++ {
		start := time.Now()
		e.book(i)
		step("see booking", 5*time.Second, waitJS(cell+`.dataset.booked === "`+strconv.Itoa(i)+`" && `+cell+`.dataset.available === "`+strconv.Itoa(10-i)+`"`, 2*time.Second))
		t.Logf("booking %d: on the page %v after the request started", i, time.Since(start))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("booking %d took %v to show", i, d)
		}
	}
	// A gap (a delta that does not continue the chain): the page subscribes
	// again and shows the fresh snapshot.
	step("resync after a gap", 10*time.Second,
		chromedp.Evaluate[chromedp.Void](`onMessage({type:"delta",property:"p1",room_type:"dlx",prev_seq:990,seq:991,nights:[]})`),
		waitJS(`document.getElementById("feed").textContent.includes("missed changes")`, 2*time.Second),
		waitJS(`document.getElementById("conn-state").dataset.state === "live" && `+cell+`.dataset.booked === "3"`, 5*time.Second),
	)
	// The connection drops: the page reconnects (backoff) with a new token.
	step("reconnect", 20*time.Second,
		chromedp.Evaluate[chromedp.Void](`state.ws.close()`),
		waitJS(`document.getElementById("conn-state").dataset.state === "reconnecting"`, 2*time.Second),
		waitJS(`document.getElementById("conn-state").dataset.state === "live" && state.subscribed`, 15*time.Second),
	)
	// `staylock down`: the page shows the banner with the message, and
	// drops it after `up` (the page polls /health, outside the gate).
	if _, err := e.srv.Store.SetMaintenance(context.Background(), persistence.Maintenance{On: true, RetryAfter: 60,
		Message: "Database upgrade", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	step("maintenance banner", 20*time.Second,
		waitJS(`!document.getElementById("maintenance").hidden && document.getElementById("maintenance").textContent.includes("Database upgrade")`, 15*time.Second))
	if _, err := e.srv.Store.SetMaintenance(context.Background(), persistence.Maintenance{}); err != nil {
		t.Fatal(err)
	}
	step("banner gone after up", 20*time.Second, waitJS(`document.getElementById("maintenance").hidden`, 15*time.Second))

	feed, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.getElementById("feed").children.length`))
	if err != nil || feed < 3 {
		t.Errorf("feed has %d entries (%v), want the 3 bookings", feed, err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveScreenshot(t, shots, "dashboard-1280x800.png", png)

	// A phone: the page fits its width (the grid scrolls inside its box).
	step("phone viewport", 10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	e.book(4)
	step("see booking on a phone", 5*time.Second, waitJS(cell+`.dataset.booked === "4"`, 2*time.Second))
	fits, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth + 1`))
	if err != nil || !fits {
		t.Errorf("page wider than a phone's viewport (%v)", err)
	}
	png, err = chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveScreenshot(t, shots, "dashboard-phone.png", png)
}
