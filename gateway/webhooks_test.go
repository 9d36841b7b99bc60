package gateway_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestWebhookEndpoints: create shows the secret once, update keeps it and
// does not show it; unusable input is 422 naming the field and stores
// nothing: a URL that is not one, plain http, loopback, private and
// link-local targets (outside local), unknown or repeated events.
func TestWebhookEndpoints(t *testing.T) {
	e := newEnv(t, "sqlite")
	var created struct {
		ID, URL, Secret string
		Events          []string
	}
	e.decode(e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/webhooks/pms", "a-admin",
		`{"url":"https://pms.example.com/in","events":["reservation.modified"]}`)), &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || created.Events[0] != "reservation.modified" {
		t.Fatalf("created %+v", created)
	}
	w := e.mustStatus(http.StatusOK, e.do("PUT", "/v1/webhooks/pms", "a-admin", `{"url":"https://pms.example.com/v2","events":["reservation.cancelled"]}`))
	if strings.Contains(w.Body.String(), "secret") {
		t.Errorf("update shows the secret: %s", w.Body.String())
	}
	if w := e.do("GET", "/v1/webhooks/pms", "a-admin", ""); strings.Contains(w.Body.String(), "whsec_") {
		t.Errorf("GET shows the secret: %s", w.Body.String())
	}
	for _, tc := range []struct{ body, field string }{
		{`{"url":"not a url","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"http://hooks.example.com/x","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"https://127.0.0.1:8443/x","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"https://localhost/x","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"https://10.1.2.3/x","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"https://[fe80::1]/x","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"https://169.254.169.254/latest/meta-data","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"https://user:pw@hooks.example.com/x","events":["reservation.confirmed"]}`, "url"},
		{`{"url":"https://hooks.example.com/x","events":["reservation.deleted"]}`, "events"},
		{`{"url":"https://hooks.example.com/x","events":[]}`, "events"},
		{`{"url":"https://hooks.example.com/x","events":["reservation.confirmed","reservation.confirmed"]}`, "events"},
	} {
		got := mustError(t, e.do("PUT", "/v1/webhooks/bad", "a-admin", tc.body), http.StatusUnprocessableEntity, "unprocessable")
		if fields, _ := got.Error.Details["fields"].(map[string]any); fields[tc.field] == nil {
			t.Errorf("%s: details %v do not name %s", tc.body, got.Error.Details, tc.field)
		}
	}
	mustError(t, e.do("GET", "/v1/webhooks/bad", "a-admin", ""), http.StatusNotFound, "not_found")
	mustError(t, e.do("PUT", "/v1/webhooks/bad", "a-admin", `{"url":"https://x.example","events":["reservation.confirmed"],"extra":1}`),
		http.StatusBadRequest, "invalid_request")
	e.mustStatus(http.StatusNoContent, e.do("DELETE", "/v1/webhooks/pms", "a-admin", ""))
	mustError(t, e.do("GET", "/v1/webhooks/pms", "a-admin", ""), http.StatusNotFound, "not_found")
}
