package daemon

import (
	"errors"
	"fmt"
	"os"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// systemdNotifier speaks sd_notify(3) through go-systemd: one datagram to
// $NOTIFY_SOCKET per message.
type systemdNotifier struct {
	watchdog time.Duration
}

// SystemdNotifier is the Notifier of a daemon that systemd started with
// Type=notify: nil (and no error) when $NOTIFY_SOCKET is not set. The
// watchdog interval is systemd's WatchdogSec= ($WATCHDOG_USEC, for this
// process if $WATCHDOG_PID says so); a malformed one is an error.
func SystemdNotifier() (Notifier, error) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil, nil
	}
	w, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		return nil, fmt.Errorf("systemd watchdog ($WATCHDOG_USEC %q): %w", os.Getenv("WATCHDOG_USEC"), err)
	}
	return &systemdNotifier{watchdog: w}, nil
}

var errNoNotifySocket = errors.New("$NOTIFY_SOCKET is not set")

func (s *systemdNotifier) Notify(state string) error {
	sent, err := sd.SdNotify(false, state)
	if err != nil {
		return fmt.Errorf("sending %q to $NOTIFY_SOCKET: %w", state, err)
	}
	if !sent {
		return errNoNotifySocket
	}
	return nil
}

func (s *systemdNotifier) WatchdogInterval() time.Duration { return s.watchdog }

// monotonicUsec is MONOTONIC_USEC=...\n, the time of a RELOADING=1.
func monotonicUsec() string { return sd.SdNotifyMonotonicUsec() }
