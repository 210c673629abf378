package pingnode

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// payloadMark starts lubdub's echo payloads; a random token of tokenLen
// bytes follows, one per request.
var payloadMark = []byte("lubdub ping node ")

const tokenLen = 16

// maxOutstanding bounds the requests remembered while their replies are
// due: with a ping node answered every keepalive, only the last few
// matter; older ones are forgotten first.
const maxOutstanding = 256

// outstanding are the echo requests sent and not yet answered: a reply
// counts only when it answers one of them, from the address it was sent
// to, with the token it carried, and only once. Heartbeat signs its echo
// payload with the authkeys key; lubdub's random token gives the same
// protection against a host that makes up replies (with the identifier,
// the process id, easily guessed) without seeing the requests, and a
// replayed reply is refused as well. Stricter than Heartbeat's ping_read,
// which takes a reply by the node named in its payload: a ping node that
// answers from another address than the one asked is not heard.
type outstanding struct {
	bySeq map[int]sent
	order []int // seqs, oldest first
}

type sent struct {
	addr  netip.Addr
	token [tokenLen]byte
}

// add remembers a request; it forgets the oldest past maxOutstanding.
func (o *outstanding) add(seq int, addr netip.Addr, token [tokenLen]byte) {
	if o.bySeq == nil {
		o.bySeq = map[int]sent{}
	}
	if _, ok := o.bySeq[seq]; !ok {
		o.order = append(o.order, seq)
	}
	o.bySeq[seq] = sent{addr, token}
	for len(o.order) > maxOutstanding {
		delete(o.bySeq, o.order[0])
		o.order = o.order[1:]
	}
}

// answer reports whether a reply (its sequence number, source and data)
// answers a request still outstanding, and if so forgets the request.
func (o *outstanding) answer(seq int, from netip.Addr, data []byte) bool {
	s, ok := o.bySeq[seq]
	if !ok || s.addr != from || len(data) != len(payloadMark)+tokenLen ||
		string(data[:len(payloadMark)]) != string(payloadMark) ||
		subtle.ConstantTimeCompare(data[len(payloadMark):], s.token[:]) != 1 {
		return false
	}
	delete(o.bySeq, seq)
	// order keeps the seq until it is pushed out; a new request with the
	// same seq (after 65536 more) is added again.
	return true
}

// Pinger sends ICMP echo requests and reports the replies to lubdub's own
// requests (its identifier: the process id, as Heartbeat's ping plugin
// uses). It needs a raw socket (root or CAP_NET_RAW).
type Pinger struct {
	conn  *icmp.PacketConn
	id    int
	mu    sync.Mutex
	seq   int
	out   outstanding
	done  chan struct{}
	close sync.Once
}

// Listen opens the socket; every reply to one of its echoes (from the
// address it was sent to, carrying its token, once) is passed to reply,
// from a goroutine of its own, until Close.
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
	var token [tokenLen]byte
	rand.Read(token[:])
	p.mu.Lock()
	p.seq = (p.seq + 1) & 0xffff
	seq := p.seq
	p.out.add(seq, addr, token)
	p.mu.Unlock()
	data := append(slices.Clip(payloadMark), token[:]...)
	m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: data}}
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
		if !ok || e.ID != p.id {
			continue
		}
		ip, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(ip.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		p.mu.Lock()
		ok = p.out.answer(e.Seq, a, e.Data)
		p.mu.Unlock()
		if ok {
			reply(a)
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
