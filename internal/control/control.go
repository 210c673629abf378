// Package control is the daemon's local control socket: one JSON request
// and one JSON response per connection, over a Unix socket of mode 0600
// that admits only root and the daemon's owner (checked with SO_PEERCRED).
// A stream request (lubdub events) is answered instead with one JSON value
// a line until either side ends it; an error ends it as a Response.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocket is where lubdub run listens by default.
const DefaultSocket = "/run/lubdub/lubdub.sock"

// Request is one command.
type Request struct {
	Cmd  string `json:"cmd"`
	Name string `json:"name,omitempty"`
}

// Response answers a Request.
type Response struct {
	Error  string  `json:"error,omitempty"`
	Value  string  `json:"value,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status is the daemon's view of the cluster.
type Status struct {
	Node       string    `json:"node"`
	Version    string    `json:"version"`
	Cluster    string    `json:"cluster"`
	Generation uint64    `json:"generation"`
	Started    time.Time `json:"started"`
	Now        time.Time `json:"now"`
	Keepalive  string    `json:"keepalive"`
	Deadtime   string    `json:"deadtime"`
	Warntime   string    `json:"warntime"`
	Initdead   string    `json:"initdead"`
	Resources  string    `json:"resources"`
	Quorum     string    `json:"quorum"` // "yes (2 of 3 votes)", "no (...)"
	// Dialect is the resource protocol in use: "lubdub" (every peer is a
	// lubdub node) or "heartbeat" (the peer is a Heartbeat node);
	// DialectWhy says why, and Heartbeat's protocol state.
	Dialect    string `json:"dialect"`
	DialectWhy string `json:"dialect_why"`
	// Fencing: dead peers being fenced, and how it goes.
	Fencing map[string]string `json:"fencing,omitempty"`
	Nodes   []Node            `json:"nodes"`
	// PingNodes: ha.cf's ping nodes (type "ping", status "ping" or
	// "dead", one link named as the node); Ping: how ipfail's rule stands
	// ("reaches 1 of 2 ping nodes; node2 reaches 2"), "" without them.
	PingNodes []Node `json:"ping_nodes,omitempty"`
	// AddrChecks: silent peers whose group addresses are asked about
	// before their groups are taken over, and what was found.
	AddrChecks map[string]string `json:"addr_checks,omitempty"`
	Ping       string            `json:"ping,omitempty"`
	Groups     []Group           `json:"groups"`
	Media      []Medium          `json:"media"`
	Drops      map[string]uint64 `json:"drops"`
	// Votes: the partition's quorum, in numbers.
	Votes Votes `json:"votes"`
	// FencingEnabled: a fence device is configured (ha.cf or lubdub.cf).
	FencingEnabled bool `json:"fencing_enabled"`
	// Fencings: finished fencing tries by fenced node and result
	// (success, failure).
	Fencings map[string]map[string]uint64 `json:"fencings,omitempty"`
	// HeartbeatsSent: heartbeats sent, per link.
	HeartbeatsSent map[string]uint64 `json:"heartbeats_sent,omitempty"`
	// ConfigLoaded: when the configuration in force was read (the start or
	// the last reload); ReloadFailed: the last reload was refused (the
	// configuration loaded then stays in force).
	ConfigLoaded time.Time `json:"config_loaded"`
	ReloadFailed bool      `json:"reload_failed,omitempty"`
	// FailureTimeout: lubdub.cf's failure_timeout ("" when fail counts
	// never expire).
	FailureTimeout string `json:"failure_timeout,omitempty"`
	MaxRestarts    int    `json:"max_restarts"`
}

// Votes is a partition's quorum: its votes, the nodes in ha.cf and the
// votes it needs.
type Votes struct {
	Quorate  bool `json:"quorate"`
	Votes    int  `json:"votes"`
	Expected int  `json:"expected"`
	Needed   int  `json:"needed"`
}

// Node is one cluster node.
type Node struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Local      bool      `json:"local,omitempty"`
	Generation uint64    `json:"generation"`
	UUID       string    `json:"uuid,omitempty"`
	LastHeard  time.Time `json:"last_heard,omitzero"`
	Since      time.Time `json:"since,omitzero"`
	Links      []Link    `json:"links"`
}

// VIP is an address a group's IPaddr or IPaddr2 resource holds.
type VIP struct {
	Address string `json:"address"`
	Iface   string `json:"iface,omitempty"` // as configured; "" when inferred
}

// Failure is one failed operation of a group on this node.
type Failure struct {
	At     time.Time `json:"at"`
	Op     string    `json:"op"` // start, stop or monitor
	Detail string    `json:"detail,omitempty"`
}

// Group is one resource group.
type Group struct {
	ID        string            `json:"id"`
	Preferred string            `json:"preferred"`
	Owner     string            `json:"owner,omitempty"`
	Local     string            `json:"local"`
	Nodes     map[string]string `json:"nodes"`
	Resources []string          `json:"resources"`
	VIPs      []VIP             `json:"vips,omitempty"`
	// Maintenance: the live nodes (this one included) that have the group
	// in maintenance mode; Frozen: a node that left holding it so, which
	// no node takes it over from.
	Maintenance []string `json:"maintenance,omitempty"`
	Frozen      string   `json:"frozen,omitempty"`
	// On this node: the fail count (failures since the last cleanup or
	// expiry), the last failure, failures ever by operation, monitor
	// failures restarted in place since the group came here, entries into
	// each state and when the state last changed.
	FailCount      int               `json:"fail_count"`
	LastFailure    *Failure          `json:"last_failure,omitempty"`
	Failures       map[string]uint64 `json:"failures,omitempty"`
	Restarts       int               `json:"restarts"`
	Transitions    map[string]uint64 `json:"transitions,omitempty"`
	LastTransition time.Time         `json:"last_transition,omitzero"`
}

// Link is one heartbeat link of a node.
type Link struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	LastHeard time.Time `json:"last_heard,omitzero"`
	// Heartbeats: heartbeats received from the node on this link.
	Heartbeats uint64 `json:"heartbeats,omitempty"`
}

// Medium is one configured medium and whether it is open.
type Medium struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	State string `json:"state"` // open, skipped or failed
	Error string `json:"error,omitempty"`
}

// Handler answers requests. It is called from the server's goroutines.
type Handler func(Request) Response

// StreamHandler answers a stream request: it sends values, each one JSON
// line, until it returns, send fails (the client left or stopped reading
// for StreamWriteTimeout) or done is closed (the client hung up).
type StreamHandler func(req Request, send func(v any) error, done <-chan struct{})

// StreamWriteTimeout is how long one line of a stream may wait for a
// client that does not read.
const StreamWriteTimeout = 10 * time.Second

// Server is a listening control socket.
type Server struct {
	l       net.Listener
	path    string
	log     *slog.Logger
	mu      sync.Mutex
	streams map[string]StreamHandler
}

// Stream makes cmd a stream request answered by h.
func (s *Server) Stream(cmd string, h StreamHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[cmd] = h
}

// Listen creates the socket at path (mode 0600) and serves h.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating control socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use: is lubdub already running?", path)
	}
	os.Remove(path)
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("setting control socket mode: %w", err)
	}
	s := &Server{l: l, path: path, log: log, streams: map[string]StreamHandler{}}
	go s.serve(h)
	return s, nil
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	err := s.l.Close()
	os.Remove(s.path)
	return err
}

func (s *Server) serve(h Handler) {
	for {
		c, err := s.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control socket accept", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go s.handle(c.(*net.UnixConn), h)
	}
}

func (s *Server) handle(c *net.UnixConn, h Handler) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	enc := json.NewEncoder(c)
	// The request is read before the refusal is sent, so that the client
	// sees the answer rather than a broken pipe.
	var req Request
	dec := json.NewDecoder(io.LimitReader(c, 64<<10))
	derr := dec.Decode(&req)
	if err := authorize(c); err != nil {
		s.log.Warn("control socket client refused", "err", err)
		enc.Encode(Response{Error: err.Error()})
		return
	}
	if derr != nil {
		enc.Encode(Response{Error: "bad request: " + derr.Error()})
		return
	}
	s.mu.Lock()
	sh := s.streams[req.Cmd]
	s.mu.Unlock()
	if sh == nil {
		enc.Encode(h(req))
		return
	}
	c.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		// The client sends nothing more: its end of the connection is its
		// hang-up.
		io.Copy(io.Discard, io.MultiReader(dec.Buffered(), c))
		close(done)
	}()
	sh(req, func(v any) error {
		c.SetWriteDeadline(time.Now().Add(StreamWriteTimeout))
		return enc.Encode(v)
	}, done)
}

// authorize admits root and the daemon's own user.
func authorize(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cerr != nil {
		return fmt.Errorf("reading peer credentials: %w", cerr)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("uid %d may not use the control socket (root or uid %d only)", cred.Uid, os.Getuid())
	}
	return nil
}

// ErrStreamEnded is returned by Stream when the daemon ended the stream
// (it stopped).
var ErrStreamEnded = errors.New("the daemon ended the stream")

// Stream sends a stream request and calls each with every line of the
// answer, until ctx ends (nil), each returns an error (returned), the
// daemon sends an error (returned as an error) or ends the stream
// (ErrStreamEnded).
func Stream(ctx context.Context, path string, req Request, each func(line []byte) error) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := d.DialContext(dctx, "unix", path)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w (no answer on %s: %v)", ErrNotRunning, path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("sending request to %s: %w", path, err)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var r Response
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Error != "" {
			return errors.New(r.Error)
		}
		if err := each(sc.Bytes()); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading from %s: %w", path, err)
	}
	return ErrStreamEnded
}

// ErrNotRunning means no daemon answers on the socket.
var ErrNotRunning = errors.New("lubdub is not running")

// Call sends one request and waits for the answer.
func Call(path string, req Request, timeout time.Duration) (*Response, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("%w (no answer on %s: %v)", ErrNotRunning, path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, fmt.Errorf("sending request to %s: %w", path, err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("reading answer from %s: %w", path, err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}
