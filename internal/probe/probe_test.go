package probe

import (
	"fmt"
	"testing"
	"time"
)

func TestReadProbeOutput(t *testing.T) {
	out := "12:00:00.000 +0.000s ok node1\n12:00:01.000 +1.000s fail connection refused\n" +
		"12:00:01.320 +1.320s ok node2" + fmt.Sprintf(OutageFormat, 0.32) + "\n"
	if !ServedBy(out, "node2") || ServedBy(out, "node1") {
		t.Fatal("ServedBy reads the wrong line")
	}
	o := Outages(out)
	if len(o) != 1 || o[0] != 320*time.Millisecond {
		t.Fatalf("outages %v", o)
	}
}

func FuzzOutages(f *testing.F) {
	f.Add("x ok node1 (outage 0.100s)\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range Outages(s) {
			if d < 0 {
				t.Fatalf("negative outage %v", d)
			}
		}
		ServedBy(s, "node1")
	})
}
