// Command crm is callbridge's reference CRM telephony gateway: every
// provider's webhook, an in-memory CRM that resolves and creates clients,
// logs calls and leads and answers the providers' lookups, click-to-call
// and a small JSON API. With no configuration it listens on
// 127.0.0.1:8080, keeps the CRM in the SQLite file callbridge.db in the
// working directory (-db, CRM_DB; a postgres:// URL for PostgreSQL,
// -db :memory: for memory only) and seeds it from the embedded
// testdata/clients.json (clients it has already are kept as they are):
//
//	go run ./examples/crm          # webhook URLs on stderr, one JSON line per event on stdout
//	go run ./examples/crm -db :memory:   # nothing written to disk, nothing kept at exit
//	go run ./examples/crm -demo    # the fakes in-process: open the printed login link of a demo employee
//	go run ./examples/crm -h       # flags and environment variables
//
// The gateway itself is package github.com/callbridge/callbridge/examples/crm/gateway.
//
// Unless the GOGC environment variable says otherwise, the gateway runs
// the garbage collector at GOGC=400: it keeps every call in memory, and
// collecting less often buys about 15% more events per second on two cores
// for a few times the heap.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

//go:embed testdata/clients.json
var clients []byte

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The command's database is DefaultDB unless -db, CRM_DB or the
	// configuration file says otherwise (the gateway package itself
	// defaults to memory).
	def := gateway.Defaults{Clients: clients, DB: gateway.DefaultDB, Stdin: os.Stdin}
	if err := gateway.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, def); err != nil {
		fmt.Fprintln(os.Stderr, "crm:", err)
		os.Exit(1)
	}
}
