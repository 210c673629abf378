package datapath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/lubdub/lubdub/internal/lvs"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table lubdub owns (family ip).
const TableName = "lubdub"

// MasqMark is the packet-mark bit the forward chain sets on the first
// packet of a connection whose client and real server sit on the same
// segment, so that postrouting masquerades it (otherwise the real server
// would answer the client directly and the client would drop the reply).
const MasqMark = 0x10000000

// reg32 is the first 32-bit register (the same bytes as NFT_REG_1), where
// concatenated keys start.
const reg32 = unix.NFT_REG32_00

// The service lookup key is daddr . l4proto . dport (12 bytes).
var svcKeyType, _ = nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)

// NFT is the nftables data path.
type NFT struct {
	conn  *nftables.Conn
	table *nftables.Table
	seq   map[lvs.Key]int64 // creation order, from Load
	// destRules are the handles of each service's real-server comment
	// rules, from Load, so that a change of real servers can replace them
	// without rebuilding the chain.
	destRules map[lvs.Key][]uint64
}

// OpenNFT connects to nftables in the current network namespace.
func OpenNFT() (*NFT, error) {
	c, err := nftables.New(nftables.AsLasting(), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return nil, fmt.Errorf("opening nftables netlink: %w", err)
	}
	return &NFT{conn: c, table: &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}, seq: map[lvs.Key]int64{}, destRules: map[lvs.Key][]uint64{}}, nil
}

// bigBuffers lets one transaction carry thousands of services (the
// default socket buffer holds about a hundred) and one dump read them
// back. Forcing the size needs CAP_NET_ADMIN, which changing nftables
// needs anyway; without it the defaults stay.
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 64<<20)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	})
	return nil
}

func (n *NFT) Name() string { return NFTables }

func (n *NFT) Close() error { return n.conn.CloseLasting() }

func isNotFound(err error) bool { return errors.Is(err, unix.ENOENT) }

func (n *NFT) tableExists() (bool, error) {
	_, err := n.conn.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("reading nftables table %s: %w", TableName, err)
}

type svcMeta struct {
	Seq     int64  `json:"seq"`
	Sched   string `json:"s"`
	Persist bool   `json:"p,omitempty"`
	Timeout int    `json:"t,omitempty"`
	Mask    string `json:"m,omitempty"`
}

type destMeta struct {
	Addr   string `json:"d"`
	Fwd    string `json:"f"`
	Weight int    `json:"w"`
}

func comment(v any) []byte {
	b, _ := json.Marshal(v)
	return userdata.AppendString(nil, userdata.TypeComment, string(b))
}

func keyOfChain(name string) (lvs.Key, bool) {
	rest, ok := strings.CutPrefix(name, "svc-")
	if !ok {
		return lvs.Key{}, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return lvs.Key{}, false
	}
	ap, err := netip.ParseAddrPort(parts[1] + ":" + parts[2])
	if err != nil {
		return lvs.Key{}, false
	}
	return lvs.Key{Proto: strings.ToUpper(parts[0]), Addr: ap}, true
}

// Load reads services from their chains' rule comments.
func (n *NFT) Load(keys []lvs.Key, counters bool) (*lvs.Table, error) {
	t := &lvs.Table{}
	ok, err := n.tableExists()
	if err != nil || !ok {
		return t, err
	}
	if keys == nil {
		chains, err := n.conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return nil, fmt.Errorf("listing nftables chains: %w", err)
		}
		for _, c := range chains {
			if c.Table.Name != TableName {
				continue
			}
			if k, ok := keyOfChain(c.Name); ok {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range keys {
		s, err := n.loadService(k)
		if err != nil {
			return nil, err
		}
		if s != nil {
			t.Services = append(t.Services, s)
		}
	}
	slices.SortStableFunc(t.Services, func(a, b *lvs.Service) int { return int(n.seq[a.Key] - n.seq[b.Key]) })
	if counters && len(t.Services) > 0 {
		if err := n.fillCounters(t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (n *NFT) loadService(k lvs.Key) (*lvs.Service, error) {
	ch := &nftables.Chain{Table: n.table, Name: svcName(k)}
	rules, err := n.conn.GetRules(n.table, ch)
	if isNotFound(err) || (err == nil && len(rules) == 0) {
		return nil, nil // no such chain (the dump is then empty)
	}
	if err != nil {
		return nil, fmt.Errorf("reading service %s from nftables: %w", k, err)
	}
	var s *lvs.Service
	var handles []uint64
	defer func() { n.destRules[k] = handles }()
	for _, r := range rules {
		c, ok := userdata.GetString(r.UserData, userdata.TypeComment)
		if !ok {
			continue
		}
		if s == nil {
			var m svcMeta
			if err := json.Unmarshal([]byte(c), &m); err != nil {
				return nil, fmt.Errorf("service %s: chain %s has a rule lubdub did not write (%q): %w", k, ch.Name, c, err)
			}
			s = &lvs.Service{Key: k, Scheduler: m.Sched, Persistent: m.Persist, Timeout: m.Timeout}
			if m.Mask != "" {
				s.Netmask, _ = netip.ParseAddr(m.Mask)
			}
			n.seq[k] = m.Seq
			continue
		}
		var d destMeta
		if err := json.Unmarshal([]byte(c), &d); err != nil {
			return nil, fmt.Errorf("service %s: chain %s has a rule lubdub did not write (%q): %w", k, ch.Name, c, err)
		}
		a, err := netip.ParseAddrPort(d.Addr)
		if err != nil {
			return nil, fmt.Errorf("service %s: real server %q in chain %s: %w", k, d.Addr, ch.Name, err)
		}
		s.Dests = append(s.Dests, &lvs.Dest{Addr: a, Fwd: d.Fwd, Weight: d.Weight})
		handles = append(handles, r.Handle)
	}
	if s == nil {
		return nil, fmt.Errorf("service %s: chain %s has no lubdub description (was it changed by hand?)", k, ch.Name)
	}
	return s, nil
}

func svcKey(k lvs.Key) []byte {
	b := make([]byte, 12)
	a := k.Addr.Addr().As4()
	copy(b, a[:])
	b[4] = protoNum(k.Proto)
	b[8], b[9] = byte(k.Addr.Port()>>8), byte(k.Addr.Port())
	return b
}

// destKey is a real server's conntrack mark, as counter sets key it.
func destKey(k lvs.Key, d netip.AddrPort) []byte {
	return binaryutil.NativeEndian.PutUint32(DestMark(k, d))
}

func protoNum(p string) byte {
	if p == "UDP" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// counter sets, keyed by destKey: connections, packets and bytes in
// (client to server) and out.
func (n *NFT) counterSet(name string) *nftables.Set {
	return &nftables.Set{Table: n.table, Name: name, KeyType: nftables.TypeMark, KeyByteOrder: binaryutil.NativeEndian, Counter: true}
}

func (n *NFT) fillCounters(t *lvs.Table) error {
	get := func(name string) (map[uint32]*expr.Counter, error) {
		els, err := n.conn.GetSetElements(n.counterSet(name))
		if err != nil {
			return nil, fmt.Errorf("reading nftables counters %s: %w", name, err)
		}
		m := map[uint32]*expr.Counter{}
		for _, e := range els {
			if e.Counter != nil && len(e.Key) == 4 {
				m[binaryutil.NativeEndian.Uint32(e.Key)] = e.Counter
			}
		}
		return m, nil
	}
	conns, err := get("conns")
	if err != nil {
		return err
	}
	in, err := get("in")
	if err != nil {
		return err
	}
	out, err := get("out")
	if err != nil {
		return err
	}
	active, inactive := n.connStates(t)
	for _, s := range t.Services {
		for _, d := range s.Dests {
			k := DestMark(s.Key, d.Addr)
			if c := conns[k]; c != nil {
				d.Conns = c.Packets
			}
			if c := in[k]; c != nil {
				d.InPkts, d.InBytes = c.Packets, c.Bytes
			}
			if c := out[k]; c != nil {
				d.OutPkts, d.OutBytes = c.Packets, c.Bytes
			}
			d.ActiveConn, d.InActConn = active[k], inactive[k]
			s.Conns += d.Conns
			s.InPkts += d.InPkts
			s.InBytes += d.InBytes
			s.OutPkts += d.OutPkts
			s.OutBytes += d.OutBytes
		}
	}
	return nil
}

// tcpStates are conntrack's TCP states by number, named as IPVS names them.
var tcpStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT"}

// flows returns conntrack's connections that carry one of lubdub's marks.
func (n *NFT) flows(t *lvs.Table) ([]Conn, error) {
	marks := map[uint32]bool{}
	for _, s := range t.Services {
		for _, d := range s.Dests {
			marks[DestMark(s.Key, d.Addr)] = true
		}
	}
	c, err := conntrack.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("opening conntrack: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("reading conntrack: %w", err)
	}
	var out []Conn
	for _, f := range flows {
		if !marks[f.Mark] {
			continue
		}
		o, r := f.TupleOrig, f.TupleReply
		cn := Conn{Mark: f.Mark, Proto: "UDP", State: "UDP", Expire: time.Duration(f.Timeout) * time.Second,
			Client:  netip.AddrPortFrom(o.IP.SourceAddress, o.Proto.SourcePort),
			Virtual: netip.AddrPortFrom(o.IP.DestinationAddress, o.Proto.DestinationPort),
			Real:    netip.AddrPortFrom(r.IP.SourceAddress, r.Proto.SourcePort)}
		if o.Proto.Protocol == unix.IPPROTO_TCP {
			cn.Proto, cn.State = "TCP", "NONE"
			if f.ProtoInfo.TCP != nil && int(f.ProtoInfo.TCP.State) < len(tcpStates) {
				cn.State = tcpStates[f.ProtoInfo.TCP.State]
			}
		}
		out = append(out, cn)
	}
	return out, nil
}

// connStates counts connections per real server as IPVS does:
// established TCP connections are active, everything else inactive. A
// failure to read conntrack leaves the counts at zero.
func (n *NFT) connStates(t *lvs.Table) (active, inactive map[uint32]uint64) {
	active, inactive = map[uint32]uint64{}, map[uint32]uint64{}
	conns, err := n.flows(t)
	if err != nil {
		return
	}
	for _, c := range conns {
		if c.State == "ESTABLISHED" {
			active[c.Mark]++
		} else {
			inactive[c.Mark]++
		}
	}
	return
}

// Conns lists the connections lubdub balances, for -L -c.
func (n *NFT) Conns() ([]Conn, error) {
	t, err := n.Load(nil, false)
	if err != nil {
		return nil, err
	}
	return n.flows(t)
}

// Zero clears counters by removing and re-adding their set elements.
func (n *NFT) Zero(keys []lvs.Key) error {
	t, err := n.Load(keys, false)
	if err != nil || len(t.Services) == 0 {
		return err
	}
	var els []nftables.SetElement
	for _, s := range t.Services {
		for _, d := range s.Dests {
			els = append(els, nftables.SetElement{Key: destKey(s.Key, d.Addr)})
		}
	}
	for _, name := range []string{"conns", "in", "out"} {
		set := n.counterSet(name)
		if err := n.conn.SetDeleteElements(set, els); err != nil {
			return err
		}
		if err := n.conn.SetAddElements(set, els); err != nil {
			return err
		}
	}
	if err := n.conn.Flush(); err != nil {
		return fmt.Errorf("zeroing nftables counters: %w", err)
	}
	return nil
}

// Sync changes the kernel from old to new in one transaction.
func (n *NFT) Sync(old, new *lvs.Table) error {
	changed, deleted, err := planNFT(old, new)
	if err != nil {
		return err
	}
	if len(changed) == 0 && len(deleted) == 0 {
		return nil
	}
	exists, err := n.tableExists()
	if err != nil {
		return err
	}
	if !exists {
		if len(changed) == 0 {
			return nil
		}
		if err := n.addBase(); err != nil {
			return err
		}
	}
	for _, s := range deleted {
		if err := n.delService(s); err != nil {
			return err
		}
	}
	for _, c := range changed {
		if err := n.putService(c.Old, c.New); err != nil {
			return err
		}
	}
	if err := n.conn.Flush(); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("writing nftables table %s: %w (a new real server's mark, a hash, collides with another's: give it another port or address)", TableName, err)
		}
		return fmt.Errorf("writing nftables table %s: %w", TableName, err)
	}
	return nil
}

func (n *NFT) servicesMap() *nftables.Set {
	return &nftables.Set{Table: n.table, Name: "services", KeyType: svcKeyType, DataType: nftables.TypeVerdict, IsMap: true, Concatenation: true}
}

// loadSvcKey loads daddr . l4proto . th dport into the 32-bit registers.
func loadSvcKey() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg32, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32 + 1},
		&expr.Payload{DestRegister: reg32 + 2, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// loadMark loads the connection's mark, which names its real server.
func loadMark() []expr.Any {
	return []expr.Any{&expr.Ct{Key: expr.CtKeyMARK, Register: 1}}
}

func (n *NFT) addBase() error {
	c := n.conn
	c.AddTable(n.table)
	svcs := n.servicesMap()
	if err := c.AddSet(svcs, nil); err != nil {
		return fmt.Errorf("adding nftables map: %w", err)
	}
	for _, name := range []string{"conns", "in", "out"} {
		if err := c.AddSet(n.counterSet(name), nil); err != nil {
			return fmt.Errorf("adding nftables counters: %w", err)
		}
	}
	if err := c.AddSet(n.targetsMap(), nil); err != nil {
		return fmt.Errorf("adding nftables map: %w", err)
	}
	accept := nftables.ChainPolicyAccept
	dispatch := append(loadSvcKey(), &expr.Lookup{SourceRegister: reg32, SetName: svcs.Name, SetID: svcs.ID, DestRegister: 0, IsDestRegSet: true})
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"prerouting", nftables.ChainHookPrerouting}, {"output", nftables.ChainHookOutput}} {
		ch := c.AddChain(&nftables.Chain{Table: n.table, Name: h.name, Type: nftables.ChainTypeNAT, Hooknum: h.hook,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept})
		c.AddRule(&nftables.Rule{Table: n.table, Chain: ch, Exprs: dispatch})
	}
	post := c.AddChain(&nftables.Chain{Table: n.table, Name: "postrouting", Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	c.AddRule(&nftables.Rule{Table: n.table, Chain: post, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(MasqMark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		&expr.Masq{},
	}})
	fwd := c.AddChain(&nftables.Chain{Table: n.table, Name: "forward", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	// New connections: count them, and mark for masquerading those whose
	// real server is reached through the interface the client came in on.
	newConn := []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
	newConn = append(newConn, loadMark()...)
	newConn = append(newConn,
		&expr.Lookup{SourceRegister: 1, SetName: "conns"},
		&expr.Fib{Register: 1, FlagDADDR: true, FlagIIF: true, ResultOIF: true, FlagPRESENT: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(1)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(^uint32(MasqMark)), Xor: binaryutil.NativeEndian.PutUint32(MasqMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	)
	c.AddRule(&nftables.Rule{Table: n.table, Chain: fwd, Exprs: newConn})
	for dir, set := range []string{"in", "out"} {
		e := []expr.Any{
			&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(dir)}},
		}
		e = append(e, loadMark()...)
		e = append(e, &expr.Lookup{SourceRegister: 1, SetName: set})
		c.AddRule(&nftables.Rule{Table: n.table, Chain: fwd, Exprs: e})
	}
	return nil
}

func (n *NFT) delService(s *lvs.Service) error {
	c := n.conn
	if err := c.SetDeleteElements(n.servicesMap(), []nftables.SetElement{{Key: svcKey(s.Key)}}); err != nil {
		return err
	}
	sc := &nftables.Chain{Table: n.table, Name: svcName(s.Key)}
	c.FlushChain(sc)
	c.DelChain(sc)
	c.DelSet(n.slotsMap(s.Key))
	if s.Persistent {
		c.DelSet(&nftables.Set{Table: n.table, Name: persistName(s)})
	}
	return n.delDests(s.Key, s.Dests)
}

// delDests removes real servers' targets and counters.
func (n *NFT) delDests(k lvs.Key, dests []*lvs.Dest) error {
	if len(dests) == 0 {
		return nil
	}
	var els []nftables.SetElement
	for _, d := range dests {
		els = append(els, nftables.SetElement{Key: destKey(k, d.Addr)})
	}
	for _, name := range []string{"conns", "in", "out", "targets"} {
		if err := n.conn.SetDeleteElements(n.counterSet(name), els); err != nil {
			return err
		}
	}
	return nil
}

func (n *NFT) slotsMap(k lvs.Key) *nftables.Set {
	return &nftables.Set{Table: n.table, Name: "slots-" + strings.TrimPrefix(svcName(k), "svc-"), IsMap: true,
		KeyType: nftables.TypeMark, KeyByteOrder: binaryutil.NativeEndian, DataType: nftables.TypeMark}
}

// persistName names a persistent service's map of clients; its timeout and
// netmask are part of the name, so that changing them makes a new map.
func persistName(s *lvs.Service) string {
	n := fmt.Sprintf("persist%d-%s", s.Timeout, strings.TrimPrefix(svcName(s.Key), "svc-"))
	if s.Netmask.IsValid() && s.Netmask != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		n += "-mask-" + s.Netmask.String()
	}
	return n
}

// Every real server of every service has a conntrack mark (DestMark).
// A service's chain sets the mark (from its scheduler's slots, or from
// the persistence map), and the global map "targets" turns the mark into
// the address and port to translate to. The chain's rules stay the same
// while real servers come and go: only set elements change.
var targetType, _ = nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)

func (n *NFT) targetsMap() *nftables.Set {
	return &nftables.Set{Table: n.table, Name: "targets", IsMap: true, KeyType: nftables.TypeMark,
		KeyByteOrder: binaryutil.NativeEndian, DataType: targetType}
}

func targetElem(k lvs.Key, d *lvs.Dest) nftables.SetElement {
	v := make([]byte, 8)
	a := d.Addr.Addr().As4()
	copy(v, a[:])
	v[4], v[5] = byte(d.Addr.Port()>>8), byte(d.Addr.Port())
	return nftables.SetElement{Key: destKey(k, d.Addr), Val: v}
}

// slotMarks lists, for each slot, the mark of the real server it sends
// to (nil: none).
func slotMarks(s *lvs.Service) [][]byte {
	weights := make([]int, len(s.Dests))
	for i, d := range s.Dests {
		weights[i] = d.Weight
	}
	out := make([][]byte, SlotCount)
	for i, di := range Slots(s.Scheduler, weights) {
		out[i] = destKey(s.Key, s.Dests[di].Addr)
	}
	return out
}

// natByMark translates to the target of the connection's mark
// (dnat ip to ct mark map @targets).
func natByMark() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: "targets", DestRegister: 1, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: unix.NFT_REG32_01, Specified: true},
	}
}

// putService creates a service or rebuilds its chain. Its rules do not
// name real servers, so a change of real servers only (the scheduler and
// persistence as they were) keeps them and changes set elements and the
// comments: no rule with a kernel-validated expression is added, and the
// commit does not walk the whole table. A change costs the same with one
// service or thousands. Counters of real servers that stay are kept.
//
// In one transaction: the chain and its comments (putChain), the real
// servers' targets and counters (putDests), the persistence map
// (putPersistence), the scheduler's slots (putSlots), and, unless only
// real servers changed, the rules that pick a real server (addPickRules).
func (n *NFT) putService(old, s *lvs.Service) error {
	sc := &nftables.Chain{Table: n.table, Name: svcName(s.Key)}
	handles, known := n.destRules[s.Key]
	light := old != nil && known && old.Scheduler == s.Scheduler && old.Persistent == s.Persistent &&
		old.Timeout == s.Timeout && old.Netmask == s.Netmask
	delete(n.destRules, s.Key) // stale once this transaction is sent
	if err := n.putChain(sc, old, s, light, handles); err != nil {
		return err
	}
	ch := diffDests(old, s)
	if err := n.putDests(s.Key, ch); err != nil {
		return err
	}
	persist, err := n.putPersistence(old, s, len(ch.gone) > 0 || ch.lostWeight)
	if err != nil {
		return err
	}
	m, err := n.putSlots(old, s)
	if err != nil {
		return err
	}
	if !light {
		n.addPickRules(sc, s, persist, m)
	}
	return nil
}

// putChain makes the service's chain ready for its rules: created (and
// entered in the services map) for a new service, flushed for a changed
// one, or, when only real servers change (light), with their comment
// rules (handles) deleted. Then the comments: the service's (unless
// light) and one per real server, which Load reads back.
func (n *NFT) putChain(sc *nftables.Chain, old, s *lvs.Service, light bool, handles []uint64) error {
	c := n.conn
	seq := n.seq[s.Key]
	switch {
	case light:
		for _, h := range handles {
			if err := c.DelRule(&nftables.Rule{Table: n.table, Chain: sc, Handle: h}); err != nil {
				return err
			}
		}
	case old == nil:
		seq = time.Now().UnixNano()
		c.AddChain(sc)
		if err := c.SetAddElements(n.servicesMap(), []nftables.SetElement{{Key: svcKey(s.Key),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: sc.Name}}}); err != nil {
			return err
		}
	default:
		c.FlushChain(sc)
	}
	if !light {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: sc, UserData: comment(svcMeta{Seq: seq, Sched: s.Scheduler,
			Persist: s.Persistent, Timeout: s.Timeout, Mask: maskString(s.Netmask)})})
	}
	for _, d := range s.Dests {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: sc, UserData: comment(destMeta{Addr: d.Addr.String(), Fwd: d.Fwd, Weight: d.Weight})})
	}
	return nil
}

// destChange is how a service's real servers change.
type destChange struct {
	added, gone []*lvs.Dest
	lostWeight  bool // a real server that stays went to weight 0
}

// diffDests compares the real servers of old (nil: a new service) and s.
func diffDests(old, s *lvs.Service) destChange {
	var ch destChange
	for _, d := range s.Dests {
		var od *lvs.Dest
		if old != nil {
			_, od = old.Dest(d.Addr)
		}
		if od == nil {
			ch.added = append(ch.added, d)
		} else if od.Weight > 0 && d.Weight == 0 {
			ch.lostWeight = true
		}
	}
	if old != nil {
		for _, d := range old.Dests {
			if _, nd := s.Dest(d.Addr); nd == nil {
				ch.gone = append(ch.gone, d)
			}
		}
	}
	return ch
}

// putDests gives real servers that come a target and counters, and takes
// them from those that go.
func (n *NFT) putDests(k lvs.Key, ch destChange) error {
	if err := n.delDests(k, ch.gone); err != nil {
		return err
	}
	if len(ch.added) == 0 {
		return nil
	}
	var els, targets []nftables.SetElement
	for _, d := range ch.added {
		els = append(els, nftables.SetElement{Key: destKey(k, d.Addr)})
		targets = append(targets, targetElem(k, d))
	}
	for _, name := range []string{"conns", "in", "out"} {
		if err := n.conn.SetAddElements(n.counterSet(name), els); err != nil {
			return err
		}
	}
	return n.conn.SetAddElements(n.targetsMap(), targets)
}

// putPersistence keeps the service's persistence map (nil when it is not
// persistent): clients to their real server's mark, with the service's
// timeout. A client seen within it goes back to its server; when a server
// left or lost its weight (forget), its clients start afresh. A map the
// service no longer uses is deleted.
func (n *NFT) putPersistence(old, s *lvs.Service, forget bool) (*nftables.Set, error) {
	c := n.conn
	var persist *nftables.Set
	if s.Persistent {
		persist = &nftables.Set{Table: n.table, Name: persistName(s), KeyType: nftables.TypeIPAddr, DataType: nftables.TypeMark,
			IsMap: true, HasTimeout: true, Dynamic: true, Timeout: time.Duration(s.Timeout) * time.Second}
		if old != nil && old.Persistent && persistName(old) == persist.Name {
			if forget {
				c.FlushSet(persist)
			}
		} else if err := c.AddSet(persist, nil); err != nil {
			return nil, fmt.Errorf("adding persistence map: %w", err)
		}
	}
	if old != nil && old.Persistent && (persist == nil || persistName(old) != persist.Name) {
		c.DelSet(&nftables.Set{Table: n.table, Name: persistName(old)})
	}
	return persist, nil
}

// putSlots writes the scheduler's slots: slot number to mark, in a map of
// the service's own (an anonymous one would cost a scan of all the
// table's sets to name it); for a service that was there, only the slots
// that change.
func (n *NFT) putSlots(old, s *lvs.Service) (*nftables.Set, error) {
	c := n.conn
	m := n.slotsMap(s.Key)
	slots := slotMarks(s)
	if old == nil {
		var els []nftables.SetElement
		for i, mark := range slots {
			if mark != nil {
				els = append(els, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: mark})
			}
		}
		if err := c.AddSet(m, els); err != nil {
			return nil, fmt.Errorf("adding scheduler map: %w", err)
		}
		return m, nil
	}
	was := slotMarks(old)
	var del, add []nftables.SetElement
	for i := range SlotCount {
		if bytes.Equal(was[i], slots[i]) {
			continue
		}
		k := binaryutil.NativeEndian.PutUint32(uint32(i))
		if was[i] != nil {
			del = append(del, nftables.SetElement{Key: k})
		}
		if slots[i] != nil {
			add = append(add, nftables.SetElement{Key: k, Val: slots[i]})
		}
	}
	if len(del) > 0 {
		if err := c.SetDeleteElements(m, del); err != nil {
			return nil, err
		}
	}
	if len(add) > 0 {
		if err := c.SetAddElements(m, add); err != nil {
			return nil, fmt.Errorf("filling scheduler map: %w", err)
		}
	}
	return m, nil
}

// addPickRules adds the rules that send a new connection to a real
// server: with persistence, a client seen within the timeout goes back to
// its server (ct mark set ip saddr map @persist; refresh; dnat); then the
// scheduler (ct mark set numgen inc mod 240 map @slots, or jhash of the
// source or destination address; remember; dnat). With no live server
// the slots map is empty, the lookup fails and the packet goes on to the
// local stack.
func (n *NFT) addPickRules(sc *nftables.Chain, s *lvs.Service, persist, slots *nftables.Set) {
	// remember: update @persist { ip saddr : ct mark }
	remember := func() []expr.Any {
		if persist == nil {
			return nil
		}
		e := loadClient(s.Netmask)
		return append(e, &expr.Ct{Key: expr.CtKeyMARK, Register: 2},
			&expr.Dynset{SrcRegKey: 1, SrcRegData: 2, SetName: persist.Name, SetID: persist.ID, Operation: unix.NFT_DYNSET_OP_UPDATE})
	}
	if persist != nil {
		e := loadClient(s.Netmask)
		e = append(e, &expr.Lookup{SourceRegister: 1, SetName: persist.Name, SetID: persist.ID, DestRegister: 1, IsDestRegSet: true},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true})
		e = append(e, remember()...)
		e = append(e, natByMark()...)
		n.conn.AddRule(&nftables.Rule{Table: n.table, Chain: sc, Exprs: e})
	}
	var pick []expr.Any
	switch s.Scheduler {
	case "rr", "wrr":
		pick = []expr.Any{&expr.Numgen{Register: 1, Modulus: SlotCount, Type: unix.NFT_NG_INCREMENTAL}}
	case "sh", "dh":
		off := uint32(12) // saddr
		if s.Scheduler == "dh" {
			off = 16
		}
		pick = []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
			&expr.Hash{SourceRegister: 1, DestRegister: 1, Length: 4, Modulus: SlotCount, Seed: 0x6c756264, Type: expr.HashTypeJenkins},
		}
	}
	pick = append(pick, &expr.Lookup{SourceRegister: 1, SetName: slots.Name, SetID: slots.ID, DestRegister: 1, IsDestRegSet: true},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true})
	pick = append(pick, remember()...)
	pick = append(pick, natByMark()...)
	n.conn.AddRule(&nftables.Rule{Table: n.table, Chain: sc, Exprs: pick})
}

// loadClient loads the client's address, masked for persistence, into
// register 1.
func loadClient(mask netip.Addr) []expr.Any {
	e := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}}
	if mask.IsValid() && mask.Is4() && mask != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		m := mask.As4()
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m[:], Xor: make([]byte, 4)})
	}
	return e
}

func maskString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
