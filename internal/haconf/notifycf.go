package haconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Notification in lubdub.cf: programs run for every event (package
// events), without a shell, one event at a time each, in order, killed at
// notify_timeout; they never hold up the daemon.
//
//	notify PATH              run as PATH EVENT SUBJECT NODE STATE, with
//	                         LUBDUB_* variables (keepalived's notify)
//	alert PATH [RECIPIENT]   a Pacemaker alert agent, run as Pacemaker runs
//	                         it: no arguments, CRM_alert_* variables, for
//	                         node, fencing and resource events; one line
//	                         per recipient, as Pacemaker runs an agent once
//	                         per recipient
//	notify_timeout DURATION  how long one run may take (30s, Pacemaker's
//	                         alert timeout)
//
// In Pacemaker's CIB, "alert /usr/share/pacemaker/alerts/alert_file.sh
// /var/log/cluster-alerts.log" is <alert id="..." path="...alert_file.sh">
// <recipient id="..." value="/var/log/cluster-alerts.log"/></alert>.

// Notify is lubdub.cf's notification programs (Config.Notify).
type Notify struct {
	Hooks   []NotifyHook
	Alerts  []AlertAgent
	Timeout time.Duration
}

// NotifyHook is a notify line.
type NotifyHook struct {
	Line int
	Path string
}

// AlertAgent is an alert line.
type AlertAgent struct {
	Line      int
	Path      string
	Recipient string // "" when none is given, as Pacemaker passes it
}

// DefaultNotifyTimeout is notify_timeout's default: Pacemaker's alert
// timeout.
const DefaultNotifyTimeout = 30 * time.Second

// isNotifyLine reports whether a lubdub.cf directive is one parseNotify
// reads.
func isNotifyLine(directive string) bool {
	return directive == "notify" || directive == "alert" || directive == "notify_timeout"
}

// parseNotify reads the notify, alert and notify_timeout lines of
// lubdub.cf; every other line is parseLubdubCf's.
func parseNotify(file, text string, r *Report) Notify {
	nf := Notify{Timeout: DefaultNotifyTimeout}
	for i, raw := range strings.Split(text, "\n") {
		line := i + 1
		f := strings.Fields(stripComment(raw))
		if len(f) == 0 || !isNotifyLine(f[0]) {
			continue
		}
		switch f[0] {
		case "notify":
			if len(f) != 2 {
				r.errorf(file, line, "notify takes one program, its full path (it runs without a shell, as PATH EVENT SUBJECT NODE STATE); got %q", strings.Join(f[1:], " "))
				continue
			}
			if p, ok := programPath(file, line, f[1], r); ok {
				nf.Hooks = append(nf.Hooks, NotifyHook{Line: line, Path: p})
			}
		case "alert":
			if len(f) < 2 || len(f) > 3 {
				r.errorf(file, line, "alert takes an agent's full path and at most one recipient (one alert line per recipient); got %q", strings.Join(f[1:], " "))
				continue
			}
			a := AlertAgent{Line: line}
			if len(f) == 3 {
				a.Recipient = f[2]
			}
			if p, ok := programPath(file, line, f[1], r); ok {
				a.Path = p
				nf.Alerts = append(nf.Alerts, a)
			}
		case "notify_timeout":
			if len(f) != 2 {
				r.errorf(file, line, "expected 'notify_timeout DURATION', got %q", strings.Join(f, " "))
				continue
			}
			d, err := ParseTime(f[1])
			switch {
			case err != nil:
				r.errorf(file, line, "notify_timeout: %v", err)
			case d <= 0:
				r.errorf(file, line, "notify_timeout must be more than 0")
			default:
				nf.Timeout = d
			}
		}
	}
	return nf
}

// programPath checks that a program is named by its full path: it runs
// without a shell, so no PATH lookup or arguments.
func programPath(file string, line int, p string, r *Report) (string, bool) {
	if !filepath.IsAbs(p) {
		r.errorf(file, line, "%s: give the program's full path (it runs without a shell, so no PATH lookup and no arguments)", p)
		return "", false
	}
	return filepath.Clean(p), true
}

func loadNotify(file string, r *Report) Notify {
	data, err := os.ReadFile(file)
	if err != nil {
		return Notify{Timeout: DefaultNotifyTimeout} // loadLubdubCf reports it
	}
	nf := parseNotify(file, string(data), r)
	for _, h := range nf.Hooks {
		if err := CheckProgram(h.Path, os.Geteuid()); err != nil {
			r.errorf(file, h.Line, "notify %s: %v", h.Path, err)
		}
	}
	for _, a := range nf.Alerts {
		if err := CheckProgram(a.Path, os.Geteuid()); err != nil {
			r.errorf(file, a.Line, "alert %s: %v", a.Path, err)
		}
	}
	return nf
}

// CheckProgram reports why a notification program would never run, or
// should not be run as root, by a daemon running as uid: it is missing,
// not a regular file, not executable, owned by another user than root or
// uid, or writable by group or others, as is its directory (unless sticky,
// as /tmp): anyone who could change it could run commands as root.
// keepalived's script security applies the same rules.
func CheckProgram(path string, uid int) error {
	st, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("does not exist: it would never run")
		}
		return fmt.Errorf("cannot be read: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("is not a regular file")
	}
	if st.Mode().Perm()&0o100 == 0 {
		return fmt.Errorf("is not executable by its owner (mode %04o; chmod +x it): it would never run", st.Mode().Perm())
	}
	owner := int(st.Sys().(*syscall.Stat_t).Uid)
	if owner != 0 && owner != uid {
		return fmt.Errorf("is owned by uid %d: lubdub runs only programs owned by root or by its own user (uid %d)", owner, uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("is writable by group or others (mode %04o): whoever can change it runs commands as lubdub's user", st.Mode().Perm())
	}
	dir := filepath.Dir(path)
	if dst, err := os.Stat(dir); err == nil && dst.Mode().Perm()&0o022 != 0 && dst.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("is in %s, which group or others may write (mode %04o): whoever can replace it runs commands as lubdub's user", dir, dst.Mode().Perm())
	}
	return nil
}

// describe writes the notification programs, for lubdub check.
func (nf Notify) describe(w *strings.Builder) {
	if len(nf.Hooks) == 0 && len(nf.Alerts) == 0 {
		return
	}
	fmt.Fprintf(w, "notification (each program runs once per event, in order, killed after %s):\n", FormatDuration(nf.Timeout))
	for _, h := range nf.Hooks {
		fmt.Fprintf(w, "  notify %s EVENT SUBJECT NODE STATE\n", h.Path)
	}
	for _, a := range nf.Alerts {
		rcpt := a.Recipient
		if rcpt == "" {
			rcpt = "(no recipient)"
		}
		fmt.Fprintf(w, "  alert agent %s, recipient %s (node, fencing and resource alerts)\n", a.Path, rcpt)
	}
}
