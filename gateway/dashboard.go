package gateway

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// web holds the dashboard: plain HTML, CSS and JavaScript, no build step.
//
//go:embed web
var web embed.FS

// dashboardCSP allows the page its own scripts, styles, API calls and
// WebSocket (CSP3 'self' covers ws: and wss: of the same host), nothing else.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboardHandler serves the live availability dashboard at / and its
// files under /assets/.
type dashboardHandler struct{}

func dashboardHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Cache-Control", "no-cache")
}

// index: GET / → the dashboard page.
func (d *dashboardHandler) index(c *gin.Context) {
	b, err := web.ReadFile("web/index.html")
	if err != nil {
		c.Abort()
		c.Data(http.StatusNotFound, contentTypeJSON, marshalError(errNoRoute(c)))
		return
	}
	dashboardHeaders(c)
	c.Data(http.StatusOK, "text/html; charset=utf-8", b)
}

// asset: GET /assets/{file} → an embedded file.
func (d *dashboardHandler) asset(c *gin.Context) {
	name := strings.TrimPrefix(path.Clean("/"+c.Param("file")), "/")
	b, err := fs.ReadFile(web, "web/"+name)
	if err != nil || name == "" || name == "index.html" {
		c.Abort()
		c.Data(http.StatusNotFound, contentTypeJSON, marshalError(errNoRoute(c)))
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	dashboardHeaders(c)
	c.Data(http.StatusOK, ct, b)
}
