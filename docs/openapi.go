// Package docs holds Staylock's operator documentation that code needs:
// the OpenAPI 3 description of the HTTP and WebSocket API.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml: the OpenAPI 3.0.3 document of the whole v1
// API. Tests load it with kin-openapi to validate real responses.
//
//go:embed openapi.yaml
var OpenAPI []byte
