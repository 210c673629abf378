package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// HeartbeatBin is Debian's heartbeat daemon.
const HeartbeatBin = "/usr/libexec/heartbeat/heartbeat"

// Heartbeat is Debian's Heartbeat 3.0.6 running in a host. Its fixed
// paths (/etc/ha.d, /var/lib/heartbeat, /run) are replaced, in a private
// mount namespace, by copies under the lab directory, so the machine's own
// files are never touched.
type Heartbeat struct {
	Host *Host
	Work string // its /etc/ha.d is Work/etc
	Proc *Proc
}

const heartbeatWrapper = `#!/bin/sh
set -e
W="$1"
mount --make-rprivate /
mount --bind "$W/etc" /etc/ha.d
mount --bind "$W/lib" /var/lib/heartbeat
mount -t tmpfs tmpfs /run
mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/rsctmp /run/heartbeat/dopd
chown -R hacluster:haclient /run/heartbeat
exec ` + HeartbeatBin + ` -f
`

// PrepareHeartbeat writes a Heartbeat node's files (ha.cf, authkeys,
// haresources and any others, relative to /etc/ha.d) under the lab
// directory. The node's name goes into /etc/ha.d/nodeinfo, and ha.cf gets
// a logfile line naming Work/ha-log, which Log reads.
func (h *Host) PrepareHeartbeat(name string, files map[string]string) (*Heartbeat, error) {
	w := filepath.Join(h.lab.Dir, name+"-heartbeat")
	if err := os.MkdirAll(w, 0o755); err != nil {
		return nil, err
	}
	for src, dst := range map[string]string{"/etc/ha.d": "etc", "/var/lib/heartbeat": "lib"} {
		if _, err := os.Stat(filepath.Join(w, dst)); err == nil {
			continue
		}
		if out, err := exec.Command("cp", "-a", src, filepath.Join(w, dst)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("copying %s: %v: %s", src, err, out)
		}
	}
	if err := atomicClusterMsg(filepath.Join(w, "etc", "shellfuncs")); err != nil {
		return nil, err
	}
	files["nodeinfo"] = name + "\n"
	files["ha.cf"] = "logfile " + filepath.Join(w, "ha-log") + "\n" + files["ha.cf"]
	for f, body := range files {
		mode := os.FileMode(0o644)
		if f == "authkeys" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(w, "etc", f), []byte(body), mode); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(w, "run.sh"), []byte(heartbeatWrapper), 0o755); err != nil {
		return nil, err
	}
	return &Heartbeat{Host: h, Work: w}, nil
}

// clusterMsgPipe is Heartbeat 3.0.6's ha_clustermsg (shellfuncs), which its
// scripts (req_resource, hb_takeover, hb_standby, mach_down) use to hand a
// message to the daemon through its FIFO.
const clusterMsgPipe = "\t(echo \">>>\"; cat -; echo \"<<<\")\t| cat - >> $HA_FIFO\n"

// clusterMsgWrite is the same message in one write(2).
const clusterMsgWrite = "\t_m=$(cat -)\n\tprintf '>>>\\n%s\\n<<<\\n' \"$_m\" >> $HA_FIFO\n"

// atomicClusterMsg makes the lab's copy of shellfuncs write a cluster
// message to Heartbeat's FIFO in one write. Heartbeat's FIFO reader arms a
// one-second alarm each time it starts waiting for a message (fifo_child:
// setmsalarm(1000) around msgfromstream); the pipeline writes ">>>" as soon
// as its subshell has echoed it and the rest later, so whenever the alarm
// falls between the two writes (more often on a loaded machine) the reader
// logs "msg2string: Message with zero fields" and the message is lost (seen
// in CI: req_resource's ip-request, after which a Heartbeat pair never
// started its group). The test is of the daemons, not of that race. The
// scripts run under /bin/sh (dash), whose printf writes once.
func atomicClusterMsg(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	if strings.Contains(s, clusterMsgWrite) {
		return nil
	}
	if !strings.Contains(s, clusterMsgPipe) {
		return fmt.Errorf("%s: Heartbeat's ha_clustermsg is not the one the lab knows (3.0.6); look at it before patching", path)
	}
	return os.WriteFile(path, []byte(strings.Replace(s, clusterMsgPipe, clusterMsgWrite, 1)), 0o644)
}

// Start runs Heartbeat in the foreground (it makes its own session).
func (hb *Heartbeat) Start(logName string) error {
	p, err := hb.Host.StartSessionLeader(logName, "unshare", "-m", "sh", filepath.Join(hb.Work, "run.sh"), hb.Work)
	if err != nil {
		return err
	}
	hb.Proc = p
	return nil
}

// Stop ends Heartbeat cleanly (SIGTERM to its process group), or kills it
// after the timeout.
func (hb *Heartbeat) Stop(timeout time.Duration) {
	if hb.Proc == nil || !hb.Proc.Running() {
		return
	}
	hb.Proc.KillGroup(syscall.SIGTERM)
	if exited, _ := hb.Proc.Wait(timeout); !exited {
		hb.Proc.KillGroup(syscall.SIGKILL)
		hb.Proc.Wait(5 * time.Second)
	}
}

// Exec runs a command inside Heartbeat's network and mount namespaces
// (cl_status, hb_standby) and returns its trimmed output and exit code.
func (hb *Heartbeat) Exec(name string, args ...string) (string, int) {
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(hb.Proc.Pid()), "-m", "-n", name}, args...)...)
	out, err := cmd.Output()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return strings.TrimSpace(string(out)), code
}

// Log is what Heartbeat wrote to its logfile.
func (hb *Heartbeat) Log() string {
	b, _ := os.ReadFile(filepath.Join(hb.Work, "ha-log"))
	return string(b)
}

// HeartbeatVerdict is what Heartbeat 3.0.6 made of a configuration
// directory: whether it validated it, and what it read.
type HeartbeatVerdict struct {
	Accepted bool   // exited 0 after "Configuration validated"
	Exit     int    // heartbeat's exit code (6: configuration error)
	Dump     string // its -v dump of the configuration (directives, nodes, media), when accepted
	Log      string // its log and debug lines
}

// HeartbeatChecker runs Debian's Heartbeat on configuration directories,
// one after the other, in a host, for its verdict and reading. Heartbeat
// is run as `heartbeat -d -f -v` (-d: its debug lines name the keys) with a pid file naming a live heartbeat
// process (a sentinel started stopped under ptrace, so it never runs):
// it parses ha.cf, authkeys and haresources exactly as at a real start,
// logs "Configuration validated" or its errors, prints its reading
// (dump_config) and then, finding "heartbeat already running", exits 0
// before it opens a medium or forks. A configuration error exits 6.
type HeartbeatChecker struct {
	Host    *Host
	work    string
	pid     int // the sentinel's
	stop    chan struct{}
	stopped chan struct{}
}

const checkerWrapper = `#!/bin/sh
set -e
W="$1"
mount --make-rprivate /
mount --bind "$W/etc" /etc/ha.d
mount -t tmpfs tmpfs /var/lib/heartbeat
mount -t tmpfs tmpfs /run
mkdir -p /run/heartbeat
echo "$2" > /run/heartbeat.pid
exec stdbuf -oL ` + HeartbeatBin + ` -d -f -v
`

// NewHeartbeatChecker prepares a checker in h; Close ends its sentinel.
func (h *Host) NewHeartbeatChecker() (*HeartbeatChecker, error) {
	w := filepath.Join(h.lab.Dir, h.Name+"-hbcheck")
	if err := os.MkdirAll(filepath.Join(w, "etc"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(w, "run.sh"), []byte(checkerWrapper), 0o755); err != nil {
		return nil, err
	}
	// The sentinel: heartbeat itself, stopped at its first instruction
	// (PTRACE_TRACEME), so that /proc/PID/exe names the heartbeat binary,
	// as Heartbeat's IsRunning checks. A tracee whose tracer thread ends
	// is let go, so one goroutine holds its thread from start to kill.
	c := &HeartbeatChecker{Host: h, work: w, stop: make(chan struct{}), stopped: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(c.stopped)
		s := exec.Command(HeartbeatBin, "-V")
		s.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL}
		if err := s.Start(); err != nil {
			started <- fmt.Errorf("starting the sentinel heartbeat: %w", err)
			return
		}
		c.pid = s.Process.Pid
		started <- nil
		<-c.stop
		s.Process.Kill()
		var ws syscall.WaitStatus
		for range 10 { // a stop report may come before the exit
			if _, err := syscall.Wait4(c.pid, &ws, 0, nil); err != nil || ws.Exited() || ws.Signaled() {
				break
			}
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// Close kills the sentinel (by its pid) and reaps it.
func (c *HeartbeatChecker) Close() {
	if c.stop == nil {
		return
	}
	close(c.stop)
	select {
	case <-c.stopped:
	case <-time.After(5 * time.Second):
	}
	c.stop = nil
}

// Check writes files (ha.cf, authkeys, haresources; a missing one is
// absent; authkeys gets mode 600 unless modes says otherwise) into the
// checker's /etc/ha.d, with nodeinfo naming node, runs Heartbeat on them
// and returns its verdict. The run is bounded by timeout.
func (c *HeartbeatChecker) Check(node string, files map[string]string, modes map[string]os.FileMode, timeout time.Duration) (HeartbeatVerdict, error) {
	etc := filepath.Join(c.work, "etc")
	os.RemoveAll(etc)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return HeartbeatVerdict{}, err
	}
	logf := filepath.Join(c.work, "ha-log")
	os.Remove(logf)
	all := map[string]string{"nodeinfo": node + "\n"}
	for f, body := range files {
		all[f] = body
	}
	if hacf, ok := all["ha.cf"]; ok {
		// Heartbeat's own log and debug lines go to one file; these lines
		// come first so that the variant's own logging lines, if any,
		// take over only for what they set.
		all["ha.cf"] = "debugfile " + logf + "\nlogfile " + logf + "\n" + hacf
	}
	for f, body := range all {
		mode := os.FileMode(0o644)
		if f == "authkeys" {
			mode = 0o600
		}
		if m, ok := modes[f]; ok {
			mode = m
		}
		p := filepath.Join(etc, f)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			return HeartbeatVerdict{}, err
		}
		if err := os.Chmod(p, mode); err != nil {
			return HeartbeatVerdict{}, err
		}
	}
	out, errOut, code := c.Host.Output(timeout, "unshare", "-m", "sh", filepath.Join(c.work, "run.sh"), c.work, fmt.Sprint(c.pid))
	logText, _ := os.ReadFile(logf)
	v := HeartbeatVerdict{Exit: code, Dump: out, Log: string(logText) + errOut}
	if code < 0 {
		return v, fmt.Errorf("heartbeat did not finish within %v:\n%s", timeout, v.Log)
	}
	v.Accepted = code == 0 && strings.Contains(v.Log, "Configuration validated") && strings.Contains(v.Log, "already running")
	if code == 0 && !v.Accepted {
		return v, fmt.Errorf("heartbeat exited 0 without validating its configuration and finding the sentinel:\n%s", v.Log)
	}
	return v, nil
}

// Dir is the directory the last Check wrote (Heartbeat's /etc/ha.d).
func (c *HeartbeatChecker) Dir() string { return filepath.Join(c.work, "etc") }
