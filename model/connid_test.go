package model

import (
	"net/netip"
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// The compact identity gives back exactly the EventID of the sample.
func TestConnIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fam      inetdiag.Family
		src, dst string
	}{
		{"IPv4", inetdiag.FamilyInet, "10.0.0.1:5432", "192.168.7.9:40000"},
		{"IPv6", inetdiag.FamilyInet6, "[2001:db8::1]:443", "[fe80::2]:51000"},
		{"IPv4-mapped IPv6", inetdiag.FamilyInet6, "[::ffff:10.0.0.1]:80", "[::ffff:127.0.0.1]:1"},
		{"unspecified", inetdiag.FamilyInet6, "[::]:0", "0.0.0.0:0"},
		{"unset", inetdiag.FamilyInet, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := inetdiag.Socket{Family: tc.fam, Inode: 4242}
			if tc.src != "" {
				s.ID.Src, s.ID.Dst = netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
			}
			s.ID.Cookie = 0xfeedface
			id := connIDOf(&s)
			if got, want := id.eventID(s.ID.Cookie), idOf(&s); got != want {
				t.Errorf("eventID = %+v, want %+v", got, want)
			}
		})
	}
}
