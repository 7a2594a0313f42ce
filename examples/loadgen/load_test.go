package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/examples/crm/gateway"
)

// startGateway serves a gateway in this process on a random loopback port.
func startGateway(t *testing.T) string {
	t.Helper()
	clients, err := os.ReadFile("../crm/testdata/clients.json")
	require.NoError(t, err)
	g, err := gateway.New(gateway.Config{HookToken: "load", MegafonToken: "load-mf", DefaultClients: clients}, io.Discard)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "http://" + ln.Addr().String()
}

// A small load through the whole gateway: nothing refused, nothing lost.
// The big run is the command in the README.
func TestLoad(t *testing.T) {
	url := startGateway(t)
	cfg := Config{URL: url, Events: 2000, Connections: 8, HookToken: "load", MegafonToken: "load-mf", Wait: 20 * time.Second, Baseline: true}
	rep, err := Run(t.Context(), cfg)
	require.NoError(t, err)
	var out bytes.Buffer
	rep.Print(&out, cfg)
	t.Log("\n" + out.String())

	require.Equal(t, 2000, rep.Gateway.Events)
	require.Zero(t, rep.Gateway.Failed, rep.Gateway.FirstErr)
	// 166 rounds of Telphin (3), MegaFon (4), Phonet (4) and Finaz (1)
	// notifications, then a Telphin and a MegaFon call and a cut Phonet one.
	require.Equal(t, 166*4+2, rep.Expected)
	require.Equal(t, rep.Expected, rep.Stored)
	require.Zero(t, rep.Lost)
	require.NotNil(t, rep.Baseline)
	require.Equal(t, 2000, rep.Baseline.Events)
	require.Zero(t, rep.Baseline.Failed)
	require.Positive(t, rep.Gateway.P99)
}

// A wrong token: every notification is refused (401), so none is
// expected to be stored and none is lost.
func TestLoadRefused(t *testing.T) {
	url := startGateway(t)
	rep, err := Run(t.Context(), Config{URL: url, Events: 24, Connections: 2, HookToken: "wrong", MegafonToken: "wrong", Wait: time.Second})
	require.NoError(t, err)
	require.Equal(t, 24, rep.Gateway.Failed)
	require.Contains(t, rep.Gateway.FirstErr, "401 Unauthorized")
	require.Zero(t, rep.Expected)
	require.Nil(t, rep.Baseline)
}

func TestConfigBounds(t *testing.T) {
	t.Parallel()
	ok := Config{URL: "http://127.0.0.1:8080", Events: 10, Connections: 1, HookToken: "a", MegafonToken: "b"}
	require.NoError(t, ok.validate())
	for _, u := range []string{"http://localhost:1", "http://[::1]:8080/"} {
		c := ok
		c.URL = u
		require.NoError(t, c.validate(), u)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "http://example.com" }, "only loopback"},
		{func(c *Config) { c.URL = "http://10.0.0.1:8080" }, "only loopback"},
		{func(c *Config) { c.URL = "ftp://127.0.0.1" }, "want http://"},
		{func(c *Config) { c.Events = 0 }, "-n 0"},
		{func(c *Config) { c.Events = MaxEvents + 1 }, "-n 1000001"},
		{func(c *Config) { c.Connections = 0 }, "-c 0"},
		{func(c *Config) { c.Connections = MaxConnections + 1 }, "-c 513"},
		{func(c *Config) { c.HookToken = "" }, "-hook-token"},
	} {
		c := ok
		tc.mod(&c)
		require.ErrorContains(t, c.validate(), tc.want)
	}
}

func TestWorkload(t *testing.T) {
	t.Parallel()
	calls := workload(13, 7, "h", "m")
	var providers []string
	n := 0
	for _, c := range calls {
		providers = append(providers, c.provider)
		n += len(c.reqs)
	}
	require.Equal(t, 13, n)
	require.Equal(t, []string{"telphin", "megafon", "phonet", "finaz", "telphin"}, providers)
	require.Empty(t, calls[4].id, "a cut call is not expected to be stored")
	require.Len(t, calls[4].reqs, 1)
	// Ids differ between calls and runs.
	other := workload(13, 8, "h", "m")
	require.NotEqual(t, calls[0].id, calls[4].id)
	require.NotEqual(t, calls[0].id, other[0].id)
}

func TestRunCommand(t *testing.T) {
	url := startGateway(t)
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-url", url, "-n", "48", "-c", "4", "-hook-token", "load", "-megafon-token", "load-mf", "-baseline=false"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "stored    16 of 16 accepted calls")
	require.NotContains(t, stdout.String(), "baseline")

	err := run(t.Context(), []string{"-url", "http://192.0.2.1:80", "-hook-token", "a", "-megafon-token", "b"}, &stdout, &stderr)
	require.ErrorContains(t, err, "only loopback")
	require.NoError(t, run(t.Context(), []string{"-h"}, &stdout, &stderr))
	require.True(t, strings.Contains(stderr.String(), "-megafon-token"))
}
