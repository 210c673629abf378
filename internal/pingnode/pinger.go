package pingnode

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// payload marks lubdub's echoes, as Heartbeat's carry its messages.
var payload = []byte("lubdub ping node")

// Pinger sends ICMP echo requests and reports the replies to lubdub's own
// requests (its identifier: the process id, as Heartbeat's ping plugin
// uses). It needs a raw socket (root or CAP_NET_RAW).
type Pinger struct {
	conn  *icmp.PacketConn
	id    int
	mu    sync.Mutex
	seq   int
	done  chan struct{}
	close sync.Once
}

// Listen opens the socket; every reply to one of its echoes is passed to
// reply, from a goroutine of its own, until Close.
func Listen(reply func(netip.Addr)) (*Pinger, error) {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("opening the ICMP socket for ping nodes: %w", err)
	}
	p := &Pinger{conn: c, id: os.Getpid() & 0xffff, done: make(chan struct{})}
	go p.read(reply)
	return p, nil
}

// Send sends one echo request to addr.
func (p *Pinger) Send(addr netip.Addr) error {
	p.mu.Lock()
	p.seq = (p.seq + 1) & 0xffff
	seq := p.seq
	p.mu.Unlock()
	m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: payload}}
	b, err := m.Marshal(nil)
	if err != nil {
		return fmt.Errorf("sending an echo to ping node %s: %w", addr, err)
	}
	if _, err := p.conn.WriteTo(b, &net.IPAddr{IP: addr.AsSlice()}); err != nil {
		return fmt.Errorf("sending an echo to ping node %s: %w", addr, err)
	}
	return nil
}

func (p *Pinger) read(reply func(netip.Addr)) {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-p.done:
				return
			case <-time.After(100 * time.Millisecond): // an error that lasts must not spin
				continue
			}
		}
		m, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMP for IPv4
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != p.id || string(e.Data) != string(payload) {
			continue
		}
		ip, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		if a, ok := netip.AddrFromSlice(ip.IP); ok {
			reply(a.Unmap())
		}
	}
}

// Close ends the socket and its reader.
func (p *Pinger) Close() error {
	var err error
	p.close.Do(func() {
		close(p.done)
		err = p.conn.Close()
	})
	return err
}
