// Package media carries heartbeat frames over Heartbeat's media: UDP
// broadcast, multicast and unicast bound to one interface, and serial
// lines. Every medium is a small Medium: send a frame, and deliver the
// frames it receives, tagged with its link name, to one channel.
package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/lubdub/lubdub/internal/haconf"
	"github.com/lubdub/lubdub/internal/wire"
)

// Packet is one received frame.
type Packet struct {
	Link string
	From string // sender address, for logs
	Data []byte
}

// Medium is one open heartbeat medium.
type Medium interface {
	// Link is the link name peers' links are tracked under.
	Link() string
	// Format is the frame the medium carries.
	Format() wire.Format
	// Send transmits one frame.
	Send(frame []byte) error
	// Close stops the medium; its reader goroutine ends.
	Close() error
}

// ErrSkipped is returned for a ucast line that names this node's own
// address: one ha.cf serves every node, and each skips its own line.
var ErrSkipped = errors.New("medium is this node's own unicast address")

// Open opens a configured medium. Received frames go to recv until the
// medium is closed; recv must be drained.
func Open(m haconf.Medium, baud int, recv chan<- Packet, log *slog.Logger) (Medium, error) {
	switch m.Type {
	case "bcast", "mcast", "ucast":
		return openUDP(m, recv, log)
	case "serial":
		return openSerial(m.Dev, baud, recv, log)
	}
	return nil, fmt.Errorf("unknown medium type %q", m.Type)
}

// IsLocalPeer reports whether a ucast peer address is one of this host's.
func IsLocalPeer(peer string, local []netip.Addr) bool {
	a, err := netip.ParseAddr(peer)
	if err != nil {
		return false
	}
	for _, l := range local {
		if l == a {
			return true
		}
	}
	return false
}
