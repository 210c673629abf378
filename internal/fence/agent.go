package fence

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// AgentDir is where Debian's fence-agents installs the fence_* agents.
var AgentDir = "/usr/sbin"

// Exit codes of fence-agents (fencing.py's EC_* values).
var agentCodes = map[int]string{
	1:  "generic error",
	2:  "bad arguments",
	3:  "login denied",
	4:  "connection lost",
	5:  "timed out",
	6:  "timed out waiting for power on",
	7:  "timed out waiting for power off",
	8:  "failed to get the power status",
	9:  "failed to get the power status (HMC)",
	10: "password missing",
	11: "invalid privileges",
	12: "failed to fetch the VM's UUID",
}

// AgentCodeMeaning is what a fence-agents exit code means.
func AgentCodeMeaning(rc int) string {
	if m, ok := agentCodes[rc]; ok {
		return m
	}
	return "failed"
}

// Agent is a Red Hat style fence agent (fence_ipmilan, fence_sbd, ...):
// options go on standard input as name=value lines, with action= (reboot,
// off, on, status, monitor, list, metadata), plug= naming the outlet (or
// VM, or disk slot) and nodename= the cluster node, as Pacemaker's fenced
// passes them.
type Agent struct {
	DevName string
	// Path is the agent: an absolute path or a name looked up in AgentDir.
	Path    string
	Options map[string]string // passed to the agent as they are
	// HostList are the nodes the device fences (Pacemaker's
	// pcmk_host_list); empty: ask the agent (action=list).
	HostList []string
	// HostMap maps a node to its plug (Pacemaker's pcmk_host_map); a node
	// not in it is its own plug.
	HostMap map[string]string
	// HostArgument is the option that names the plug (Pacemaker's
	// pcmk_host_argument): "" picks plug when the agent's metadata has
	// plug or port, else none; "none" sends no plug.
	HostArgument string
	Runner       Runner
	Timeout      CallTimeout

	mu   sync.Mutex
	meta *AgentMetadata
}

// Name implements Device.
func (a *Agent) Name() string { return a.DevName }

// AgentPath resolves Path.
func (a *Agent) AgentPath() string {
	if filepath.IsAbs(a.Path) {
		return a.Path
	}
	return filepath.Join(AgentDir, a.Path)
}

// Stdin renders options as fence-agents reads them: one name=value a
// line. Values are single lines: a newline would start another option.
func Stdin(opts map[string]string) (string, error) {
	var b strings.Builder
	for _, k := range sortedKeys(opts) {
		v := opts[k]
		if k == "" || strings.ContainsAny(k, "=\n\r#") || strings.TrimSpace(k) != k {
			return "", fmt.Errorf("option name %q cannot be passed to a fence agent", k)
		}
		if strings.ContainsAny(v, "\n\r") {
			return "", fmt.Errorf("option %s: a value cannot hold a line break", k)
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return b.String(), nil
}

func (a *Agent) run(ctx context.Context, op string, kind CallTimeoutKind, extra map[string]string) (Output, error) {
	path := a.AgentPath()
	if _, err := os.Stat(path); err != nil {
		if os.IsNotExist(err) {
			err = fmt.Errorf("%s: %w (Debian's fence-agents package)", path, ErrNotFound)
		}
		return Output{}, &Error{Device: a.DevName, Op: op, Err: err}
	}
	opts := map[string]string{}
	var secrets []string
	for k, v := range a.Options {
		opts[k] = v
		if isSecretName(k) {
			secrets = append(secrets, v)
		}
	}
	for k, v := range extra {
		opts[k] = v
	}
	in, err := Stdin(opts)
	if err != nil {
		return Output{}, &Error{Device: a.DevName, Op: op, Err: fmt.Errorf("%w: %w", ErrBadConfig, err)}
	}
	// fence-agents' Python prints deprecation warnings that would bury
	// the agent's own message.
	env := append(baseEnv(), "PYTHONWARNINGS=ignore::DeprecationWarning")
	out, err := runner(a.Runner).Run(ctx, Command{Path: path, Env: env, Stdin: in, Timeout: a.Timeout.get(kind), Secrets: secrets})
	if err != nil {
		return out, &Error{Device: a.DevName, Op: op, Err: err, Output: mask(out.Combined(), secrets)}
	}
	return out, nil
}

func (a *Agent) fail(op string, out Output) error {
	err := fmt.Errorf("%s exited %d (%s)", filepath.Base(a.AgentPath()), out.ExitCode, AgentCodeMeaning(out.ExitCode))
	if out.ExitCode == 2 || out.ExitCode == 10 {
		err = fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &Error{Device: a.DevName, Op: op, Err: err, Output: out.Combined(), Code: out.ExitCode}
}

// Metadata runs action=metadata once and keeps what it said.
func (a *Agent) Metadata(ctx context.Context) (*AgentMetadata, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.meta != nil {
		return a.meta, nil
	}
	out, err := a.run(ctx, "metadata", kindList, map[string]string{"action": "metadata"})
	if err != nil {
		return nil, err
	}
	if out.ExitCode != 0 {
		return nil, a.fail("metadata", out)
	}
	m, err := ParseAgentMetadata([]byte(out.Stdout))
	if err != nil {
		return nil, &Error{Device: a.DevName, Op: "metadata", Err: err}
	}
	a.meta = m
	return m, nil
}

// controls reports whether the configured host list names node; true
// when there is no list.
func (a *Agent) controls(node string) bool {
	if len(a.HostList) == 0 && len(a.HostMap) == 0 {
		return true
	}
	if _, ok := a.HostMap[node]; ok {
		return true
	}
	return slices.Contains(a.HostList, node)
}

// Fence implements Device.
func (a *Agent) Fence(ctx context.Context, node string, action Action) error {
	op := action.String() + " " + node
	if !a.controls(node) {
		return &Error{Device: a.DevName, Op: op, Err: fmt.Errorf("%w (not in its host list %s)", ErrBadHost, strings.Join(a.HostList, ","))}
	}
	word := map[Action]string{Reset: "reboot", Off: "off", On: "on"}[action]
	extra := map[string]string{"action": word, "nodename": node}
	hostArg := a.HostArgument
	if hostArg == "" {
		hostArg = "none"
		if m, err := a.Metadata(ctx); err != nil {
			return &Error{Device: a.DevName, Op: op, Err: fmt.Errorf("reading the agent's metadata to know whether it takes a plug: %w", err)}
		} else if m.HasParameter("plug") || m.HasParameter("port") {
			hostArg = "plug"
		}
	}
	if hostArg != "none" {
		plug := node
		if p, ok := a.HostMap[node]; ok {
			plug = p
		}
		extra[hostArg] = plug
	}
	out, err := a.run(ctx, op, kindFence, extra)
	if err != nil {
		return err
	}
	if out.ExitCode != 0 {
		return a.fail(op, out)
	}
	return nil
}

// Status implements Device (action=monitor).
func (a *Agent) Status(ctx context.Context) error {
	out, err := a.run(ctx, "status", kindStatus, map[string]string{"action": "monitor"})
	if err != nil {
		return err
	}
	if out.ExitCode != 0 {
		return a.fail("status", out)
	}
	return nil
}

// Hosts implements Device: the configured host list, else action=list.
func (a *Agent) Hosts(ctx context.Context) ([]string, error) {
	if len(a.HostList) > 0 || len(a.HostMap) > 0 {
		hosts := slices.Clone(a.HostList)
		for _, k := range sortedKeys(a.HostMap) {
			if !slices.Contains(hosts, k) {
				hosts = append(hosts, k)
			}
		}
		return hosts, nil
	}
	out, err := a.run(ctx, "list hosts", kindList, map[string]string{"action": "list"})
	if err != nil {
		return nil, err
	}
	if out.ExitCode != 0 {
		return nil, a.fail("list hosts", out)
	}
	plugs, err := ParseAgentList(out.Stdout, ",")
	if err != nil {
		return nil, &Error{Device: a.DevName, Op: "list hosts", Err: err, Output: out.Combined()}
	}
	var hosts []string
	for _, p := range plugs {
		hosts = append(hosts, p.Plug)
		if p.Alias != "" && p.Alias != p.Plug {
			hosts = append(hosts, p.Alias)
		}
	}
	return hosts, nil
}

// Plug is one line of a fence agent's list output.
type Plug struct {
	Plug, Alias, Status string
}

// ParseAgentList reads what fence-agents print for action=list and
// list-status: one "PLUG<sep>ALIAS[<sep>STATUS]" a line (fencing.py's
// fence_action). "N/A" (an agent without plugs) and the NOTICE of an
// agent that cannot list give ErrNoHostList.
func ParseAgentList(s, sep string) ([]Plug, error) {
	if sep == "" {
		sep = ","
	}
	var out []Plug
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line == "N/A" || strings.HasPrefix(line, "NOTICE:") {
			return nil, fmt.Errorf("the agent has no plugs to list: %w", ErrNoHostList)
		}
		f := strings.SplitN(line, sep, 3)
		p := Plug{Plug: strings.TrimSpace(f[0])}
		if len(f) > 1 {
			p.Alias = strings.TrimSpace(f[1])
		}
		if len(f) > 2 {
			p.Status = strings.TrimSpace(f[2])
		}
		if p.Plug == "" {
			return nil, fmt.Errorf("list line %q has no plug", line)
		}
		out = append(out, p)
	}
	return out, nil
}

// AgentMetadata is what a fence agent says of itself (action=metadata).
type AgentMetadata struct {
	Name       string
	ShortDesc  string
	Parameters []AgentParameter
	Actions    []string
}

// AgentParameter is one parameter of an agent.
type AgentParameter struct {
	Name     string
	Required bool
	Default  string
	Type     string
	Desc     string
}

// HasParameter reports whether the agent takes the parameter.
func (m *AgentMetadata) HasParameter(name string) bool {
	for _, p := range m.Parameters {
		if p.Name == name {
			return true
		}
	}
	return false
}

// ParseAgentMetadata reads fence-agents' metadata XML (a resource-agent
// element with parameters and actions).
func ParseAgentMetadata(b []byte) (*AgentMetadata, error) {
	var doc struct {
		XMLName   xml.Name `xml:"resource-agent"`
		Name      string   `xml:"name,attr"`
		ShortDesc string   `xml:"shortdesc,attr"`
		Params    []struct {
			Name     string `xml:"name,attr"`
			Required string `xml:"required,attr"`
			Content  struct {
				Type    string `xml:"type,attr"`
				Default string `xml:"default,attr"`
			} `xml:"content"`
			ShortDesc string `xml:"shortdesc"`
		} `xml:"parameters>parameter"`
		Actions []struct {
			Name string `xml:"name,attr"`
		} `xml:"actions>action"`
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading the agent's metadata: %w", err)
	}
	if doc.Name == "" {
		return nil, fmt.Errorf("reading the agent's metadata: resource-agent has no name")
	}
	m := &AgentMetadata{Name: doc.Name, ShortDesc: doc.ShortDesc}
	for _, p := range doc.Params {
		if p.Name == "" {
			return nil, fmt.Errorf("reading the agent's metadata: a parameter has no name")
		}
		m.Parameters = append(m.Parameters, AgentParameter{Name: p.Name, Required: p.Required == "1", Default: p.Content.Default, Type: p.Content.Type, Desc: strings.TrimSpace(p.ShortDesc)})
	}
	for _, a := range doc.Actions {
		if a.Name != "" {
			m.Actions = append(m.Actions, a.Name)
		}
	}
	return m, nil
}
