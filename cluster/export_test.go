package cluster

import (
	"github.com/staylock/staylock/actors"

	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
)

// WithAgent returns o for a member of an in-process cluster: the members
// started with one agent form one cluster on protoactor's test provider.
func WithAgent(o Options, agent *test.InMemAgent) Options {
	o.inProcess = func() protocluster.ClusterProvider { return test.NewTestProvider(agent) }
	return o
}

// MemberID is this member's id (new at every start).
func (n *Node) MemberID() string { return n.system.ID }

// Owner is the address of the member that owns identity in this node's
// view ("" when there is none).
func (n *Node) Owner(identity string) string {
	return n.router.owner(identity, actors.Kind)
}
