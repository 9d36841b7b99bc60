package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// HeaderMaintenanceBypass carries the secret of `staylock down --secret`:
// a request with it passes while the API is down for maintenance (the
// operators' smoke test, a partner's final sync).
const HeaderMaintenanceBypass = "X-Maintenance-Bypass"

// maintenanceGate answers API calls 503 maintenance with Retry-After while
// maintenance mode is on, unless they carry the bypass secret. The
// operational endpoints (/livez, /readyz, /health, /metrics) and the
// dashboard page are not behind it: load balancers keep the nodes, and the
// dashboard shows the banner.
func (s *Server) maintenanceGate(c *gin.Context) {
	m := s.maintenance.Load()
	if m == nil || !m.On {
		c.Next()
		return
	}
	if secret := c.GetHeader(HeaderMaintenanceBypass); secret != "" && len(m.SecretHash) == sha256.Size {
		sum := sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(sum[:], m.SecretHash) == 1 {
			c.Next()
			return
		}
	}
	msg := m.Message
	if msg == "" {
		msg = fmt.Sprintf("Staylock is down for maintenance; retry in %d s", m.RetryAfter)
	}
	c.Header("Retry-After", strconv.Itoa(m.RetryAfter))
	writeError(c, s.log, s.opts.Debug, &booking.Error{Code: booking.CodeMaintenance, Message: msg,
		Details: map[string]any{"retry_after": m.RetryAfter, "since": m.Since}})
}

// maintenanceInfo is the maintenance state in /health (no secret).
type maintenanceInfo struct {
	On         bool   `json:"on"`
	RetryAfter int    `json:"retry_after,omitempty"`
	Message    string `json:"message,omitempty"`
	Since      string `json:"since,omitempty"`
}

func (s *Server) maintenanceInfo() *maintenanceInfo {
	m := s.maintenance.Load()
	if m == nil || !m.On {
		return &maintenanceInfo{On: false}
	}
	return &maintenanceInfo{On: true, RetryAfter: m.RetryAfter, Message: m.Message, Since: m.Since.UTC().Format("2006-01-02T15:04:05Z")}
}

// applyMaintenance makes m this node's maintenance state.
func (s *Server) applyMaintenance(m persistence.Maintenance) { s.maintenance.Store(&m) }
