//go:build k8s

package cluster

import (
	"fmt"

	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
)

// K8sProvider reports whether this binary has the Kubernetes provider.
const K8sProvider = true

func newK8sProvider() (protocluster.ClusterProvider, error) {
	p, err := k8s.New()
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider (run inside a pod with the RBAC of deploy/kubernetes): %w", err)
	}
	return p, nil
}
