package probe

import (
	"fmt"
	"strings"
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

func TestReadTimeline(t *testing.T) {
	ref := time.Date(2025, 3, 1, 23, 59, 58, 0, time.Local)
	out := "23:59:58.000 +0.000s fail connection refused\n" +
		"23:59:59.000 +1.000s ok node1\n" +
		"23:59:59.500 +1.500s fail i/o timeout\n" +
		"23:59:59.600 +1.600s fail connection refused\n" +
		"00:00:00.320 +2.320s ok node2" + fmt.Sprintf(OutageFormat, 0.84) + "\n" +
		"00:00:01.000 +3.000s ok node1\n" +
		"00:00:02.000 +4.000s fail no route to host\n" +
		"summary: 10 requests, 3 failed, 1 outages, longest 0.840s\n" +
		"00:00:0"
	end := ref.Add(5 * time.Second)
	tl := ReadTimeline(out, ref, end)
	next := time.Date(2025, 3, 2, 0, 0, 0, 0, time.Local)
	want := []Interval{
		{From: next.Add(320*time.Millisecond - 840*time.Millisecond), To: next.Add(320 * time.Millisecond)},
		{From: next.Add(2 * time.Second), To: end},
	}
	if len(tl.Outages) != len(want) {
		t.Fatalf("outages %v, want %v", tl.Outages, want)
	}
	for i := range want {
		if !tl.Outages[i].From.Equal(want[i].From) || !tl.Outages[i].To.Equal(want[i].To) {
			t.Errorf("outage %d = %v, want %v", i, tl.Outages[i], want[i])
		}
	}
	if o := tl.Outages[0]; o.Before != "node1" || o.After != "node2" || strings.Join(o.Failures, "; ") != "i/o timeout; connection refused" {
		t.Errorf("first outage: between %q and %q, failures %q", o.Before, o.After, o.Failures)
	}
	if o := tl.Outages[1]; o.Before != "node1" || o.After != "" || strings.Join(o.Failures, "; ") != "no route to host" {
		t.Errorf("open outage: between %q and %q, failures %q", o.Before, o.After, o.Failures)
	}
	if tl.OK || tl.Last != "node1" {
		t.Errorf("end state ok=%v last=%q, want failing after node1", tl.OK, tl.Last)
	}
	if len(tl.Answers) != 3 || tl.Answers[1].Text != "node2" || !tl.Answers[1].At.Equal(next.Add(320*time.Millisecond)) {
		t.Errorf("answers %v", tl.Answers)
	}
}

func FuzzReadTimeline(f *testing.F) {
	f.Add("12:00:00.000 +0.000s ok node1\n12:00:01.000 +1.000s fail x\n12:00:02.000 +2.000s ok node2 (outage 1.000s)\n")
	ref := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		tl := ReadTimeline(s, ref, ref.Add(time.Hour))
		for _, o := range tl.Outages {
			if o.Len() < 0 {
				t.Fatalf("negative outage %v", o)
			}
		}
	})
}
