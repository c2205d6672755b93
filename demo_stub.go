package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tcpwatch/tcpwatch/query"
)

func runDemo(ctx context.Context, o *options, q query.Query, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "tcpwatch: demo not built yet")
	return 1
}
