// Package hblog is a log/slog handler that writes Heartbeat's log line
// format, "lubdub[PID]: 2006/01/02_15:04:05 WARN: message", to standard
// error, to ha.cf's logfile and debugfile, and to syslog.
package hblog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"
)

// Options say where the lines go.
type Options struct {
	Stderr      io.Writer // nil for none
	Logfile     string    // info and above
	Debugfile   string    // everything, debug included
	Facility    string    // syslog facility, "" or "none" for none
	Debug       bool      // emit debug lines at all
	Entity      string    // program name in each line, "lubdub" by default
	SyslogAddr  string    // "" for the local syslog
	SyslogProto string
}

// Handler writes Heartbeat-style lines.
type Handler struct {
	s     *sink
	attrs []slog.Attr
	group string
}

type sink struct {
	mu      sync.Mutex
	opts    Options
	files   []*os.File
	logf    io.Writer
	debugf  io.Writer
	syslog  *syslog.Writer
	pid     int
	minimum slog.Level
}

// New opens the destinations. Destinations that cannot be opened are
// reported in the returned problems and left out; logging goes on.
func New(opts Options) (*Handler, []error) {
	if opts.Entity == "" {
		opts.Entity = "lubdub"
	}
	s := &sink{opts: opts, pid: os.Getpid(), minimum: slog.LevelInfo}
	if opts.Debug || opts.Debugfile != "" {
		s.minimum = slog.LevelDebug
	}
	var problems []error
	open := func(path string) io.Writer {
		if path == "" || path == "/dev/null" {
			return nil
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			problems = append(problems, fmt.Errorf("opening log file %s: %w", path, err))
			return nil
		}
		s.files = append(s.files, f)
		return f
	}
	s.logf = open(opts.Logfile)
	s.debugf = open(opts.Debugfile)
	if f := strings.ToLower(opts.Facility); f != "" && f != "none" {
		w, err := syslog.Dial(opts.SyslogProto, opts.SyslogAddr, facility(f)|syslog.LOG_INFO, opts.Entity)
		if err != nil {
			problems = append(problems, fmt.Errorf("syslog (facility %s) is unreachable, logging without it: %w", f, err))
		} else {
			s.syslog = w
		}
	}
	return &Handler{s: s}, problems
}

// Close closes the log files and the syslog connection.
func (h *Handler) Close() {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	for _, f := range h.s.files {
		f.Close()
	}
	if h.s.syslog != nil {
		h.s.syslog.Close()
	}
}

func facility(name string) syslog.Priority {
	m := map[string]syslog.Priority{
		"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL,
		"daemon": syslog.LOG_DAEMON, "auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG,
		"lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS, "uucp": syslog.LOG_UUCP,
		"cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
		"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
		"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
		"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
	}
	if p, ok := m[name]; ok {
		return p
	}
	return syslog.LOG_DAEMON
}

// LevelCrit is Heartbeat's CRIT, above error.
const LevelCrit = slog.LevelError + 4

func levelWord(l slog.Level) string {
	switch {
	case l >= LevelCrit:
		return "CRIT"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.s.minimum }

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(levelWord(r.Level))
	b.WriteString(": ")
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		if a.Key == "" {
			return true
		}
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \t\"") {
			v = fmt.Sprintf("%q", v)
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&b, " %s=%s", key, v)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	body := b.String()
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	line := fmt.Sprintf("%s[%d]: %s %s\n", h.s.opts.Entity, h.s.pid, t.Format("2006/01/02_15:04:05"), body)

	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if r.Level >= slog.LevelInfo {
		if h.s.opts.Stderr != nil {
			io.WriteString(h.s.opts.Stderr, line)
		}
		if h.s.logf != nil {
			io.WriteString(h.s.logf, line)
		}
	} else if h.s.opts.Debug && h.s.opts.Stderr != nil {
		io.WriteString(h.s.opts.Stderr, line)
	}
	if h.s.debugf != nil {
		io.WriteString(h.s.debugf, line)
	}
	if h.s.syslog != nil {
		switch {
		case r.Level >= LevelCrit:
			h.s.syslog.Crit(body)
		case r.Level >= slog.LevelError:
			h.s.syslog.Err(body)
		case r.Level >= slog.LevelWarn:
			h.s.syslog.Warning(body)
		case r.Level >= slog.LevelInfo:
			h.s.syslog.Info(body)
		}
	}
	return nil
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.group = name
	return &c
}
