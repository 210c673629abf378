package fence

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/lubdub/lubdub/internal/haconf"
)

// StonithBin is cluster-glue's stonith command (Debian's cluster-glue).
var StonithBin = "/usr/sbin/stonith"

// Exit codes of cluster-glue's stonith command: the S_* codes of
// <stonith/stonith.h>, which its plugins return.
var glueCodes = map[int]string{
	1: "S_BADCONFIG: bad configuration",
	2: "S_ACCESS: cannot reach the device (login or password?)",
	3: "S_INVAL: bad argument",
	4: "S_BADHOST: the device does not control this node",
	5: "S_RESETFAIL: the reset failed",
	6: "S_TIMEOUT: the device timed out",
	7: "S_ISOFF: the outlet is off",
	8: "S_OOPS: something strange happened (unknown type?)",
}

// GlueDevice is a cluster-glue stonith plugin used through the stonith
// command: stonith -t TYPE {-p PARAMS | -F FILE | -E} ... Exactly one of
// Params, File and Pairs configures it (none for plugins without
// parameters).
type GlueDevice struct {
	DevName string // name in messages
	Type    string // plugin type, as stonith -L lists it: "baytech", "external/ipmi"
	// Params is Heartbeat's positional form (stonith_host's PARAMS...):
	// the plugin's parameters in the order stonith -t TYPE -n gives.
	Params string
	// File is a file whose first line that is not a comment holds the
	// positional parameters (Heartbeat's stonith TYPE CONFIGFILE).
	File string
	// Pairs are named parameters (stonith -E, from the environment).
	Pairs   map[string]string
	Runner  Runner
	Timeout CallTimeout
}

// CallTimeout is how long each kind of call may take; zero fields take
// DefaultTimeout.
type CallTimeout struct {
	Fence, Status, List time.Duration
}

func (t CallTimeout) get(k CallTimeoutKind) time.Duration {
	switch k {
	case kindStatus:
		return t.Status
	case kindList:
		return t.List
	}
	return t.Fence
}

// Name implements Device.
func (g *GlueDevice) Name() string { return g.DevName }

func (g *GlueDevice) args() ([]string, []string, []string) {
	args := []string{"-t", g.Type}
	env := baseEnv()
	var secrets []string
	switch {
	case g.File != "":
		args = append(args, "-F", g.File)
	case g.Pairs != nil:
		args = append(args, "-E")
		for _, k := range sortedKeys(g.Pairs) {
			env = append(env, k+"="+g.Pairs[k])
			if isSecretName(k) {
				secrets = append(secrets, g.Pairs[k])
			}
		}
	case g.Params != "":
		// Positional parameters carry passwords in an unknown place.
		args = append(args, "-p", g.Params)
		secrets = append(secrets, g.Params)
	}
	return args, env, secrets
}

// run runs the stonith command with the device's configuration and extra
// arguments. Its messages go to syslog when standard input is not a
// terminal, so they are collected through HA_logfile.
func (g *GlueDevice) run(ctx context.Context, op string, timeout time.Duration, extra ...string) (Output, error) {
	args, env, secrets := g.args()
	args = append(args, extra...)
	logf, err := os.CreateTemp("", "lubdub-stonith-*.log")
	if err != nil {
		return Output{}, &Error{Device: g.DevName, Op: op, Err: fmt.Errorf("creating the log file for stonith: %w", err)}
	}
	logf.Close()
	defer os.Remove(logf.Name())
	env = append(env, "HA_logfile="+logf.Name(), "HA_debugfile="+logf.Name(),
		// for external/* scripts the plugin runs (ha_log.sh)
		"HA_LOGD=no", "HA_LOGFACILITY=none", "HA_LOGFILE="+logf.Name())
	out, err := runner(g.Runner).Run(ctx, Command{Path: StonithBin, Args: args, Env: env, Timeout: timeout, Secrets: secrets})
	if b, rerr := os.ReadFile(logf.Name()); rerr == nil && len(b) > 0 {
		out.Stderr = strings.TrimSpace(out.Stderr + "\n" + mask(string(b), secrets))
	}
	if err != nil {
		return out, &Error{Device: g.DevName, Op: op, Err: err, Output: mask(out.Combined(), secrets)}
	}
	if out.ExitCode != 0 {
		return out, &Error{Device: g.DevName, Op: op, Err: glueErr(out.ExitCode), Output: mask(out.Combined(), secrets), Code: out.ExitCode}
	}
	return out, nil
}

func glueErr(rc int) error {
	what, ok := glueCodes[rc]
	if !ok {
		what = "failed"
	}
	err := fmt.Errorf("stonith exited %d (%s)", rc, what)
	switch rc {
	case 4:
		return fmt.Errorf("%w: %w", ErrBadHost, err)
	case 1:
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return err
}

// Fence implements Device: stonith ... -T reset|off|on NODE.
func (g *GlueDevice) Fence(ctx context.Context, node string, action Action) error {
	_, err := g.run(ctx, action.String()+" "+node, g.Timeout.Fence, "-T", action.String(), node)
	return err
}

// Status implements Device: stonith ... -S.
func (g *GlueDevice) Status(ctx context.Context) error {
	_, err := g.run(ctx, "status", g.Timeout.Status, "-S")
	return err
}

// Hosts implements Device: stonith ... -l, one host a line.
func (g *GlueDevice) Hosts(ctx context.Context) ([]string, error) {
	out, err := g.run(ctx, "list hosts", g.Timeout.List, "-l")
	if err != nil {
		return nil, err
	}
	return ParseHostList(out.Stdout), nil
}

// GlueTypes lists the plugin types cluster-glue has (stonith -L).
func GlueTypes(ctx context.Context, r Runner) ([]string, error) {
	out, err := runner(r).Run(ctx, Command{Path: StonithBin, Args: []string{"-L"}, Env: baseEnv(), Timeout: 20 * time.Second})
	if err == nil && out.ExitCode != 0 {
		err = fmt.Errorf("stonith -L exited %d: %s", out.ExitCode, oneLine(out.Combined(), 300))
	}
	if err != nil {
		return nil, fmt.Errorf("listing cluster-glue's stonith types: %w", err)
	}
	return ParseHostList(out.Stdout), nil
}

// GlueConfigNames returns a plugin type's parameter names in the order its
// positional parameters take (stonith -t TYPE -n). ErrNotFound when
// cluster-glue has no such type.
func GlueConfigNames(ctx context.Context, r Runner, typ string) ([]string, error) {
	if typ == "" || strings.HasPrefix(typ, "-") {
		return nil, fmt.Errorf("stonith type %q: %w", typ, ErrNotFound)
	}
	out, err := runner(r).Run(ctx, Command{Path: StonithBin, Args: []string{"-t", typ, "-n"}, Env: baseEnv(), Timeout: 20 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("asking cluster-glue for the parameters of %s: %w", typ, err)
	}
	if out.ExitCode != 0 {
		return nil, fmt.Errorf("stonith type %s: %w (stonith -t %s -n exited %d)", typ, ErrNotFound, typ, out.ExitCode)
	}
	return strings.Fields(out.Stdout), nil
}

// SplitGlueParams is haconf.SplitStonithParams: cluster-glue's rule for
// Heartbeat's positional parameters.
func SplitGlueParams(names []string, params string) (map[string]string, error) {
	return haconf.SplitStonithParams(names, params)
}

// ParseHostList reads a list of names separated by white space, as
// cluster-glue splits a plugin's gethosts output and as stonith -l and -L
// print them; duplicates are dropped, order kept.
func ParseHostList(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range strings.Fields(s) {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

func runner(r Runner) Runner {
	if r == nil {
		return ExecRunner{}
	}
	return r
}

// baseEnv is the environment of every fencing program: a fixed PATH with
// cluster-glue's shared directory first (external plugins source
// ha_log.sh from it), nothing inherited from lubdub.
func baseEnv() []string {
	return []string{"PATH=" + GlueSharedDir + ":/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
}

// GlueSharedDir holds cluster-glue's ha_log.sh.
var GlueSharedDir = "/usr/share/cluster-glue"

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// isSecretName tells parameters whose values stay out of logs.
func isSecretName(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "key") || strings.Contains(k, "community")
}
