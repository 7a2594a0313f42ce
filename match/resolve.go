package match

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/singleflight"
)

// matchKind says how the resolver found a client.
type matchKind uint8

// Match kinds.
const (
	// matchNone: no client has the phone.
	matchNone matchKind = iota
	// matchPhone: a client's telephony number is the phone (step 1).
	matchPhone
	// matchField: another field or variable of a client holds the phone (step 2).
	matchField
	// matchCreated: the resolver created the client (step 3).
	matchCreated
	// matchRef: the provider named the client (Event.ContactRef).
	matchRef
)

var matchNames = [...]string{"none", "phone", "field", "created", "ref"}

// String returns "none", "phone", "field", "created" or "ref".
func (k matchKind) String() string {
	if int(k) < len(matchNames) {
		return matchNames[k]
	}
	return fmt.Sprintf("matchKind(%d)", k)
}

// maxFieldMatches bounds how many field matches are asked for, to report
// ambiguity without reading every client.
const maxFieldMatches = 8

// resolution is the result of resolver.Resolve.
type resolution struct {
	Client Client
	Match  matchKind
	// Others holds the ids of further clients whose fields also matched
	// (at most 7): the phone is ambiguous and Client won by order.
	Others []string
}

// Found reports whether a client was found or created.
func (r resolution) Found() bool { return r.Match != matchNone }

// newClient describes the client resolver.Resolve creates for an unknown
// number.
type newClient struct {
	Name        string
	Responsible string
	Tags        []string
	// Messenger is the account's messenger channel, "" when it has none:
	// the client is created in that channel, else as a telephony client.
	Messenger Channel
}

// resolver finds the client of a phone in Salebot's order:
//
//  1. a client whose telephony number (Client.Phone) is the phone;
//  2. else a client with any field or variable holding the phone — the
//     first in the store's stable order wins, and the others are reported;
//  3. else, when asked to, a new client: in the account's messenger
//     channel (e.g. WhatsApp) when it has one, else a telephony client.
//
// Phones compare after phone.Normalize, so "8 916 123-45-67",
// "+79161234567" and "79161234567" are one client. Concurrent resolutions
// of one unknown phone in one account create exactly one client: they are
// merged (singleflight), and the store is asked again before creating
// (in the same step when it is a UniquePhones). The
// merged work is not tied to any one caller: a caller whose ctx ends gets
// ctx's error at once, while the others still get the result. A resolver
// is safe for concurrent use.
type resolver struct {
	clients ClientStore
	unique  UniquePhones // nil unless the store is one
	country string
	group   singleflight.Group
}

// newResolver returns a resolver over clients, normalising phones with
// defaultCountry ("" = RU); unique, if not nil, is clients as a
// UniquePhones.
func newResolver(clients ClientStore, unique UniquePhones, defaultCountry string) (*resolver, error) {
	if clients == nil {
		return nil, errors.New("nil ClientStore")
	}
	if _, err := normalize("79161234567", defaultCountry); err != nil {
		return nil, err
	}
	return &resolver{clients: clients, unique: unique, country: defaultCountry}, nil
}

// Resolve finds the client of phone in account, creating one as described
// by create when none exists and create is not nil. phone may be in any
// form phone.Normalize accepts; an anonymous, internal or invalid number
// is phone.Normalize's error (phone.ErrAnonymous, ErrInternal, ErrInvalid;
// use errors.Is). A store error is returned wrapped; it never counts as
// "not found".
func (r *resolver) Resolve(ctx context.Context, account, phone string, create *newClient) (resolution, error) {
	p, err := normalize(phone, r.country)
	if err != nil {
		return resolution{}, err
	}
	res, err := r.find(ctx, account, p)
	if err != nil || res.Found() || create == nil {
		return res, err
	}
	return r.create(ctx, account, p, create)
}

// create creates the client of the normalised phone p, which a find has
// just missed, unless another caller (this engine or another process) has
// created it meanwhile. Callers of one account and phone share one flight.
func (r *resolver) create(ctx context.Context, account, p string, create *newClient) (resolution, error) {
	// The flight runs on a context that no caller's cancellation ends:
	// when the first caller gives up, the others still wait for the
	// result, each only as long as its own ctx allows.
	leader := false
	flight := context.WithoutCancel(ctx)
	ch := r.group.DoChan(account+"\x00"+p, func() (any, error) {
		leader = true
		channel := create.Messenger
		if channel == "" {
			channel = ChannelTelephony
		}
		c := Client{
			Account:         account,
			Name:            create.Name,
			Phone:           p,
			Channel:         channel,
			Responsible:     create.Responsible,
			CreatedFromCall: true,
			Tags:            create.Tags,
		}
		if r.unique != nil {
			c, created, err := r.unique.FindOrCreateClient(flight, c)
			if err != nil {
				return resolution{}, fmt.Errorf("match: create client: %w", err)
			}
			if !created { // by a concurrent call: found
				return resolution{Client: c, Match: matchPhone}, nil
			}
			return resolution{Client: c, Match: matchCreated}, nil
		}
		// Ask again: another resolution may have created the client
		// between our find and this flight. A resolution creates a client
		// with the phone as its number, so the number is what is asked:
		// steps 1 and 2 have just been run by the caller.
		res, err := r.findByPhone(flight, account, p)
		if err != nil || res.Found() {
			return res, err
		}
		c, err = r.clients.CreateClient(flight, c)
		if err != nil {
			return resolution{}, fmt.Errorf("match: create client: %w", err)
		}
		return resolution{Client: c, Match: matchCreated}, nil
	})
	var v any
	select {
	case <-ctx.Done():
		return resolution{}, fmt.Errorf("match: resolve: %w", ctx.Err())
	case out := <-ch:
		if out.Err != nil {
			return resolution{}, out.Err
		}
		v = out.Val
	}
	res := v.(resolution)
	if !leader && res.Match == matchCreated {
		// Someone else's flight created it: for this caller it was found.
		res.Match = matchPhone
	}
	return res, nil
}

// findByPhone runs step 1 for a normalised phone.
func (r *resolver) findByPhone(ctx context.Context, account, p string) (resolution, error) {
	c, ok, err := r.clients.FindClientByPhone(ctx, account, p)
	if err != nil {
		return resolution{}, fmt.Errorf("match: find client by phone: %w", err)
	}
	if !ok {
		return resolution{}, nil
	}
	return resolution{Client: c, Match: matchPhone}, nil
}

// find runs steps 1 and 2 for a normalised phone.
func (r *resolver) find(ctx context.Context, account, p string) (resolution, error) {
	res, err := r.findByPhone(ctx, account, p)
	if err != nil || res.Found() {
		return res, err
	}
	cs, err := r.clients.FindClientsByField(ctx, account, p, maxFieldMatches)
	if err != nil {
		return resolution{}, fmt.Errorf("match: find client by field: %w", err)
	}
	if len(cs) == 0 {
		return resolution{}, nil
	}
	res = resolution{Client: cs[0], Match: matchField}
	for _, o := range cs[1:] {
		res.Others = append(res.Others, o.ID)
	}
	return res, nil
}
