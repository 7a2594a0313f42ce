// Package riverbench measures riverqueue/river against sqlstore.Inbox as
// the durable queue behind a webhook handler, on a local PostgreSQL. It is
// a module of its own so that callbridge does not depend on river; the
// measurement is TestRiverVersusInbox (see README.md).
package riverbench
