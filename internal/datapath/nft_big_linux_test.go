package datapath

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/lubdub/lubdub/internal/lvs"
)

func TestNFTThousandServicesInOneTransaction(t *testing.T) {
	inNewNetns(t, func() {
		dp, err := OpenNFT()
		if err != nil {
			t.Fatal(err)
		}
		defer dp.Close()
		tb := &lvs.Table{}
		for i := range 1000 {
			tb.Services = append(tb.Services, &lvs.Service{Key: lvs.Key{Proto: "TCP", Addr: netip.MustParseAddrPort(fmt.Sprintf("198.18.%d.%d:80", 100+i/250, 1+i%250))}, Scheduler: "rr",
				Dests: []*lvs.Dest{{Addr: netip.MustParseAddrPort("198.18.1.11:80"), Fwd: lvs.Masq, Weight: 1}, {Addr: netip.MustParseAddrPort("198.18.1.12:80"), Fwd: lvs.Masq, Weight: 1}}})
		}
		start := time.Now()
		if err := dp.Sync(&lvs.Table{}, tb); err != nil {
			t.Fatal(err)
		}
		t.Logf("1000 services written in %s", time.Since(start))
		start = time.Now()
		got, err := dp.Load(nil, true)
		if err != nil || len(got.Services) != 1000 {
			t.Fatalf("%v %d", err, len(got.Services))
		}
		t.Logf("loaded in %s", time.Since(start))
	})
}
