package fence

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ExternalDir is where cluster-glue looks for external/* plugins
// (STONITH_EXT_PLUGINDIR).
var ExternalDir = "/usr/lib/stonith/plugins/external"

// ExternalScript is a cluster-glue external/* plugin called directly, the
// way cluster-glue's external plugin calls it: "SCRIPT reset NODE",
// "SCRIPT off NODE", "SCRIPT on NODE", "SCRIPT status", "SCRIPT gethosts",
// with the device's parameters in the environment, cluster-glue's shared
// directory first in PATH (for ha_log.sh) and HA_LOGTAG set to
// external/NAME. Exit 0 is success; gethosts prints names separated by
// white space. As cluster-glue, it refuses a script that is not a regular
// executable file or that group or others may write.
type ExternalScript struct {
	DevName string
	// Path is the script: an absolute path, or a name such as "ipmi" or
	// "external/ipmi" looked up in ExternalDir.
	Path    string
	Params  map[string]string
	Runner  Runner
	Timeout CallTimeout
}

// Name implements Device.
func (e *ExternalScript) Name() string { return e.DevName }

// ScriptPath resolves Path.
func (e *ExternalScript) ScriptPath() string {
	if filepath.IsAbs(e.Path) {
		return e.Path
	}
	return filepath.Join(ExternalDir, strings.TrimPrefix(e.Path, "external/"))
}

// checkScript applies cluster-glue's external_run_cmd checks.
func checkScript(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s: %w", path, ErrNotFound)
		}
		return err
	}
	m := st.Mode()
	if !m.IsRegular() || m.Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable regular file", path)
	}
	if m.Perm()&0o022 != 0 {
		return fmt.Errorf("%s may be written by group or others (mode %04o); cluster-glue refuses to run it, and so does lubdub", path, m.Perm())
	}
	return nil
}

func (e *ExternalScript) run(ctx context.Context, op string, timeout CallTimeoutKind, args ...string) (Output, error) {
	path := e.ScriptPath()
	if err := checkScript(path); err != nil {
		return Output{}, &Error{Device: e.DevName, Op: op, Err: err}
	}
	logf, err := os.CreateTemp("", "lubdub-external-*.log")
	if err != nil {
		return Output{}, &Error{Device: e.DevName, Op: op, Err: fmt.Errorf("creating the log file for ha_log.sh: %w", err)}
	}
	logf.Close()
	defer os.Remove(logf.Name())
	env := baseEnv()
	var secrets []string
	for _, k := range sortedKeys(e.Params) {
		env = append(env, k+"="+e.Params[k])
		if isSecretName(k) {
			secrets = append(secrets, e.Params[k])
		}
	}
	env = append(env, "HA_LOGTAG=external/"+filepath.Base(path), "HA_LOGD=no", "HA_LOGFACILITY=none", "HA_LOGFILE="+logf.Name())
	out, err := runner(e.Runner).Run(ctx, Command{Path: path, Args: args, Env: env, Timeout: e.Timeout.get(timeout), Secrets: secrets})
	if b, rerr := os.ReadFile(logf.Name()); rerr == nil && len(b) > 0 {
		out.Stderr = strings.TrimSpace(out.Stderr + "\n" + mask(string(b), secrets))
	}
	if err != nil {
		return out, &Error{Device: e.DevName, Op: op, Err: err, Output: mask(out.Combined(), secrets)}
	}
	if out.ExitCode != 0 {
		return out, &Error{Device: e.DevName, Op: op, Err: fmt.Errorf("%s %s exited %d", filepath.Base(path), strings.Join(args, " "), out.ExitCode), Output: mask(out.Combined(), secrets), Code: out.ExitCode}
	}
	return out, nil
}

// Fence implements Device.
func (e *ExternalScript) Fence(ctx context.Context, node string, action Action) error {
	_, err := e.run(ctx, action.String()+" "+node, kindFence, action.String(), node)
	return err
}

// Status implements Device.
func (e *ExternalScript) Status(ctx context.Context) error {
	_, err := e.run(ctx, "status", kindStatus, "status")
	return err
}

// Hosts implements Device (gethosts).
func (e *ExternalScript) Hosts(ctx context.Context) ([]string, error) {
	out, err := e.run(ctx, "list hosts", kindList, "gethosts")
	if err != nil {
		return nil, err
	}
	hosts := ParseHostList(out.Stdout)
	if len(hosts) == 0 {
		// cluster-glue: "returned an empty hostlist" is a failure.
		return nil, &Error{Device: e.DevName, Op: "list hosts", Err: fmt.Errorf("gethosts printed no host: %w", ErrNoHostList), Output: out.Combined()}
	}
	return hosts, nil
}

// ConfigNames runs getconfignames: the parameter names the script wants.
func (e *ExternalScript) ConfigNames(ctx context.Context) ([]string, error) {
	out, err := e.run(ctx, "getconfignames", kindList, "getconfignames")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out.Stdout), nil
}

// CallTimeoutKind picks a field of CallTimeout.
type CallTimeoutKind int

const (
	kindFence CallTimeoutKind = iota
	kindStatus
	kindList
)
