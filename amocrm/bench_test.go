package amocrm_test

import (
	"fmt"
	"testing"

	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/match"
)

// BenchmarkKnownContactCall measures a completed call of a known contact
// through the whole chain: Telphin webhooks (dial-in, answer, hangup) →
// telphin handler → match.Engine → Store → the fake amoCRM on localhost
// (2 requests per call), unthrottled.
func BenchmarkKnownContactCall(b *testing.B) {
	e := newEnv(b, envConfig{rule: match.DefaultRule(), noPopups: true})
	e.srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161111111"}, ResponsibleUserID: op2})
	var calls [][]urlValues
	for i := range b.N {
		calls = append(calls, call{fmt.Sprintf("5c%030d", i), "+79161111111", "101"}.inboundAnswered())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e.send(calls[i]...)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkCachedLookup measures FindClientByPhone answered by the phone →
// contact cache (no request).
func BenchmarkCachedLookup(b *testing.B) {
	e := newEnv(b, envConfig{rule: match.DefaultRule(), noPopups: true})
	e.srv.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161111111"}})
	ctx := b.Context()
	if _, _, err := e.store.FindClientByPhone(ctx, acct, "79161111111"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := e.store.FindClientByPhone(ctx, acct, "79161111111"); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
