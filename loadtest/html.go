package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// WriteHTML writes a self-contained HTML report: the summary, the
// operations table, the audit, and inline SVG plots of latency over time,
// throughput over time and the latency histogram. Nothing is loaded from
// elsewhere.
func (r Report) WriteHTML(w io.Writer) error {
	data := struct {
		R                           Report
		Load, Started               string
		LatencySVG, ThroughputSVG   template.HTML
		HistogramSVG                template.HTML
		ErrorsText, RefusalsText    string
		RetriesText, AuditVerdict   string
		AuditProblems, ErrorPercent string
	}{
		R: r, Load: r.describeLoad(), Started: r.StartedAt.Format(time.RFC3339),
		LatencySVG: latencySVG(r.Timeline), ThroughputSVG: throughputSVG(r.Timeline),
		HistogramSVG: histogramSVG(r.Histogram, r.Total),
		ErrorsText:   countsText(r.Errors), RefusalsText: countsText(r.Refusals), RetriesText: countsText(r.Retries),
		AuditVerdict: "OK", AuditProblems: fmt.Sprint(r.Audit.Problems()),
		ErrorPercent: fmt.Sprintf("%.3f%%", 100*r.ErrorRate),
	}
	if r.Audit.Skipped {
		data.AuditVerdict = "skipped"
	} else if r.Audit.Problems() > 0 {
		data.AuditVerdict = "FAILED"
	}
	return htmlReport.Execute(w, data)
}

var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Staylock load test: {{.R.Scenario}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1000px;color:#1d2433;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #dde2ea;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.25em .7em;border-bottom:1px solid #eef1f5;text-align:right}
th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}
.pass{color:#137333;font-weight:600}.fail{color:#b3261e;font-weight:600}
.meta{color:#5b6475}svg{background:#fbfcfe;border:1px solid #e3e7ee;border-radius:4px}
code{background:#f2f4f7;padding:0 .3em;border-radius:3px}ul{margin:.3em 0}
</style></head><body>
<h1>Staylock load test: <code>{{.R.Scenario}}</code>
{{if .R.Passed}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h1>
<p class="meta">{{.Load}} · {{.R.Duration}} planned, {{.R.Elapsed}} elapsed · started {{.Started}} · seed {{.R.Seed}} · prefix {{.R.Prefix}} · targets {{range $i, $t := .R.Targets}}{{if $i}}, {{end}}{{$t}}{{end}}</p>

<h2>Summary</h2>
<table>
<tr><th>bookings/s</th><th>operations/s</th><th>HTTP requests/s</th><th>bookings</th><th>error rate</th></tr>
<tr><td>{{printf "%.1f" .R.BookingsPerSec}}</td><td>{{printf "%.1f" .R.OpsPerSec}}</td><td>{{printf "%.1f" .R.RequestsPerSec}}</td><td>{{.R.Bookings}}</td><td>{{.ErrorPercent}}</td></tr>
</table>
<table>
<tr><th>operation</th><th>count</th><th>ok</th><th>refused</th><th>errors</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .R.Operations}}<tr><td>{{.Name}}</td><td>{{.Count}}</td><td>{{.OK}}</td><td>{{.Refused}}</td><td>{{.Errors}}</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.Max}}</td></tr>
{{end}}{{with .R.Total}}<tr><th>{{.Name}}</th><th>{{.Count}}</th><th>{{.OK}}</th><th>{{.Refused}}</th><th>{{.Errors}}</th><th>{{.P50}}</th><th>{{.P90}}</th><th>{{.P99}}</th><th>{{.P999}}</th><th>{{.Max}}</th></tr>{{end}}
</table>
<p>Errors by code: {{.ErrorsText}}<br>Refusals (answers, not errors): {{.RefusalsText}}<br>Retried attempts: {{.RetriesText}}</p>
{{with .R.Burst}}<h2>Flash sale</h2>
<p>{{.Attempts}} attempts on {{.RoomType}} for the night {{.Night}}, {{.Available}} rooms free:
{{.Accepted}} accepted, {{.Refused}} refused, {{.Errors}} errors. Sold out {{.SellOut}} after the first arrival;
drained {{.Drain}} after the last arrival. Flash p99 {{.FlashP99}}; background p99 during the burst {{.BackgroundP99}} ({{.BackgroundOps}} operations).</p>{{end}}
{{with .R.Dashboard}}<h2>Dashboard (live stream)</h2>
<p>{{.Subscribers}} WebSocket subscribers while {{.Load}} booked: {{.Commits}} commits, {{.Deltas}} deltas received
(at least {{.MinDeltas}} per subscriber), {{.Gaps}} chain gaps, {{.Resyncs}} resyncs, {{.Missed}} missed, {{len .Drops}} kinds of drops.</p>
<table>
<tr><th>commit→delta</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>samples</th></tr>
<tr><td>upper bound (send→delta)</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td><td>{{.Max}}</td><td>{{.Samples}}</td></tr>
<tr><td>lower bound (201→delta)</td><td>{{.LowerP50}}</td><td></td><td>{{.LowerP99}}</td><td>{{.LowerMax}}</td><td></td></tr>
</table>
<p>Method: {{.Method}}.</p>{{end}}

<h2>Latency over time</h2>
{{.LatencySVG}}
<h2>Throughput over time</h2>
{{.ThroughputSVG}}
<h2>Latency histogram</h2>
{{.HistogramSVG}}

<h2>Audit: {{.AuditVerdict}}</h2>
{{with .R.Audit}}{{if not .Skipped}}
<table>
<tr><td>properties · room types · nights compared</td><td>{{.Properties}} · {{.RoomTypes}} · {{.Nights}} ({{.From}} … {{.To}})</td></tr>
<tr><td>reservations read back · acknowledged by 201</td><td>{{.Reservations}} · {{.Acknowledged}}</td></tr>
<tr><td>oversold nights (booked &gt; total)</td><td>{{.OversoldNights}}</td></tr>
<tr><td>nights where booked ≠ sum of confirmed reservations</td><td>{{.MismatchedNights}}</td></tr>
<tr><td>acknowledged but missing</td><td>{{.Missing}}</td></tr>
<tr><td>duplicate effects of one idempotency key</td><td>{{.DuplicateEffects}}</td></tr>
</table>
{{if .Error}}<p class="fail">The audit could not finish: {{.Error}}</p>{{end}}
{{if .Findings}}<ul>{{range .Findings}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}{{end}}
{{if .R.Problems}}<h2>Problems</h2><ul>{{range .R.Problems}}<li class="fail">{{.}}</li>{{end}}</ul>{{end}}
{{if .R.Thresholds}}<h2>Thresholds</h2><table><tr><th>threshold</th><th>value</th><th>limit</th><th></th></tr>
{{range .R.Thresholds}}<tr><td>{{.Name}}</td><td>{{.Value}}</td><td>{{.Limit}}</td><td>{{if .OK}}<span class="pass">ok</span>{{else}}<span class="fail">breached</span>{{end}}</td></tr>{{end}}
</table>{{end}}
<p class="meta">Latency runs from the intended start (open loop) or the send (closed loop) to the final answer, retries included; percentiles from HDR histograms.</p>
</body></html>
`))

// Plot geometry.
const (
	plotW, plotH             = 940, 280
	padL, padR, padT, padB   = 64, 16, 16, 36
	innerW, innerH           = plotW - padL - padR, plotH - padT - padB
	colorP50, colorP99, cMax = "#1a73e8", "#d93025", "#9aa0a6"
)

// logScale maps ms values onto [0, innerH] logarithmically between lo and
// hi, which it rounds out to powers of ten.
type logScale struct{ lo, hi float64 }

func newLogScale(values []float64) logScale {
	lo, hi := math.Inf(1), 0.0
	for _, v := range values {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 {
		return logScale{0.01, 1}
	}
	return logScale{math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi*1.0001)))}
}

func (s logScale) y(v float64) float64 {
	v = max(v, s.lo)
	return padT + innerH - innerH*(math.Log10(v)-math.Log10(s.lo))/(math.Log10(s.hi)-math.Log10(s.lo))
}

func (s logScale) ticks() []float64 {
	var out []float64
	for v := s.lo; v <= s.hi*1.0001; v *= 10 {
		out = append(out, v)
	}
	return out
}

func msLabel(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%gs", v/1000)
	case v >= 1:
		return fmt.Sprintf("%gms", v)
	default:
		return fmt.Sprintf("%gµs", math.Round(v*1000))
	}
}

func svgOpen(b *strings.Builder, label string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="system-ui,sans-serif" font-size="11">`,
		plotW, plotH, plotW, plotH, template.HTMLEscapeString(label))
}

func xAxis(b *strings.Builder, n int, x func(i float64) float64, unit string) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9aa0a6"/>`, padL, padT+innerH, padL+innerW, padT+innerH)
	step := max(1, int(math.Ceil(float64(n)/10)))
	for i := 0; i <= n; i += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#5b6475">%d%s</text>`, x(float64(i)), padT+innerH+16, i, unit)
	}
}

func legend(b *strings.Builder, items ...[2]string) {
	x := padL + 10
	for _, it := range items {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d" fill="#1d2433">%s</text>`,
			x, padT+6, it[1], x+16, padT+10, template.HTMLEscapeString(it[0]))
		x += 16 + 8*len(it[0]) + 14
	}
}

// latencySVG plots p50, p99 and max per second on a log scale.
func latencySVG(tl []TimelinePoint) template.HTML {
	var b strings.Builder
	svgOpen(&b, "latency over time")
	if len(tl) == 0 {
		b.WriteString(`<text x="20" y="40">no data</text></svg>`)
		return template.HTML(b.String()) // #nosec G203 -- built from numbers and escaped labels
	}
	var vals []float64
	for _, p := range tl {
		vals = append(vals, p.P50.Ms(), p.P99.Ms(), p.Max.Ms())
	}
	s := newLogScale(vals)
	n := len(tl)
	x := func(i float64) float64 { return padL + innerW*i/float64(max(n, 1)) }
	for _, t := range s.ticks() {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e7ee"/><text x="%d" y="%.1f" text-anchor="end" fill="#5b6475">%s</text>`,
			padL, s.y(t), padL+innerW, s.y(t), padL-6, s.y(t)+4, msLabel(t))
	}
	xAxis(&b, n, x, "s")
	series := []struct {
		color string
		v     func(TimelinePoint) Millis
	}{
		{cMax, func(p TimelinePoint) Millis { return p.Max }},
		{colorP99, func(p TimelinePoint) Millis { return p.P99 }},
		{colorP50, func(p TimelinePoint) Millis { return p.P50 }},
	}
	for _, se := range series {
		var pts []string
		for i, p := range tl {
			if p.Ops-p.Errors <= 0 && se.v(p) == 0 {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i)+0.5), s.y(se.v(p).Ms())))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, se.color, strings.Join(pts, " "))
	}
	legend(&b, [2]string{"p50", colorP50}, [2]string{"p99", colorP99}, [2]string{"max", cMax})
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec G203 -- built from numbers and escaped labels
}

// throughputSVG plots operations (and bookings and errors) per second.
func throughputSVG(tl []TimelinePoint) template.HTML {
	var b strings.Builder
	svgOpen(&b, "throughput over time")
	n := len(tl)
	top := int64(1)
	for _, p := range tl {
		top = max(top, p.Ops)
	}
	scale := niceCeil(float64(top))
	x := func(i float64) float64 { return padL + innerW*i/float64(max(n, 1)) }
	y := func(v float64) float64 { return padT + innerH - innerH*v/scale }
	for i := 0; i <= 4; i++ {
		v := scale * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e7ee"/><text x="%d" y="%.1f" text-anchor="end" fill="#5b6475">%g/s</text>`,
			padL, y(v), padL+innerW, y(v), padL-6, y(v)+4, v)
	}
	xAxis(&b, n, x, "s")
	bw := max(innerW/float64(max(n, 1))-2, 1)
	for i, p := range tl {
		for _, bar := range []struct {
			v     int64
			color string
		}{{p.Ops, "#c6dafc"}, {p.Bookings, colorP50}, {p.Errors, colorP99}} {
			if bar.v > 0 {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`,
					x(float64(i))+1, y(float64(bar.v)), bw, float64(padT+innerH)-y(float64(bar.v)), bar.color)
			}
		}
	}
	legend(&b, [2]string{"operations", "#c6dafc"}, [2]string{"bookings", colorP50}, [2]string{"errors", colorP99})
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec G203 -- built from numbers and escaped labels
}

// histogramSVG draws the latency distribution in 1-2-5 buckets with the
// p50, p99 and p99.9 marked.
func histogramSVG(hb []HistogramBucket, total OpStats) template.HTML {
	var b strings.Builder
	svgOpen(&b, "latency histogram")
	if len(hb) == 0 {
		b.WriteString(`<text x="20" y="40">no data</text></svg>`)
		return template.HTML(b.String()) // #nosec G203 -- built from numbers and escaped labels
	}
	top := int64(1)
	for _, h := range hb {
		top = max(top, h.Count)
	}
	scale := niceCeil(float64(top))
	n := len(hb)
	x := func(i float64) float64 { return padL + innerW*i/float64(n) }
	y := func(v float64) float64 { return padT + innerH - innerH*v/scale }
	for i := 0; i <= 4; i++ {
		v := scale * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e7ee"/><text x="%d" y="%.1f" text-anchor="end" fill="#5b6475">%g</text>`,
			padL, y(v), padL+innerW, y(v), padL-6, y(v)+4, v)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9aa0a6"/>`, padL, padT+innerH, padL+innerW, padT+innerH)
	bw := innerW/float64(n) - 2
	for i, h := range hb {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#8ab4f8"><title>%s … %s: %d</title></rect>`,
			x(float64(i))+1, y(float64(h.Count)), bw, float64(padT+innerH)-y(float64(h.Count)), h.From, h.To, h.Count)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#5b6475">≤%s</text>`, x(float64(i)+0.5), padT+innerH+16, msLabel(h.To.Ms()))
	}
	// Percentile markers at their bucket, interpolated on a log scale.
	pos := func(v Millis) float64 {
		for i, h := range hb {
			if v <= h.To {
				lo := max(h.From.Ms(), h.To.Ms()/2.5)
				f := (math.Log(max(v.Ms(), lo)) - math.Log(lo)) / (math.Log(h.To.Ms()) - math.Log(lo))
				return x(float64(i) + min(max(f, 0), 1))
			}
		}
		return x(float64(n))
	}
	for i, m := range []struct {
		name  string
		v     Millis
		color string
	}{{"p50", total.P50, colorP50}, {"p99", total.P99, colorP99}, {"p99.9", total.P999, "#188038"}} {
		px := pos(m.v)
		// Labels are stacked so that close percentiles stay readable, and
		// kept inside the plot near its right edge.
		tx, anchor := px+4, "start"
		if px > padL+innerW-120 {
			tx, anchor = px-4, "end"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="4 3" stroke-width="1.5"/><text x="%.1f" y="%d" text-anchor="%s" fill="%s">%s %s</text>`,
			px, padT, px, padT+innerH, m.color, tx, padT+12+14*i, anchor, m.color, m.name, m.v)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec G203 -- built from numbers and escaped labels
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
