package wire

import "testing"

func BenchmarkDecodeVerify(b *testing.B) {
	raw := fixturePackets(b)[1]
	b.ReportAllocs()
	for b.Loop() {
		p, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := Verify(p, fixtureKeys); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	p, _ := Decode(fixturePackets(b)[1])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(p.Msg, fixtureKeys, Netstring); err != nil {
			b.Fatal(err)
		}
	}
}
