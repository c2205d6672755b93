package query

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary expressions to the filter syntax that users
// type at the / prompt and in -f: it must answer with a query or an error,
// never panic; a query it accepts must compile into kernel bytecode or say
// why not; and the text it keeps must parse again into the same request.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "port 5432", ":443", "sport 8000-8100 dport 443", "src 10.0.0.0/8 dst fd00::/64",
		"10.1.2.3", "state established state close-wait", "health retransmitting", "dying",
		"unhealthy comm nginx", "5432 6379", "port 1-65535 port 80", "dst ::ffff:10.0.0.1",
		"port", "port 0", "src 10.0.0.0/33", "state bogus", "PORT 22 State Syn-Sent",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		q, err := Parse(expr)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse(%q): empty error", expr)
			}
			return
		}
		bc, err := q.Request().Filter.Bytecode()
		if err != nil {
			if !strings.Contains(err.Error(), "bytecode") {
				t.Fatalf("Parse(%q): bytecode error that does not say so: %v", expr, err)
			}
			return
		}
		again, err := Parse(q.String())
		if err != nil {
			t.Fatalf("Parse(%q) accepted, its text %q refused: %v", expr, q.String(), err)
		}
		bc2, _ := again.Request().Filter.Bytecode()
		if string(bc) != string(bc2) || again.Request().States != q.Request().States {
			t.Fatalf("Parse(%q) and Parse of its text %q give different kernel requests", expr, q.String())
		}
	})
}
