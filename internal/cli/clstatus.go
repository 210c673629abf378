package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lubdub/lubdub/internal/control"
)

// cl_status exit codes, as Heartbeat's.
const (
	clOK         = 0
	clFail       = 1
	clParamError = 11
	clTimeout    = 12
	clUnknown    = 13
)

const clHelp = `Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
	Show the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
	Show the status of a heartbeat link
hbstatus
	Indicate if heartbeat is running on the local system.
	Options:
		-v	verbose: also add "listnodes -v" output
listnodes [<option>]
	List the nodes in the cluster.
	Options:
		-p	list only 'ping' type nodes
		-n	list only 'normal' type nodes
		-v	verbose: also list type and status,
			then add "listhblinks -v" output
listhblinks <node-name>
	List the network interfaces used as hearbeat links.
	Options:
		-v	verbose: list link status as well
nodestatus <node-name>
	List the node status.
nodeweight <node-name>
	List the node weight.
nodesite <node-name>
	List the node site.
nodetype <node-name>
	List the nodes of a given type.
rscstatus
	Show the status of cluster resources.
hbparameter -p <parameter-name>
	Retrieve the value of a cluster parameter.
	As for the valid parameter names, please refer to the man page.

lubdub: every sub-command also takes --socket PATH (default $LUBDUB_SOCKET
or /run/lubdub/lubdub.sock).
`

type clCmd struct {
	opts string // getopt letters; a letter followed by ':' takes a value
	fn   func(c *clCtx) int
}

var clCommands = map[string]clCmd{
	"hbstatus":     {"mv", clHbstatus},
	"listnodes":    {"mpnv", clListnodes},
	"nodestatus":   {"m", clNodestatus},
	"nodeweight":   {"m", clNodeweight},
	"nodesite":     {"m", clNodesite},
	"nodetype":     {"m", clNodetype},
	"listhblinks":  {"mv", clListhblinks},
	"hblinkstatus": {"m", clHblinkstatus},
	"clientstatus": {"m", clClientstatus},
	"rscstatus":    {"m", clRscstatus},
	"hbparameter":  {"mp:", clHbparameter},
}

type clCtx struct {
	env    *Env
	sock   string
	flags  map[byte]string
	params []string
	status *control.Status
	err    error
}

func (c *clCtx) has(f byte) bool { _, ok := c.flags[f]; return ok }

func (c *clCtx) human() bool { return c.has('m') }

// say prints a sentence with -m (cl_status's "for human reading") and the
// bare value otherwise.
func (c *clCtx) say(value any, sentence string, a ...any) {
	if c.human() {
		fmt.Fprintf(c.env.Stdout, sentence+"\n", a...)
	} else {
		fmt.Fprintln(c.env.Stdout, value)
	}
}

func cmdClStatus(env *Env, args []string) int {
	var sock string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--socket" && i+1 < len(args):
			sock = args[i+1]
			i++
		case strings.HasPrefix(a, "--socket="):
			sock = strings.TrimPrefix(a, "--socket=")
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 || (len(rest) == 1 && rest[0] == "-h") {
		fmt.Fprint(env.Stdout, clHelp)
		return clOK
	}
	cmd, ok := clCommands[rest[0]]
	if !ok {
		clLog(env, "%s: invalid sub-command.", rest[0])
		return clParamError
	}
	c := &clCtx{env: env, sock: socketPath(env, sock), flags: map[byte]string{}}
	if code, ok := c.getopt(cmd.opts, rest[1:]); !ok {
		return code
	}
	resp, err := control.Call(c.sock, control.Request{Cmd: "status"}, callTimeout)
	if err == nil {
		c.status = resp.Status
	}
	c.err = err
	if c.status == nil && rest[0] != "hbstatus" {
		clLog(env, "Cannot signon with heartbeat")
		clLog(env, "REASON: %v", err)
		if !errors.Is(err, control.ErrNotRunning) && strings.Contains(err.Error(), "timeout") {
			return clTimeout
		}
		return clFail
	}
	return cmd.fn(c)
}

// getopt parses option clusters such as -mv and "-p name" as cl_status's
// getopt(3) does; other words are parameters.
func (c *clCtx) getopt(spec string, args []string) (int, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			c.params = append(c.params, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			k := strings.IndexByte(spec, a[j])
			if k < 0 {
				clLog(c.env, "Error: getopt returned character code %c.", a[j])
				return clParamError, false
			}
			if k+1 < len(spec) && spec[k+1] == ':' {
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						clLog(c.env, "option -%c requires an argument", a[j])
						return clParamError, false
					}
					i++
					v = args[i]
				}
				c.flags[a[j]] = v
				break
			}
			c.flags[a[j]] = ""
		}
	}
	return 0, true
}

func (c *clCtx) node(name string) *control.Node {
	all := c.allNodes()
	for i := range all {
		if strings.EqualFold(all[i].Name, name) {
			return &all[i]
		}
	}
	return nil
}

// allNodes is Heartbeat's node table: the cluster nodes, then the ping
// nodes (ha.cf's usual order: ping lines after node lines).
func (c *clCtx) allNodes() []control.Node {
	return append(slices.Clone(c.status.Nodes), c.status.PingNodes...)
}

func clHbstatus(c *clCtx) int {
	out := c.env.Stdout
	if c.status == nil {
		fmt.Fprintln(out, "Heartbeat is stopped on this machine.")
		if c.has('v') && c.err != nil {
			fmt.Fprintf(out, "(%v)\n", c.err)
		}
		return clFail
	}
	if !c.has('v') {
		fmt.Fprintln(out, "Heartbeat is running on this machine.")
		return clOK
	}
	if c.human() {
		fmt.Fprintf(out, "Heartbeat version %s\n", c.status.Version)
		fmt.Fprintln(out, `Resources controlled by "haresources"`)
	} else {
		fmt.Fprintf(out, "version:\t%s\n", c.status.Version)
		fmt.Fprintln(out, "managed by:\t\"haresources\"")
	}
	listNodes(c, true)
	return clOK
}

func listNodes(c *clCtx, verbose bool) {
	out := c.env.Stdout
	if c.human() {
		fmt.Fprintln(out, "The nodes are as follow:")
	}
	// Heartbeat's client library builds its node list by prepending each
	// node its daemon sends in ha.cf order (client_lib.c get_nodelist), so
	// cl_status lists the nodes last first; so do we.
	for _, n := range slices.Backward(c.allNodes()) {
		// -p: ping nodes only, -n: normal nodes only (both: every node).
		if ping := n.Type == "ping"; c.has('p') != c.has('n') && ping != c.has('p') {
			continue
		}
		if verbose {
			fmt.Fprintf(out, "\n%s\t%s\t(nodetype: %s)\n", n.Name, n.Status, n.Type)
			listLinks(c, &n, true)
		} else {
			fmt.Fprintln(out, n.Name)
		}
	}
}

func listLinks(c *clCtx, n *control.Node, verbose bool) {
	out := c.env.Stdout
	if c.human() {
		fmt.Fprintln(out, "\tthis node has the following heartbeat links:")
	}
	// Links too come last first (client_lib.c add_to_iflist prepends).
	for _, l := range slices.Backward(n.Links) {
		if verbose {
			fmt.Fprintf(out, "\t%s\t%s\n", l.Name, l.Status)
		} else {
			fmt.Fprintf(out, "\t%s\n", l.Name)
		}
	}
}

func clListnodes(c *clCtx) int {
	listNodes(c, c.has('v'))
	return clOK
}

// oneNode checks for the node-name parameter and finds the node.
func (c *clCtx) oneNode(notEnough string) (*control.Node, int, bool) {
	if len(c.params) < 1 {
		fmt.Fprintln(c.env.Stderr, notEnough)
		return nil, clParamError, false
	}
	n := c.node(c.params[0])
	if n == nil {
		fmt.Fprintln(c.env.Stderr, "Error. May be due to incorrect node name")
		return nil, clParamError, false
	}
	return n, 0, true
}

func clNodestatus(c *clCtx) int {
	n, code, ok := c.oneNode("Not enough parameters.")
	if !ok {
		return code
	}
	c.say(n.Status, "The cluster node %s is %s", c.params[0], n.Status)
	if n.Status == "active" || n.Status == "up" || n.Status == "ping" {
		return clOK
	}
	return clFail
}

func clNodeweight(c *clCtx) int {
	if _, code, ok := c.oneNode("Not enough parameters."); !ok {
		return code
	}
	c.say(100, "The weight of the cluster node %s is %d", c.params[0], 100)
	return clOK
}

func clNodesite(c *clCtx) int {
	if _, code, ok := c.oneNode("Not enough parameters."); !ok {
		return code
	}
	c.say("", "The site of the cluster node %s is %s", c.params[0], "")
	return clOK
}

func clNodetype(c *clCtx) int {
	n, code, ok := c.oneNode("No enough parameter.")
	if !ok {
		return code
	}
	c.say(n.Type, "The node %s's type: %s", c.params[0], n.Type)
	return clOK
}

func clListhblinks(c *clCtx) int {
	if len(c.params) < 1 {
		fmt.Fprintln(c.env.Stderr, "No enough parameter.")
		return clParamError
	}
	n := c.node(c.params[0])
	if n == nil {
		clLog(c.env, "Cannot start heartbeat link interface walk.")
		clLog(c.env, "REASON: unknown node %s", c.params[0])
		return clUnknown
	}
	listLinks(c, n, c.has('v'))
	return clOK
}

func clHblinkstatus(c *clCtx) int {
	if len(c.params) < 2 {
		fmt.Fprintln(c.env.Stderr, "No enough parameter.")
		return clParamError
	}
	n := c.node(c.params[0])
	var status string
	if n != nil {
		for _, l := range n.Links {
			if l.Name == c.params[1] {
				status = l.Status
			}
		}
	}
	if status == "" {
		clLog(c.env, "Cannot get heartbeat link status")
		clLog(c.env, "REASON: no link %s for node %s", c.params[1], c.params[0])
		return clUnknown
	}
	c.say(status, "The node %s's heartbeat link %s is %s", c.params[0], c.params[1], status)
	if status == "up" {
		return clOK
	}
	return clFail
}

func clClientstatus(c *clCtx) int {
	if len(c.params) < 2 {
		fmt.Fprintln(c.env.Stderr, "No enough parameter.")
		return clParamError
	}
	// lubdub runs no Heartbeat API clients: every client is offline.
	fmt.Fprintln(c.env.Stdout, "offline")
	return clFail
}

// clRscstatus answers as Heartbeat does; -m adds, on a line of its own,
// the groups in maintenance here (Heartbeat had no maintenance mode, so
// the bare answer scripts compare stays Heartbeat's).
func clRscstatus(c *clCtx) int {
	c.say(c.status.Resources, "This node is holding %s resources.", c.status.Resources)
	if c.human() {
		var maint []string
		for _, g := range c.status.Groups {
			if slices.Contains(g.Maintenance, c.status.Node) {
				maint = append(maint, g.ID)
			}
		}
		if len(maint) > 0 {
			fmt.Fprintf(c.env.Stdout, "In maintenance on this node (not monitored, started, stopped or moved): %s.\n", strings.Join(maint, ", "))
		}
	}
	return clOK
}

func clHbparameter(c *clCtx) int {
	name, ok := c.flags['p']
	if !ok || name == "" {
		clLog(c.env, "parameter name required")
		return clParamError
	}
	resp, err := control.Call(c.sock, control.Request{Cmd: "param", Name: name}, callTimeout)
	if err != nil {
		clLog(c.env, "Cannot get parameter %s's value", name)
		clLog(c.env, "REASON: %v", err)
		return clFail
	}
	c.say(resp.Value, "Heartbeat parameter %s's value: %s", name, resp.Value)
	return clOK
}
