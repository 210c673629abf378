package e2e

import (
	"os"
	"testing"

	"github.com/lubdub/lubdub/e2e/e2ekit"
)

// The e2e tests' short names for what they share with e2e/faults
// (package e2ekit).
type (
	node      = e2ekit.Node
	haCluster = e2ekit.HACluster
	probed    = e2ekit.Probed
)

const (
	vip         = e2ekit.VIP
	fastTimings = e2ekit.FastTimings
	sha256Keys  = e2ekit.SHA256Keys
)

var (
	newLab    = e2ekit.NewLab
	must      = e2ekit.Must
	waitFor   = e2ekit.WaitFor
	addHost   = e2ekit.AddHost
	setupNode = e2ekit.SetupNode
	allActive = e2ekit.AllActive
	runIn     = e2ekit.RunIn
)

func TestMain(m *testing.M) { os.Exit(e2ekit.Main(m, "../cmd/lubdub")) }

// haSetup builds the seed's cluster (e2ekit.HASetup) and fails the test
// if two nodes whose link is up ever hold the VIP at once; extra files go
// into node1's configuration directory before it starts, extra lines into
// both nodes' lubdub.cf.
func haSetup(t *testing.T, autoFailback string, node1Files map[string]string, lubdubCf ...string) *haCluster {
	t.Helper()
	return haSetupEach(t, autoFailback, node1Files, nil, lubdubCf...)
}

// haSetupEach is haSetup with prepare (if not nil) called for each node
// once its configuration directory is written, before any node starts.
func haSetupEach(t *testing.T, autoFailback string, node1Files map[string]string, prepare func(*node), lubdubCf ...string) *haCluster {
	t.Helper()
	return e2ekit.HASetup(t, e2ekit.HASpec{AutoFailback: autoFailback, Node1Files: node1Files, Prepare: prepare, LubdubCf: lubdubCf, CheckVIP: true})
}

func holdsVIP(n *node) bool                           { return n.HoldsVIP() }
func dropHeartbeats(t *testing.T, n *node, drop bool) { t.Helper(); n.DropHeartbeats(t, drop) }
