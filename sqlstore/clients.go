package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
)

const clientCols = "seq, account, id, name, phone, channel, responsible, created_from_call, tags, fields, created_at"

type scanner interface{ Scan(dest ...any) error }

func scanClient(r scanner) (match.Client, int64, error) {
	var (
		c            match.Client
		seq, created int64
		id           sql.NullString
		tags, fields string
		channel      string
	)
	if err := r.Scan(&seq, &c.Account, &id, &c.Name, &c.Phone, &channel, &c.Responsible, &c.CreatedFromCall,
		&tags, &fields, &created); err != nil {
		return match.Client{}, 0, err
	}
	c.ID = id.String
	c.Channel = match.Channel(channel)
	c.CreatedAt = fromNanos(created)
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
		return match.Client{}, 0, fmt.Errorf("client %q tags: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(fields), &c.Fields); err != nil {
		return match.Client{}, 0, fmt.Errorf("client %q fields: %w", c.ID, err)
	}
	return c, seq, nil
}

func (d *DB) queryClients(ctx context.Context, q string, args ...any) ([]match.Client, error) {
	var out []match.Client
	err := d.read(ctx, q, func(st *sql.Stmt) error {
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, _, err := scanClient(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindClientByPhone implements match.ClientStore. A client's phone is
// unique in its account, so there is at most one.
func (d *DB) FindClientByPhone(ctx context.Context, account, phone string) (match.Client, bool, error) {
	if phone == "" {
		return match.Client{}, false, nil
	}
	row := d.queryRow(ctx, "SELECT "+clientCols+" FROM cb_clients WHERE account = $1 AND phone = $2 AND phone <> ''", account, phone)
	c, _, err := scanClient(row)
	if errors.Is(err, sql.ErrNoRows) {
		return match.Client{}, false, nil
	}
	if err != nil {
		return match.Client{}, false, wrap(err, "find client by phone")
	}
	return c, true, nil
}

// FindClient implements match.ClientGetter: Client.
func (d *DB) FindClient(ctx context.Context, account, id string) (match.Client, bool, error) {
	return d.Client(ctx, account, id)
}

// FindClientsByField implements match.ClientStore: up to limit clients with
// a field value that normalises to phone, in creation order, at most
// MaxPageLimit. The lookup uses an index of those values (table
// cb_client_phones).
func (d *DB) FindClientsByField(ctx context.Context, account, phone string, limit int) ([]match.Client, error) {
	if limit <= 0 || phone == "" {
		return nil, nil
	}
	cs, err := d.queryClients(ctx, "SELECT "+prefixCols("c.", clientCols)+
		" FROM cb_client_phones f JOIN cb_clients c ON c.seq = f.client_seq"+
		" WHERE f.account = $1 AND f.digits = $2 ORDER BY f.client_seq"+limitClause(min(limit, MaxPageLimit)), account, phone)
	return cs, wrap(err, "find clients by field")
}

// Client returns the client with id in account.
func (d *DB) Client(ctx context.Context, account, id string) (match.Client, bool, error) {
	row := d.queryRow(ctx, "SELECT "+clientCols+" FROM cb_clients WHERE account = $1 AND id = $2", account, id)
	c, _, err := scanClient(row)
	if errors.Is(err, sql.ErrNoRows) {
		return match.Client{}, false, nil
	}
	if err != nil {
		return match.Client{}, false, wrap(err, "client %q", id)
	}
	return c, true, nil
}

// Clients lists the clients of account in creation order, one page at a
// time.
func (d *DB) Clients(ctx context.Context, account string, page Page) ([]match.Client, error) {
	limit, offset := page.bounds()
	cs, err := d.queryClients(ctx, "SELECT "+clientCols+" FROM cb_clients WHERE account = $1 ORDER BY seq LIMIT $2 OFFSET $3",
		account, limit, offset)
	return cs, wrap(err, "list clients")
}

// CreateClient implements match.ClientStore. The phone and field values
// are normalised (WithDefaultCountry). A client whose phone already has a
// client in the account is not created: the existing client is returned,
// also when several processes create it at once (a unique index decides).
// An empty ID gets a generated one ("c" and a number); an ID already used
// in the account is an error. A client over the limits (match.MaxValueLen, …)
// is refused with an error wrapping match.ErrTooLarge.
func (d *DB) CreateClient(ctx context.Context, c match.Client) (match.Client, error) {
	c, _, err := d.FindOrCreateClient(ctx, c)
	return c, err
}

// FindOrCreateClient implements match.UniquePhones: CreateClient, which
// reports whether it created the client.
func (d *DB) FindOrCreateClient(ctx context.Context, c match.Client) (_ match.Client, created bool, err error) {
	nc, err := d.newClient(c)
	if err != nil {
		return match.Client{}, false, wrap(err, "create client")
	}
	tryInsert := true
	if d.writes == nil && nc.c.ID == "" && len(nc.phones) == 0 {
		// PostgreSQL (no group commit): a client with a free number and
		// nothing else to index is one statement on its own, not four
		// round trips (BEGIN, INSERT, its id, COMMIT). A number that has
		// a client, or a taken id, takes the transaction below.
		ok, err := d.insertClient(ctx, d.execRow, &nc)
		if err != nil {
			return match.Client{}, false, wrap(err, "create client")
		}
		if ok {
			return nc.c, true, nil
		}
		tryInsert = false
	}
	var out match.Client
	err = d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, created, err = d.createClient(ctx, tx, nc, tryInsert)
		return err
	})
	if err != nil {
		return match.Client{}, false, wrap(err, "create client")
	}
	return out, created, nil
}

// AddClients creates clients in one transaction, as CreateClient does (a
// client whose phone is taken is skipped), and stops at the first error,
// adding none: for imports and seeding.
func (d *DB) AddClients(ctx context.Context, cs ...match.Client) error {
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i, c := range cs {
			nc, err := d.newClient(c)
			if err == nil {
				_, _, err = d.createClient(ctx, tx, nc, true)
			}
			if err != nil {
				return fmt.Errorf("client %d (%q): %w", i, c.ID, err)
			}
		}
		return nil
	})
	return wrap(err, "add clients")
}

// newClient is a client as it is stored: validated, its phones
// normalised, its tags and fields copied and encoded.
type newClient struct {
	c            match.Client
	tags, fields string
	created      int64
	phones       []string // the distinct phones among the field values
	seq          int64    // once inserted
}

func (d *DB) newClient(c match.Client) (newClient, error) {
	if err := c.Validate(); err != nil {
		return newClient{}, err
	}
	if c.Phone != "" {
		p, err := phone.Normalize(c.Phone, d.cfg.country)
		if err != nil {
			return newClient{}, fmt.Errorf("client phone: %w", err)
		}
		c.Phone = p
	}
	if c.Channel == "" {
		c.Channel = match.ChannelTelephony
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = d.cfg.now()
	}
	c.CreatedAt = c.CreatedAt.UTC().Round(0) // as it will read back
	var tc times
	nc := newClient{created: tc.v("created_at", c.CreatedAt)}
	if tc.err != nil {
		return newClient{}, tc.err
	}
	c.Tags = slices.Clone(c.Tags)
	if c.Fields != nil {
		c.Fields = maps.Clone(c.Fields)
		nc.phones = d.fieldPhones(c.Fields)
	}
	tags, err := json.Marshal(c.Tags)
	if err != nil {
		return newClient{}, err
	}
	fields, err := json.Marshal(c.Fields)
	if err != nil {
		return newClient{}, err
	}
	nc.c, nc.tags, nc.fields = c, string(tags), string(fields)
	return nc, nil
}

// rowFunc runs a statement that returns a row: DB.execRow, or DB.txRow's
// in a transaction.
type rowFunc func(ctx context.Context, q string, args ...any) scanner

// txRow is txQueryRow in tx, as a rowFunc.
func (d *DB) txRow(tx *sql.Tx) rowFunc {
	return func(ctx context.Context, q string, args ...any) scanner { return d.txQueryRow(ctx, tx, q, args...) }
}

// insertClient inserts nc, which has no ID, with the id "c" and its seq, in
// one statement, and reports whether it did: not when the number has a
// client or a caller chose that id for another client. The unique indexes
// decide (ON CONFLICT without a target: any of them); a check in the
// statement would be planned once per connection, on PostgreSQL while the
// table may still be empty (a scan of the table ever after).
func (d *DB) insertClient(ctx context.Context, row rowFunc, nc *newClient) (bool, error) {
	// The seq the table would give: on SQLite the one after the greatest
	// ever used (AUTOINCREMENT's), the identity's next on PostgreSQL.
	next, overriding := "(SELECT COALESCE(MAX(seq), 0) + 1 FROM sqlite_sequence WHERE name = 'cb_clients')", ""
	if d.dialect == DialectPostgres {
		next, overriding = "nextval(pg_get_serial_sequence('cb_clients', 'seq'))", " OVERRIDING SYSTEM VALUE"
	}
	c := nc.c
	err := row(ctx, "INSERT INTO cb_clients (seq, account, id, name, phone, channel, responsible, created_from_call, tags, fields, created_at)"+overriding+
		" SELECT n.seq, $1, 'c' || n.seq, $2, $3, $4, $5, CAST($6 AS BOOLEAN), $7, $8, CAST($9 AS BIGINT) FROM (SELECT "+next+" AS seq) n"+
		" WHERE TRUE ON CONFLICT DO NOTHING RETURNING seq",
		c.Account, c.Name, c.Phone, string(c.Channel), c.Responsible, c.CreatedFromCall, nc.tags, nc.fields, nc.created).Scan(&nc.seq)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	nc.c.ID = "c" + strconv.FormatInt(nc.seq, 10)
	return true, nil
}

// createClient stores nc in tx: with insertClient when tryInsert and nc
// has no ID; else, or when that inserted nothing, with an insert that
// returns the number's client when it has one, and an id set apart.
func (d *DB) createClient(ctx context.Context, tx *sql.Tx, nc newClient, tryInsert bool) (_ match.Client, created bool, err error) {
	c := nc.c
	if tryInsert && c.ID == "" {
		ok, err := d.insertClient(ctx, d.txRow(tx), &nc)
		if err != nil {
			return match.Client{}, false, err
		}
		if ok {
			return nc.c, true, d.indexFieldPhones(ctx, tx, c.Account, nc.seq, nc.phones)
		}
	}
	if c.ID != "" {
		var one int
		err := d.txQueryRow(ctx, tx, "SELECT 1 FROM cb_clients WHERE account = $1 AND id = $2", c.Account, c.ID).Scan(&one)
		if err == nil {
			return match.Client{}, false, fmt.Errorf("client id %q already exists", c.ID)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return match.Client{}, false, err
		}
	}
	var id any
	if c.ID != "" {
		id = c.ID
	}
	var seq int64
	err = d.txQueryRow(ctx, tx, "INSERT INTO cb_clients (account, id, name, phone, channel, responsible, created_from_call, tags, fields, created_at)"+
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"+
		" ON CONFLICT (account, phone) WHERE phone <> '' DO NOTHING RETURNING seq",
		c.Account, id, c.Name, c.Phone, string(c.Channel), c.Responsible, c.CreatedFromCall, nc.tags, nc.fields, nc.created).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		// The phone has a client already (perhaps created by another
		// process a moment ago): that is the client.
		row := d.txQueryRow(ctx, tx, "SELECT "+clientCols+" FROM cb_clients WHERE account = $1 AND phone = $2 AND phone <> ''", c.Account, c.Phone)
		existing, _, err := scanClient(row)
		return existing, false, err
	}
	if err != nil {
		return match.Client{}, false, err
	}
	if c.ID == "" {
		if c.ID, err = d.setID(ctx, tx, "cb_clients", c.Account, "c", seq); err != nil {
			return match.Client{}, false, err
		}
	}
	if err := d.indexFieldPhones(ctx, tx, c.Account, seq, nc.phones); err != nil {
		return match.Client{}, false, err
	}
	return c, true, nil
}

// fieldPhones returns the distinct phones among the field values,
// normalised.
func (d *DB) fieldPhones(fields map[string]string) []string {
	var out []string
	for _, v := range fields {
		if p, err := phone.Normalize(v, d.cfg.country); err == nil && p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// indexFieldPhones adds the phones of a client's field values
// (fieldPhones) to the side table.
func (d *DB) indexFieldPhones(ctx context.Context, tx *sql.Tx, account string, seq int64, phones []string) error {
	for _, p := range phones {
		if _, err := d.txExec(ctx, tx, "INSERT INTO cb_client_phones (account, digits, client_seq) VALUES ($1, $2, $3)",
			account, p, seq); err != nil {
			return err
		}
	}
	return nil
}

// SetClientFields implements match.ClientUpdater.
func (d *DB) SetClientFields(ctx context.Context, account, id string, fields map[string]string) error {
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		row := d.txQueryRow(ctx, tx, "SELECT "+clientCols+" FROM cb_clients WHERE account = $1 AND id = $2", account, id)
		c, seq, err := scanClient(row)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no client %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		f := match.MergeFields(c.Fields, fields)
		c.Fields = f
		if err := c.Validate(); err != nil {
			return err
		}
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		if _, err := d.txExec(ctx, tx, "UPDATE cb_clients SET fields = $1 WHERE seq = $2", string(b), seq); err != nil {
			return err
		}
		if _, err := d.txExec(ctx, tx, "DELETE FROM cb_client_phones WHERE client_seq = $1", seq); err != nil {
			return err
		}
		return d.indexFieldPhones(ctx, tx, c.Account, seq, d.fieldPhones(f))
	})
	return wrap(err, "set client fields of %q", id)
}

// AddDialogNotes implements match.Dialog.
func (d *DB) AddDialogNotes(ctx context.Context, account, clientID string, notes []match.DialogNote) error {
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, n := range notes {
			var tc times
			at := tc.v("at", n.At)
			if tc.err != nil {
				return tc.err
			}
			if _, err := d.txExec(ctx, tx, "INSERT INTO cb_dialog (account, client_id, provider, call_id, text, at) VALUES ($1, $2, $3, $4, $5, $6)"+
				" ON CONFLICT (account, client_id, provider, call_id, text) DO NOTHING",
				account, clientID, n.Provider, n.CallID, n.Text, at); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err, "dialog notes of %q", clientID)
}

// DialogNotes lists the dialog of the client of account with id, oldest
// first, one page at a time.
func (d *DB) DialogNotes(ctx context.Context, account, id string, page Page) ([]match.DialogNote, error) {
	limit, offset := page.bounds()
	rows, err := d.query(ctx, "SELECT provider, call_id, text, at FROM cb_dialog WHERE account = $1 AND client_id = $2"+
		" ORDER BY seq LIMIT $3 OFFSET $4", account, id, limit, offset)
	if err != nil {
		return nil, wrap(err, "list dialog notes")
	}
	defer rows.Close()
	var out []match.DialogNote
	for rows.Next() {
		var n match.DialogNote
		var at int64
		if err := rows.Scan(&n.Provider, &n.CallID, &n.Text, &at); err != nil {
			return nil, wrap(err, "list dialog notes")
		}
		n.At = fromNanos(at)
		out = append(out, n)
	}
	return out, wrap(rows.Err(), "list dialog notes")
}

// setID gives the row seq of table (a row of account) the id prefix+seq,
// or that with a suffix if a caller chose that id for another row of the
// account, and returns it: one statement unless the id is taken.
func (d *DB) setID(ctx context.Context, tx *sql.Tx, table, account, prefix string, seq int64) (string, error) {
	id := prefix + strconv.FormatInt(seq, 10)
	res, err := d.txExec(ctx, tx, "UPDATE "+table+" SET id = $1 WHERE seq = $2"+
		" AND NOT EXISTS (SELECT 1 FROM "+table+" WHERE account = $3 AND id = $4)", id, seq, account, id)
	if err != nil {
		return "", err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return id, err
	}
	if id, err = d.freeID(ctx, tx, table, account, id); err != nil {
		return "", err
	}
	_, err = d.txExec(ctx, tx, "UPDATE "+table+" SET id = $1 WHERE seq = $2", id, seq)
	return id, err
}

// freeID returns base with the first suffix ("-1", "-2", …) no row of
// account in table has as its id.
func (d *DB) freeID(ctx context.Context, tx *sql.Tx, table, account, base string) (string, error) {
	for n := 1; ; n++ {
		id := base + "-" + strconv.Itoa(n)
		var one int
		err := d.txQueryRow(ctx, tx, "SELECT 1 FROM "+table+" WHERE account = $1 AND id = $2", account, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return id, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// leadCols are the columns scanLead reads. A lead without a client has
// client_id NULL (the foreign key to cb_clients does not apply) and its
// phone; a lead of a client has an empty phone.
const leadCols = "id, account, client_id, phone, name, pipeline, status, state, source, provider, call_id, responsible, created_at"

func scanLead(r scanner) (match.Lead, error) {
	var (
		l            match.Lead
		id, clientID sql.NullString
		state        int
		created      int64
	)
	if err := r.Scan(&id, &l.Account, &clientID, &l.Phone, &l.Name, &l.Pipeline, &l.Status, &state, &l.Source,
		&l.Provider, &l.CallID, &l.Responsible, &created); err != nil {
		return match.Lead{}, err
	}
	l.ID, l.ClientID = id.String, clientID.String
	l.State = match.LeadState(state)
	l.CreatedAt = fromNanos(created)
	return l, nil
}

func (d *DB) queryLeads(ctx context.Context, q string, args ...any) ([]match.Lead, error) {
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []match.Lead
	for rows.Next() {
		l, err := scanLead(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// ClientLeads implements match.LeadStore: the client's leads, newest
// first. The leads without a client are no client's: ClientLeads of ""
// returns none (see PhoneLeads).
func (d *DB) ClientLeads(ctx context.Context, account, clientID string) ([]match.Lead, error) {
	ls, err := d.queryLeads(ctx, "SELECT "+leadCols+" FROM cb_leads WHERE account = $1 AND client_id = $2 ORDER BY seq DESC",
		account, clientID)
	return ls, wrap(err, "client leads")
}

// phoneLeadsQuery reads the leads of an account without a client with a
// phone, newest first, from the partial index cb_leads_phone (migration
// 0009), which needs the query to say client_id IS NULL.
const phoneLeadsQuery = "SELECT " + leadCols + " FROM cb_leads WHERE account = $1 AND phone = $2 AND client_id IS NULL ORDER BY seq DESC"

// PhoneLeads implements match.PhoneLeads: the leads of account without a
// client whose phone is phone (normalised, as CreateLead stores it),
// newest first.
func (d *DB) PhoneLeads(ctx context.Context, account, phone string) ([]match.Lead, error) {
	if phone == "" {
		return nil, nil
	}
	ls, err := d.queryLeads(ctx, phoneLeadsQuery, account, phone)
	return ls, wrap(err, "leads of phone %s", phone)
}

// Leads lists the leads of account in creation order, one page at a time.
func (d *DB) Leads(ctx context.Context, account string, page Page) ([]match.Lead, error) {
	limit, offset := page.bounds()
	ls, err := d.queryLeads(ctx, "SELECT "+leadCols+" FROM cb_leads WHERE account = $1 ORDER BY seq LIMIT $2 OFFSET $3",
		account, limit, offset)
	return ls, wrap(err, "list leads")
}

// CreateLead implements match.LeadStore. An empty ID gets a generated one
// ("l" and a number); a lead of a client the account does not have is an
// error wrapping ErrNotFound.
//
// A lead without a client (empty ClientID) needs a Phone (match.PhoneLeads):
// it is normalised like client phones (WithDefaultCountry), and one that
// is not a number is an error. Without a Phone such a lead is refused as
// one of the unknown client "" (ErrNotFound). The Phone of a lead of a
// client is dropped: it is stored with an empty Phone, found by
// ClientLeads only.
//
// CreateLead is idempotent by call: when l.CallID is not empty and the
// account already has a lead with l's Provider and CallID, it creates
// nothing and returns that lead as stored, whatever l's ID and other
// values, also when several processes create it at once (a unique index
// decides).
func (d *DB) CreateLead(ctx context.Context, l match.Lead) (match.Lead, error) {
	long := func(s string) bool { return len(s) > match.MaxValueLen }
	if long(l.ID) || long(l.Account) || long(l.ClientID) || long(l.Name) || long(l.Pipeline) || long(l.Status) ||
		long(l.Source) || long(l.Provider) || long(l.CallID) || long(l.Responsible) {
		return match.Lead{}, fmt.Errorf("sqlstore: create lead: %w: a value is longer than %d bytes", match.ErrTooLarge, match.MaxValueLen)
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = d.cfg.now()
	}
	l.CreatedAt = l.CreatedAt.UTC().Round(0) // as it will read back
	var tc times
	created := tc.v("created_at", l.CreatedAt)
	if tc.err != nil {
		return match.Lead{}, wrap(tc.err, "create lead")
	}
	out := l
	err := d.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if found, err := d.callsLead(ctx, tx, l, &out); found || err != nil {
			return err
		}
		var (
			one      int
			clientID any // NULL for a lead without a client
		)
		if l.ClientID != "" || l.Phone == "" {
			err := d.txQueryRow(ctx, tx, "SELECT 1 FROM cb_clients WHERE account = $1 AND id = $2", l.Account, l.ClientID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("client %q: %w", l.ClientID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			clientID, l.Phone = l.ClientID, "" // a lead of a client is found by the client
		} else {
			p, err := phone.Normalize(l.Phone, d.cfg.country)
			if err != nil {
				return fmt.Errorf("lead phone: %w", err)
			}
			l.Phone = p
		}
		if l.ID != "" {
			err := d.txQueryRow(ctx, tx, "SELECT 1 FROM cb_leads WHERE account = $1 AND id = $2", l.Account, l.ID).Scan(&one)
			if err == nil {
				// Another process may have created the call's lead, with
				// this ID, since the look-up above.
				if found, err := d.callsLead(ctx, tx, l, &out); found || err != nil {
					return err
				}
			}
			if err == nil {
				return fmt.Errorf("lead id %q already exists", l.ID)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var id any
		if l.ID != "" {
			id = l.ID
		}
		var seq int64
		err := d.txQueryRow(ctx, tx, "INSERT INTO cb_leads (account, id, client_id, phone, name, pipeline, status, state, source, provider, call_id, responsible, created_at)"+
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"+
			" ON CONFLICT (account, provider, call_id) WHERE call_id <> '' DO NOTHING RETURNING seq",
			l.Account, id, clientID, l.Phone, l.Name, l.Pipeline, l.Status, int(l.State), l.Source, l.Provider, l.CallID, l.Responsible, created).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			// The call has a lead already, created by another process
			// after the look-up above (on PostgreSQL the insert waited
			// for it to commit): that is the lead.
			out, err = d.leadByCall(ctx, tx, l.Account, l.Provider, l.CallID)
			return err
		}
		if err != nil {
			return err
		}
		if l.ID == "" {
			if l.ID, err = d.setID(ctx, tx, "cb_leads", l.Account, "l", seq); err != nil {
				return err
			}
		}
		out = l
		return nil
	})
	if err != nil {
		return match.Lead{}, wrap(err, "create lead")
	}
	return out, nil
}

// callsLead reads into out the lead l's call has created already, if l
// has a call and the call a lead.
func (d *DB) callsLead(ctx context.Context, tx *sql.Tx, l match.Lead, out *match.Lead) (found bool, err error) {
	if l.CallID == "" {
		return false, nil
	}
	existing, err := d.leadByCall(ctx, tx, l.Account, l.Provider, l.CallID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	*out = existing
	return true, nil
}

// leadByCall reads the lead of account created by the call.
func (d *DB) leadByCall(ctx context.Context, tx *sql.Tx, account, provider, callID string) (match.Lead, error) {
	return scanLead(d.txQueryRow(ctx, tx, "SELECT "+leadCols+" FROM cb_leads WHERE account = $1 AND provider = $2 AND call_id = $3 AND call_id <> ''",
		account, provider, callID))
}

// ReopenLead implements match.LeadStore: the lead gets status and becomes
// open. An unknown lead is an error wrapping ErrNotFound.
func (d *DB) ReopenLead(ctx context.Context, account, leadID, status string) (match.Lead, error) {
	if len(status) > match.MaxValueLen {
		return match.Lead{}, fmt.Errorf("sqlstore: reopen lead %q: %w: status is longer than %d bytes", leadID, match.ErrTooLarge, match.MaxValueLen)
	}
	unlock, err := d.lockWrite(ctx)
	if err != nil {
		return match.Lead{}, wrap(err, "reopen lead %q", leadID)
	}
	row := d.db.QueryRowContext(ctx, "UPDATE cb_leads SET status = $1, state = $2 WHERE account = $3 AND id = $4 RETURNING "+leadCols,
		status, int(match.LeadOpen), account, leadID)
	l, err := scanLead(row)
	unlock()
	if errors.Is(err, sql.ErrNoRows) {
		return match.Lead{}, fmt.Errorf("sqlstore: reopen lead %q: %w", leadID, ErrNotFound)
	}
	if err != nil {
		return match.Lead{}, wrap(err, "reopen lead %q", leadID)
	}
	return l, nil
}

// SetClientResponsible implements match.Reassigner.
func (d *DB) SetClientResponsible(ctx context.Context, account, id, employee string) error {
	return wrap(d.setResponsible(ctx, "cb_clients", account, id, employee), "set the responsible of client %q", id)
}

// SetLeadResponsible implements match.Reassigner.
func (d *DB) SetLeadResponsible(ctx context.Context, account, id, employee string) error {
	return wrap(d.setResponsible(ctx, "cb_leads", account, id, employee), "set the responsible of lead %q", id)
}

// setResponsible sets the responsible of the row of table (clients or
// leads) with account and id; ErrNotFound when there is none.
func (d *DB) setResponsible(ctx context.Context, table, account, id, employee string) error {
	res, err := d.exec(ctx, "UPDATE "+table+" SET responsible = $1 WHERE account = $2 AND id = $3", employee, account, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}
