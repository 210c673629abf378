package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// IPVS's generic netlink interface (include/uapi/linux/ip_vs.h), spoken
// directly: cloudflare/ipvs, used at first, reports an empty table (a
// dump of no services) as os.ErrNotExist, which made every lubdub lvs
// command fail on a fresh kernel ("reading IPVS services: file does not
// exist"), and it has no IPVS_CMD_ZERO, which -Z needs.
const (
	ipvsCmdNewService = 1
	ipvsCmdSetService = 2
	ipvsCmdDelService = 3
	ipvsCmdGetService = 4
	ipvsCmdNewDest    = 5
	ipvsCmdSetDest    = 6
	ipvsCmdDelDest    = 7
	ipvsCmdGetDest    = 8
	ipvsCmdNewDaemon  = 9
	ipvsCmdDelDaemon  = 10
	ipvsCmdGetDaemon  = 11
	ipvsCmdGetInfo    = 15
	ipvsCmdZero       = 16

	ipvsAttrService = 1
	ipvsAttrDest    = 2
	ipvsAttrDaemon  = 3

	daemonAttrState       = 1
	daemonAttrMcastIfn    = 2
	daemonAttrSyncID      = 3
	daemonAttrSyncMaxLen  = 4
	daemonAttrMcastGroup  = 5
	daemonAttrMcastGroup6 = 6
	daemonAttrMcastPort   = 7
	daemonAttrMcastTTL    = 8

	ipvsStateMaster = 1
	ipvsStateBackup = 2

	svcAttrAF        = 1
	svcAttrProtocol  = 2
	svcAttrAddr      = 3
	svcAttrPort      = 4
	svcAttrFWMark    = 5
	svcAttrSchedName = 6
	svcAttrFlags     = 7
	svcAttrTimeout   = 8
	svcAttrNetmask   = 9
	svcAttrStats     = 10
	svcAttrStats64   = 12

	destAttrAddr        = 1
	destAttrPort        = 2
	destAttrFwdMethod   = 3
	destAttrWeight      = 4
	destAttrUThresh     = 5
	destAttrLThresh     = 6
	destAttrActiveConns = 7
	destAttrInactConns  = 8
	destAttrStats       = 10
	destAttrAddrFamily  = 11
	destAttrStats64     = 12

	statsAttrConns    = 1
	statsAttrInPkts   = 2
	statsAttrOutPkts  = 3
	statsAttrInBytes  = 4
	statsAttrOutBytes = 5
	statsAttrCPS      = 6
	statsAttrInPPS    = 7
	statsAttrOutPPS   = 8
	statsAttrInBPS    = 9
	statsAttrOutBPS   = 10

	infoAttrVersion = 1

	ipvsSvcPersistent = 0x0001

	ipvsFwdMasq   = 0
	ipvsFwdLocal  = 1
	ipvsFwdTunnel = 2
	ipvsFwdRoute  = 3

	afInet     = syscall.AF_INET
	protoTCP   = syscall.IPPROTO_TCP
	protoUDP   = syscall.IPPROTO_UDP
	ipvsGenlV1 = 1
)

// ipvsSvc is a service as IPVS's netlink carries it.
type ipvsSvc struct {
	Proto     uint16 // 0 for a firewall-mark service
	Addr      netip.Addr
	Port      uint16
	FWMark    uint32
	Sched     string
	Flags     uint32
	Timeout   uint32
	Netmask   uint32 // host order: 0xffffffff is /32
	Stats     counters
	haveFlags bool
}

// ipvsDest is a real server as IPVS's netlink carries it.
type ipvsDest struct {
	Addr                  netip.Addr
	Port                  uint16
	Fwd                   uint32
	Weight                uint32
	ActiveConn, InActConn uint32
	Stats                 counters
}

// counters are IPVS's totals and the rates its estimator keeps (per
// second, averaged over a few seconds), as ipvsadm --stats and --rate
// show them.
type counters struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
	CPS, InPPS, OutPPS, InBPS, OutBPS         uint64
}

// ipvsConn is a generic netlink connection to the IPVS family.
type ipvsConn struct {
	c   *genetlink.Conn
	fam genetlink.Family
}

func dialIPVS() (*ipvsConn, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("opening generic netlink: %w", err)
	}
	fam, err := c.GetFamily("IPVS")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("looking up the IPVS netlink family (is ip_vs loaded?): %w", err)
	}
	return &ipvsConn{c: c, fam: fam}, nil
}

func (n *ipvsConn) Close() error { return n.c.Close() }

// do sends one command; errors keep the kernel's errno for errors.Is.
func (n *ipvsConn) do(cmd uint8, flags netlink.HeaderFlags, ae *netlink.AttributeEncoder) ([]genetlink.Message, error) {
	var data []byte
	if ae != nil {
		var err error
		if data, err = ae.Encode(); err != nil {
			return nil, err
		}
	}
	msg := genetlink.Message{Header: genetlink.Header{Command: cmd, Version: ipvsGenlV1}, Data: data}
	msgs, err := n.c.Execute(msg, n.fam.ID, netlink.Request|flags)
	if err != nil {
		var oe *netlink.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return nil, oe.Err
		}
		return nil, err
	}
	return msgs, nil
}

// version asks IPVS for its version, as "1.2.1".
func (n *ipvsConn) version() (string, error) {
	msgs, err := n.do(ipvsCmdGetInfo, 0, nil)
	if err != nil {
		return "", err
	}
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return "", err
		}
		for ad.Next() {
			if ad.Type() == infoAttrVersion {
				v := ad.Uint32()
				return fmt.Sprintf("%d.%d.%d", v>>16, v>>8&0xff, v&0xff), nil
			}
		}
	}
	return "", errors.New("IPVS sent no version")
}

// services lists every service; an empty table is an empty list.
func (n *ipvsConn) services() ([]ipvsSvc, error) {
	return dumpNested(n, ipvsCmdGetService, nil, ipvsAttrService, "service", func(s *ipvsSvc) func(*netlink.AttributeDecoder) error { return s.decode })
}

// dests lists a service's real servers.
func (n *ipvsConn) dests(s *ipvsSvc) ([]ipvsDest, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(ipvsAttrService, s.encodeKey)
	return dumpNested(n, ipvsCmdGetDest, ae, ipvsAttrDest, "real server", func(d *ipvsDest) func(*netlink.AttributeDecoder) error { return d.decode })
}

// dumpNested runs a dump command and decodes every attr attribute of the
// answers into a T; what names T in errors.
func dumpNested[T any](n *ipvsConn, cmd uint8, ae *netlink.AttributeEncoder, attr uint16, what string, decoder func(*T) func(*netlink.AttributeDecoder) error) ([]T, error) {
	msgs, err := n.do(cmd, netlink.Dump, ae)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, err
		}
		for ad.Next() {
			if ad.Type() == attr {
				var v T
				ad.Nested(decoder(&v))
				out = append(out, v)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("decoding an IPVS %s: %w", what, err)
		}
	}
	return out, nil
}

// service sends a service command: new, set, del or zero (s nil zeroes
// every counter).
func (n *ipvsConn) service(cmd uint8, s *ipvsSvc) error {
	var ae *netlink.AttributeEncoder
	if s != nil {
		ae = netlink.NewAttributeEncoder()
		if cmd == ipvsCmdNewService || cmd == ipvsCmdSetService {
			ae.Nested(ipvsAttrService, s.encodeFull)
		} else {
			ae.Nested(ipvsAttrService, s.encodeKey)
		}
	}
	_, err := n.do(cmd, netlink.Acknowledge, ae)
	return err
}

// dest sends a real-server command: new, set or del.
func (n *ipvsConn) dest(cmd uint8, s *ipvsSvc, d *ipvsDest) error {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(ipvsAttrService, s.encodeKey)
	ae.Nested(ipvsAttrDest, func(e *netlink.AttributeEncoder) error {
		e.Uint16(destAttrAddrFamily, afInet)
		e.Bytes(destAttrAddr, addr16(d.Addr))
		e.Bytes(destAttrPort, be16(d.Port))
		if cmd != ipvsCmdDelDest {
			e.Uint32(destAttrFwdMethod, d.Fwd)
			e.Uint32(destAttrWeight, d.Weight)
			e.Uint32(destAttrUThresh, 0)
			e.Uint32(destAttrLThresh, 0)
		}
		return nil
	})
	_, err := n.do(cmd, netlink.Acknowledge, ae)
	return err
}

// port reads a port in network byte order (0 if the attribute is short).
func port(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// be16 is a port in network byte order, as the bytes of a native uint16.
func be16(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }

// addr16 is an address in IPVS's union nf_inet_addr (16 bytes).
func addr16(a netip.Addr) []byte {
	b := make([]byte, 16)
	if a.Is4() {
		a4 := a.As4()
		copy(b, a4[:])
	}
	return b
}

func (s *ipvsSvc) encodeKey(e *netlink.AttributeEncoder) error {
	e.Uint16(svcAttrAF, afInet)
	if s.FWMark != 0 {
		e.Uint32(svcAttrFWMark, s.FWMark)
		return nil
	}
	e.Uint16(svcAttrProtocol, s.Proto)
	e.Bytes(svcAttrAddr, addr16(s.Addr))
	e.Bytes(svcAttrPort, be16(s.Port))
	return nil
}

// encodeFull adds what IPVS requires to create or change a service: the
// scheduler, flags (with a mask saying all of them are given), the
// persistence timeout and netmask.
func (s *ipvsSvc) encodeFull(e *netlink.AttributeEncoder) error {
	s.encodeKey(e)
	e.String(svcAttrSchedName, s.Sched)
	flags := binary.NativeEndian.AppendUint32(nil, s.Flags)
	e.Bytes(svcAttrFlags, binary.NativeEndian.AppendUint32(flags, 0xffffffff))
	e.Uint32(svcAttrTimeout, s.Timeout)
	e.Bytes(svcAttrNetmask, binary.BigEndian.AppendUint32(nil, s.Netmask))
	return nil
}

func (s *ipvsSvc) decode(ad *netlink.AttributeDecoder) error {
	var addr []byte
	for ad.Next() {
		switch ad.Type() {
		case svcAttrProtocol:
			s.Proto = ad.Uint16()
		case svcAttrAddr:
			addr = ad.Bytes()
		case svcAttrPort:
			s.Port = port(ad.Bytes())
		case svcAttrFWMark:
			s.FWMark = ad.Uint32()
		case svcAttrSchedName:
			s.Sched = ad.String()
		case svcAttrFlags:
			if b := ad.Bytes(); len(b) >= 4 {
				s.Flags, s.haveFlags = binary.NativeEndian.Uint32(b), true
			}
		case svcAttrTimeout:
			s.Timeout = ad.Uint32()
		case svcAttrNetmask:
			if b := ad.Bytes(); len(b) == 4 {
				s.Netmask = binary.BigEndian.Uint32(b)
			}
		case svcAttrStats:
			if s.Stats == (counters{}) {
				ad.Nested(s.Stats.decode32)
			}
		case svcAttrStats64:
			ad.Nested(s.Stats.decode64)
		}
	}
	if s.FWMark == 0 && len(addr) >= 4 {
		s.Addr = netip.AddrFrom4([4]byte(addr[:4]))
	}
	return nil
}

func (d *ipvsDest) decode(ad *netlink.AttributeDecoder) error {
	var addr []byte
	for ad.Next() {
		switch ad.Type() {
		case destAttrAddr:
			addr = ad.Bytes()
		case destAttrPort:
			d.Port = port(ad.Bytes())
		case destAttrFwdMethod:
			d.Fwd = ad.Uint32() & 0x7
		case destAttrWeight:
			d.Weight = ad.Uint32()
		case destAttrActiveConns:
			d.ActiveConn = ad.Uint32()
		case destAttrInactConns:
			d.InActConn = ad.Uint32()
		case destAttrStats:
			if d.Stats == (counters{}) {
				ad.Nested(d.Stats.decode32)
			}
		case destAttrStats64:
			ad.Nested(d.Stats.decode64)
		}
	}
	if len(addr) >= 4 {
		d.Addr = netip.AddrFrom4([4]byte(addr[:4]))
	}
	return nil
}

// decode32 reads the old 32-bit counters (bytes are 64-bit there too).
func (c *counters) decode32(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		switch ad.Type() {
		case statsAttrConns:
			c.Conns = uint64(ad.Uint32())
		case statsAttrInPkts:
			c.InPkts = uint64(ad.Uint32())
		case statsAttrOutPkts:
			c.OutPkts = uint64(ad.Uint32())
		case statsAttrInBytes:
			c.InBytes = ad.Uint64()
		case statsAttrOutBytes:
			c.OutBytes = ad.Uint64()
		case statsAttrCPS:
			c.CPS = uint64(ad.Uint32())
		case statsAttrInPPS:
			c.InPPS = uint64(ad.Uint32())
		case statsAttrOutPPS:
			c.OutPPS = uint64(ad.Uint32())
		case statsAttrInBPS:
			c.InBPS = uint64(ad.Uint32())
		case statsAttrOutBPS:
			c.OutBPS = uint64(ad.Uint32())
		}
	}
	return nil
}

func (c *counters) decode64(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		switch ad.Type() {
		case statsAttrConns:
			c.Conns = ad.Uint64()
		case statsAttrInPkts:
			c.InPkts = ad.Uint64()
		case statsAttrOutPkts:
			c.OutPkts = ad.Uint64()
		case statsAttrInBytes:
			c.InBytes = ad.Uint64()
		case statsAttrOutBytes:
			c.OutBytes = ad.Uint64()
		case statsAttrCPS:
			c.CPS = ad.Uint64()
		case statsAttrInPPS:
			c.InPPS = ad.Uint64()
		case statsAttrOutPPS:
			c.OutPPS = ad.Uint64()
		case statsAttrInBPS:
			c.InBPS = ad.Uint64()
		case statsAttrOutBPS:
			c.OutBPS = ad.Uint64()
		}
	}
	return nil
}

// ipvsDaemon is a sync daemon as IPVS's netlink carries it.
type ipvsDaemon struct {
	State  uint32 // ipvsStateMaster or ipvsStateBackup
	Ifn    string
	SyncID uint32
	MaxLen uint16     // 0: not sent (the kernel's default)
	Group  netip.Addr // invalid: not sent
	Port   uint16     // host order; 0: not sent
	TTL    uint8      // 0: not sent
}

// encode writes what IPVS_CMD_NEW_DAEMON takes, as libipvs sends it: the
// state, interface and sync ID always, the rest when set. The group goes
// in network order (an in_addr), the port in host order.
func (d *ipvsDaemon) encode(e *netlink.AttributeEncoder) error {
	e.Uint32(daemonAttrState, d.State)
	e.String(daemonAttrMcastIfn, d.Ifn)
	e.Uint32(daemonAttrSyncID, d.SyncID)
	if d.MaxLen != 0 {
		e.Uint16(daemonAttrSyncMaxLen, d.MaxLen)
	}
	if d.Port != 0 {
		e.Uint16(daemonAttrMcastPort, d.Port)
	}
	if d.TTL != 0 {
		e.Uint8(daemonAttrMcastTTL, d.TTL)
	}
	switch {
	case d.Group.Is4():
		a := d.Group.As4()
		e.Bytes(daemonAttrMcastGroup, a[:])
	case d.Group.Is6():
		a := d.Group.As16()
		e.Bytes(daemonAttrMcastGroup6, a[:])
	}
	return nil
}

func (d *ipvsDaemon) decode(ad *netlink.AttributeDecoder) error {
	for ad.Next() {
		switch ad.Type() {
		case daemonAttrState:
			d.State = ad.Uint32()
		case daemonAttrMcastIfn:
			d.Ifn = ad.String()
		case daemonAttrSyncID:
			d.SyncID = ad.Uint32()
		case daemonAttrSyncMaxLen:
			d.MaxLen = ad.Uint16()
		case daemonAttrMcastPort:
			d.Port = ad.Uint16()
		case daemonAttrMcastTTL:
			d.TTL = ad.Uint8()
		case daemonAttrMcastGroup:
			if b := ad.Bytes(); len(b) == 4 {
				d.Group = netip.AddrFrom4([4]byte(b))
			}
		case daemonAttrMcastGroup6:
			if b := ad.Bytes(); len(b) == 16 {
				d.Group = netip.AddrFrom16([16]byte(b))
			}
		}
	}
	return nil
}

// daemon sends IPVS_CMD_NEW_DAEMON or IPVS_CMD_DEL_DAEMON (which takes the
// state; libipvs sends the interface and sync ID too, which IPVS ignores).
func (n *ipvsConn) daemon(cmd uint8, d *ipvsDaemon) error {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(ipvsAttrDaemon, d.encode)
	_, err := n.do(cmd, netlink.Acknowledge, ae)
	return err
}

// daemons lists the sync daemons that run (IPVS_CMD_GET_DAEMON).
func (n *ipvsConn) daemons() ([]ipvsDaemon, error) {
	return dumpNested(n, ipvsCmdGetDaemon, nil, ipvsAttrDaemon, "sync daemon", func(d *ipvsDaemon) func(*netlink.AttributeDecoder) error { return d.decode })
}
