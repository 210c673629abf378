// Package fence powers off or resets cluster nodes through the fencing
// tools operators already have: cluster-glue's stonith plugins (through its
// stonith command), cluster-glue's external/* scripts (called directly, as
// cluster-glue calls them) and Red Hat style fence_* agents (fence-agents).
// It re-implements no device protocol.
//
// A Device fences nodes, checks its switch and lists the nodes it can
// fence. A Topology says, per target node, which devices to use in which
// order (Pacemaker's fencing levels); Topology.Fence runs them and returns
// a Result saying which device failed and why, for logs and lubdub status.
//
// Every device call runs a program without a shell, in a process group of
// its own that is killed when the call's context ends (its timeout), and
// logs what it ran and what it printed.
package fence

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Action is what a fencing request does to a node.
type Action int

// The actions of cluster-glue's stonith -T and fence-agents' action=.
const (
	Reset Action = iota // power cycle ("reset" in cluster-glue, "reboot" in fence-agents)
	Off                 // power off
	On                  // power on (never a fence: it does not make a node safe)
)

// String is cluster-glue's word for the action.
func (a Action) String() string {
	switch a {
	case Off:
		return "off"
	case On:
		return "on"
	}
	return "reset"
}

// ParseAction reads cluster-glue's words (reset, off, on) and
// fence-agents' reboot.
func ParseAction(s string) (Action, error) {
	switch s {
	case "reset", "reboot":
		return Reset, nil
	case "off":
		return Off, nil
	case "on":
		return On, nil
	}
	return Reset, fmt.Errorf("%q is not a fencing action (reset, off or on)", s)
}

// Device is one fencing device: a power switch, a BMC, a hypervisor, an
// operator (meatware). Implementations are safe for concurrent use.
type Device interface {
	// Name is the device's name in the configuration and in messages.
	Name() string
	// Fence does action to node (a cluster node name) and returns nil only
	// when the device reports it done. Errors are *Error.
	Fence(ctx context.Context, node string, action Action) error
	// Status checks that the device answers (cluster-glue's status,
	// fence-agents' monitor).
	Status(ctx context.Context) error
	// Hosts lists the nodes the device can fence, as the device (or its
	// configured host list) names them. ErrNoHostList when it cannot say.
	Hosts(ctx context.Context) ([]string, error)
}

// Sentinel errors, wrapped by *Error, for callers that branch.
var (
	// ErrBadHost: the device does not control that node (cluster-glue's
	// S_BADHOST; a node missing from a device's host list).
	ErrBadHost = errors.New("the device does not control this node")
	// ErrTimeout: the program did not finish within its timeout and its
	// process group was killed.
	ErrTimeout = errors.New("timed out")
	// ErrNoHostList: the device cannot list the nodes it controls.
	ErrNoHostList = errors.New("the device cannot list its hosts")
	// ErrNotFound: the plugin, script or agent is not installed.
	ErrNotFound = errors.New("not installed")
	// ErrBadConfig: the device refused its parameters.
	ErrBadConfig = errors.New("the device refused its configuration")
)

// Error is a failed device call: which device, what it was asked, and what
// went wrong, with the tail of what the program printed.
type Error struct {
	Device string // device name
	Op     string // "reset node2", "status", "list hosts"
	Err    error  // cause; may wrap a sentinel
	Output string // last lines the program printed (stdout and stderr)
	Code   int    // the program's exit code when it ran and failed, else 0
}

func (e *Error) Error() string {
	s := fmt.Sprintf("fence device %s: %s: %v", e.Device, e.Op, e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		s += " (output: " + oneLine(out, 300) + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// oneLine joins lines with " | " and keeps at most n bytes of the end,
// where programs put their verdict.
func oneLine(s string, n int) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	s = strings.Join(parts, " | ")
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
