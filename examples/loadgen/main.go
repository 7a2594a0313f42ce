// Command loadgen sends a bounded load of realistic webhook notifications
// of every provider (Telphin, MegaFon, Phonet, Finaz, built with the
// <provider>test builders) to a running CRM gateway (examples/crm) on this
// machine, then reports throughput, p50/p99 latency and lost calls, and
// compares with a bare net/http handler that only reads the body, measured
// in the same run:
//
//	go build -o crm ./examples/crm
//	CRM_HOOK_TOKEN=load MEGAFON_CRM_TOKEN=load CRM_API_TOKEN=load ./crm >/dev/null &
//	CRM_API_TOKEN=load go run ./examples/loadgen -n 200000 -c 16 -hook-token load -megafon-token load
//	kill %1
//
// A lost call is one whose every notification the gateway accepted but
// that GET /api/calls does not list (see Report); the gateway offers no
// per-event view, so the per-event check (delivered events vs the
// gateway's per-event log lines) is in the in-process TestLoad.
// Only loopback targets are accepted; the run stops by itself after -n
// events (at most 1,000,000).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// run is the command: flags in args (tokens also from getenv), the report
// on stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "gateway URL (loopback only)")
	fs.IntVar(&cfg.Events, "n", 20_000, fmt.Sprintf("events to send (at most %d)", MaxEvents))
	fs.IntVar(&cfg.Connections, "c", 16, fmt.Sprintf("concurrent connections (at most %d)", MaxConnections))
	// Tokens are not flag defaults (-h prints defaults): the environment
	// fills what the flags leave empty.
	fs.StringVar(&cfg.HookToken, "hook-token", "", "the gateway's hook token (default $CRM_HOOK_TOKEN)")
	fs.StringVar(&cfg.MegafonToken, "megafon-token", "", "the gateway's MegaFon crm_token (default $MEGAFON_CRM_TOKEN)")
	fs.StringVar(&cfg.APIToken, "api-token", "", "the gateway's API token, to read GET /api/calls (default $CRM_API_TOKEN)")
	fs.DurationVar(&cfg.Wait, "wait", 30*time.Second, "how long to wait for the calls to be stored")
	fs.BoolVar(&cfg.Baseline, "baseline", true, "also measure a bare net/http handler that only reads the body")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	for _, v := range []struct {
		p   *string
		env string
	}{{&cfg.HookToken, "CRM_HOOK_TOKEN"}, {&cfg.MegafonToken, "MEGAFON_CRM_TOKEN"}, {&cfg.APIToken, "CRM_API_TOKEN"}} {
		if *v.p == "" {
			*v.p = getenv(v.env)
		}
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Print(stdout, cfg)
	if rep.Lost > 0 {
		return fmt.Errorf("%d calls lost", rep.Lost)
	}
	return nil
}
