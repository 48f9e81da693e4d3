package reports

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium to drive, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missingTool(t, "no Chromium on PATH (Debian package chromium): the browser test of the HTML report is skipped; .ci/run installs it")
	return ""
}

// page is one report opened in headless Chromium, with everything the page
// said and asked for while it loaded.
type page struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	problems []string
}

func (p *page) note(list *[]string, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*list = append(*list, s)
}

func (p *page) snapshot() (requests, problems []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...), append([]string(nil), p.problems...)
}

// open writes html to a file and loads it from a file:// URL in a new tab
// of the browser of ctx, recording every request, console error, log error
// and uncaught exception.
func open(t *testing.T, browser context.Context, html []byte) (*page, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, html, 0o644); err != nil {
		t.Fatal(err)
	}
	fileURL := (&url.URL{Scheme: "file", Path: path}).String()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	p := &page{ctx: tab}
	err := chromedp.Listen(tab, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			p.note(&p.requests, ev.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p.note(&p.problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			p.note(&p.problems, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p.note(&p.problems, "log error ("+string(ev.Entry.Source)+"): "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(fileURL)); err != nil {
		t.Fatalf("loading %s: %v", fileURL, err)
	}
	// The script marks the page once every chart is drawn.
	wait, stop := context.WithTimeout(tab, 10*time.Second)
	defer stop()
	if _, err := chromedp.Run(wait, chromedp.Poll[chromedp.Void](`document.documentElement.hasAttribute("data-herd-charts")`)); err != nil {
		_, problems := p.snapshot()
		t.Fatalf("the report's script never finished: %v; page problems: %q", err, problems)
	}
	return p, fileURL
}

// chartInk counts, per chart, the canvas pixels painted in its series'
// colour: proof that the lines were drawn, not only the axes.
const chartInk = `(() => {
  const ink = {"chart-recovery": [29, 78, 216], "chart-rates": [21, 128, 61], "chart-violations": [127, 29, 29]};
  const out = {};
  for (const el of document.querySelectorAll(".chart")) {
    const cv = el.querySelector("canvas");
    if (!cv) { out[el.id] = -1; continue; }
    const want = ink[el.id] || [194, 65, 12]; // latency charts: the p99 line
    const px = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] > 200 && Math.abs(px[i] - want[0]) < 40 && Math.abs(px[i + 1] - want[1]) < 40 && Math.abs(px[i + 2] - want[2]) < 40) n++;
    }
    out[el.id] = n;
  }
  return out;
})()`

func TestHTMLReportInChromium(t *testing.T) {
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true),
	)
	alloc, stopAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer stopAlloc()
	browser, stopBrowser := chromedp.NewContext(alloc)
	defer stopBrowser()

	r := fixture(t)
	var html bytes.Buffer
	if err := WriteHTML(&html, r); err != nil {
		t.Fatal(err)
	}
	p, fileURL := open(t, browser, html.Bytes())

	ink, err := chromedp.Run(p.ctx, chromedp.Evaluate[map[string]int](chartInk))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"chart-recovery", "chart-rates", "chart-violations"}
	for _, l := range latencyOrder {
		want = append(want, "chart-latency-"+l.name)
	}
	for _, id := range want {
		if ink[id] < 30 {
			t.Errorf("%s: %d pixels of its series drawn, want a line (all: %v)", id, ink[id], ink)
		}
	}
	if len(ink) != len(want) {
		t.Errorf("charts %v, want %v", ink, want)
	}

	// Printing resizes the charts to the page.
	widths, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]float64](`new Promise(done => {
		window.dispatchEvent(new Event("beforeprint"));
		requestAnimationFrame(() => done(Array.from(document.querySelectorAll(".uplot canvas")).map(c => c.getBoundingClientRect().width)));
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(widths) == 0 {
		t.Error("no chart canvas to measure")
	}
	for _, w := range widths {
		if w > 700 {
			t.Errorf("a chart is %.0f px wide when printing, want at most 700", w)
		}
	}
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event("afterprint"))`)); err != nil {
		t.Fatal(err)
	}

	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("HERD_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shotPath := filepath.Join(dir, "report.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the report: %s (%d KB)", shotPath, len(shot)/1024)

	requests, problems := p.snapshot()
	for _, u := range requests {
		if u != fileURL {
			t.Errorf("the page requested %s; it must fetch nothing but itself", u)
		}
	}
	if len(requests) == 0 {
		t.Error("saw no request at all, not even the page's own: the network watch is broken")
	}
	for _, pr := range problems {
		t.Errorf("page problem: %s", pr)
	}

	// A result from before the time series existed renders too.
	old := fixture(t)
	old.Curve.Violations, old.Curve.Latency, old.Curve.LatencyStepMs = nil, nil, 0
	html.Reset()
	if err := WriteHTML(&html, old); err != nil {
		t.Fatal(err)
	}
	p2, _ := open(t, browser, html.Bytes())
	n, err := chromedp.Run(p2.ctx, chromedp.Evaluate[string](`document.documentElement.getAttribute("data-herd-charts")`))
	if err != nil {
		t.Fatal(err)
	}
	if n != "2" {
		t.Errorf("an old result drew %s charts, want 2 (recovery, rates)", n)
	}
	_, problems = p2.snapshot()
	for _, pr := range problems {
		t.Errorf("old result: page problem: %s", pr)
	}
}
