package fence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Command is one run of a fencing program. There is no shell: Path is run
// with Args as they are.
type Command struct {
	Path    string
	Args    []string
	Env     []string // the whole environment, "NAME=value"
	Stdin   string
	Timeout time.Duration // 0: DefaultTimeout
	// Secret values (passwords) are replaced by *** in the log.
	Secrets []string
}

// Output is what a finished program left.
type Output struct {
	Stdout, Stderr string
	ExitCode       int
	Took           time.Duration
}

// Combined is stdout then stderr, for messages.
func (o Output) Combined() string {
	return strings.TrimSpace(strings.TrimSpace(o.Stdout) + "\n" + strings.TrimSpace(o.Stderr))
}

// Runner runs fencing programs; tests of the pure parts replace it.
type Runner interface {
	// Run returns the program's output and exit code. The error is non-nil
	// only when the program could not be started, was killed at its
	// timeout (ErrTimeout) or died of a signal; a non-zero exit is not an
	// error here.
	Run(ctx context.Context, c Command) (Output, error)
}

// DefaultTimeout bounds a call with no timeout of its own. Fence agents
// take 20 s and more on slow BMCs; Pacemaker's default is 60 s.
const DefaultTimeout = 60 * time.Second

// maxOutput bounds what is kept of each stream.
const maxOutput = 64 << 10

// ExecRunner runs programs with os/exec, each in a new process group that
// is killed (SIGKILL to the whole group) when the timeout or ctx ends.
type ExecRunner struct {
	Log *slog.Logger // nil: slog.Default()
}

// limited keeps the first maxOutput bytes written to it.
type limited struct{ bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.Len(); room > 0 {
		if len(p) > room {
			l.Buffer.Write(p[:room])
		} else {
			l.Buffer.Write(p)
		}
	}
	return len(p), nil
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, c Command) (Output, error) {
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cmd.Stdin = strings.NewReader(c.Stdin)
	var stdout, stderr limited
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The program's children (ipmitool, ssh, expect) are in its group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A grandchild that left the group may hold the pipes open.
	cmd.WaitDelay = 2 * time.Second

	argv := mask(strings.Join(append([]string{c.Path}, c.Args...), " "), c.Secrets)
	start := time.Now()
	err := cmd.Run()
	out := Output{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	if cmd.ProcessState != nil {
		out.ExitCode = cmd.ProcessState.ExitCode()
	}
	logOut := mask(oneLine(out.Combined(), 500), c.Secrets)
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("%s: %w after %s (process group killed)", argv, ErrTimeout, timeout)
	case err != nil && cmd.ProcessState == nil:
		err = fmt.Errorf("starting %s: %w", argv, err)
	case err != nil && cmd.ProcessState != nil && !cmd.ProcessState.Exited():
		err = fmt.Errorf("%s: %s", argv, cmd.ProcessState)
	case ctx.Err() != nil:
		err = fmt.Errorf("%s: %w", argv, ctx.Err())
	default:
		err = nil
	}
	if err != nil {
		log.Warn("fence program failed", "cmd", argv, "took", out.Took.Round(time.Millisecond), "output", logOut, "err", err)
		return out, err
	}
	log.Info("fence program ran", "cmd", argv, "rc", out.ExitCode, "took", out.Took.Round(time.Millisecond), "output", logOut)
	return out, nil
}

// mask replaces secret values in s.
func mask(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}
