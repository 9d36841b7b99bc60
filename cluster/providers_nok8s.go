//go:build !k8s

package cluster

import (
	"errors"

	protocluster "github.com/asynkron/protoactor-go/cluster"
)

// K8sProvider reports whether this binary has the Kubernetes provider.
//
// It is left out by default: its client (k8s.io/client-go and the
// Kubernetes API types) was about a third of the binary's code and most of
// a cold build, for a provider only Kubernetes deployments use. Build it in
// with `make build-k8s` (go build -tags k8s); the image in deploy/ does.
const K8sProvider = false

// ErrNoK8sProvider is what CLUSTER_PROVIDER=k8s gets from a binary built
// without the Kubernetes provider.
var ErrNoK8sProvider = errors.New("CLUSTER_PROVIDER=k8s: this binary was built without the Kubernetes provider; build it with `make build-k8s` (go build -tags k8s ./cmd/staylock)")

func newK8sProvider() (protocluster.ClusterProvider, error) {
	return nil, ErrNoK8sProvider
}
