package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
