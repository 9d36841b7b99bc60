package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// AdminJobsPrefix is where the operators' job UI is mounted.
const AdminJobsPrefix = "/admin/jobs"

// adminAuth guards the operators' pages: an admin key of the operators'
// tenant (Options.AdminTenant), as a bearer token or, for a browser, as the
// password of HTTP Basic (any user name). The job UI shows every tenant's
// jobs, so no other tenant's key opens it.
func (s *Server) adminAuth(c *gin.Context) {
	secret := ""
	if user, pass, ok := c.Request.BasicAuth(); ok {
		_, secret = user, pass
	} else if scheme, rest, ok := strings.Cut(c.GetHeader("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		secret = strings.TrimSpace(rest)
	}
	if secret == "" {
		c.Header("WWW-Authenticate", `Basic realm="staylock operators", charset="UTF-8"`)
		writeError(c, s.log, s.opts.Debug, unauthorized(reasonMissingKey, "an admin key of the operators' tenant is required (HTTP Basic password, or Bearer)"))
		return
	}
	var key persistence.APIKey
	err := persistence.ErrNotFound
	if auth.LooksLikeAPIKey(secret) {
		key, err = s.keys.lookup(c.Request.Context(), secret)
	}
	if errors.Is(err, persistence.ErrNotFound) {
		c.Header("WWW-Authenticate", `Basic realm="staylock operators", charset="UTF-8"`)
		writeError(c, s.log, s.opts.Debug, unauthorized(reasonInvalidKey, "unknown or revoked API key"))
		return
	}
	if err != nil {
		writeError(c, s.log, s.opts.Debug, err)
		return
	}
	if key.Role != booking.RoleAdmin || key.Tenant != s.opts.AdminTenant {
		writeError(c, s.log, s.opts.Debug, forbidden(reasonRole, "only admin keys of the operators' tenant (ADMIN_TENANT) may open the job UI",
			map[string]any{"role": string(key.Role), "allowed_roles": []string{string(booking.RoleAdmin)}}))
		return
	}
	c.Next()
}

// mountAdmin serves the job UI under AdminJobsPrefix when configured.
func (s *Server) mountAdmin(g *gin.Engine) {
	if s.opts.AdminJobs == nil || s.opts.AdminTenant == "" {
		return
	}
	h := gin.WrapH(http.Handler(s.opts.AdminJobs))
	g.Any(AdminJobsPrefix, s.adminAuth, h)
	g.Any(AdminJobsPrefix+"/*path", s.adminAuth, h)
}
