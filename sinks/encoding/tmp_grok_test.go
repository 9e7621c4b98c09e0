package encoding

import "testing"

func BenchmarkTmpGrok(b *testing.B) {
	text := []byte("Message       OS-WINDOWS Microsoft Windows SMB remote code execution attempt\nReference     CVE-2017-0146\nPacket type   TCP\nLocal IP:     192.168.0.3\nLocal Port:   123\nLocal MAC:    00:50:b6:90:9e:e3\nRemote IP:    192.168.0.2\nRemote Port:  789\nRemote MAC:   00:1C:B3:09:85:15\nPID:          2468\nExecutable:   C:\\Program Files\\Bad Vendor\\Bad Program.exe\nVersion:      7.6.5\nSigner:       PositiveSSL CA 2\nSHA-256:      19648CE85F07F4DEC80C4B37266C31A1025DAB5318DFF5C1AB1F65A7E7886B3C")
	var m []int
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m = alertRawData[0].match(text, m[:0])
	}
	if m == nil {
		b.Fatal("no match")
	}
}
