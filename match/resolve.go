package match

import (
	"context"
	"fmt"

	"golang.org/x/sync/singleflight"
)

// MatchKind says how the resolver found a client.
type MatchKind uint8

// Match kinds.
const (
	// MatchNone: no client has the phone.
	MatchNone MatchKind = iota
	// MatchPhone: a client's telephony number is the phone (step 1).
	MatchPhone
	// MatchField: another field or variable of a client holds the phone (step 2).
	MatchField
	// MatchCreated: the resolver created the client (step 3).
	MatchCreated
)

var matchNames = [...]string{"none", "phone", "field", "created"}

// String returns "none", "phone", "field" or "created".
func (k MatchKind) String() string {
	if int(k) < len(matchNames) {
		return matchNames[k]
	}
	return fmt.Sprintf("MatchKind(%d)", k)
}

// maxFieldMatches bounds how many field matches are asked for, to report
// ambiguity without reading every client.
const maxFieldMatches = 8

// Resolution is the result of Resolve.
type Resolution struct {
	Client Client
	Match  MatchKind
	// Others holds the ids of further clients whose fields also matched
	// (at most 7): the phone is ambiguous and Client won by order.
	Others []string
}

// Found reports whether a client was found or created.
func (r Resolution) Found() bool { return r.Match != MatchNone }

// NewClient describes the client Resolve creates for an unknown number.
type NewClient struct {
	Name        string
	Responsible string
	Tags        []string
	// Messenger is the account's messenger channel, "" when it has none:
	// the client is created in that channel, else as a telephony client.
	Messenger Channel
}

// Resolver finds the client of a phone in Salebot's order:
//
//  1. a client whose telephony number (Client.Phone) is the phone;
//  2. else a client with any field or variable holding the phone — the
//     first in the store's stable order wins, and the others are reported;
//  3. else, when asked to, a new client: in the account's messenger
//     channel (e.g. WhatsApp) when it has one, else a telephony client.
//
// Phones compare after Normalize, so "8 916 123-45-67", "+79161234567" and
// "79161234567" are one client. Concurrent resolutions of one unknown phone
// in one account create exactly one client: they are merged
// (singleflight), and the store is asked again before creating. The
// merged work is not tied to any one caller: a caller whose ctx ends gets
// ctx's error at once, while the others still get the result. A Resolver
// is safe for concurrent use.
type Resolver struct {
	clients ClientStore
	country string
	group   singleflight.Group
}

// NewResolver returns a Resolver over clients, normalising phones with
// defaultCountry ("" = RU).
func NewResolver(clients ClientStore, defaultCountry string) (*Resolver, error) {
	if clients == nil {
		return nil, fmt.Errorf("match: NewResolver: nil ClientStore")
	}
	if _, err := normalize("79161234567", defaultCountry); err != nil {
		return nil, fmt.Errorf("match: NewResolver: %w", err)
	}
	return &Resolver{clients: clients, country: defaultCountry}, nil
}

// Resolve finds the client of phone in account, creating one as described
// by create when none exists and create is not nil. phone may be in any
// form Normalize accepts; an anonymous, internal or invalid number is
// phone.Normalize's error (phone.ErrAnonymous, ErrInternal, ErrInvalid; use errors.Is).
// A store error is returned wrapped; it never counts as "not found".
func (r *Resolver) Resolve(ctx context.Context, account, phone string, create *NewClient) (Resolution, error) {
	p, err := normalize(phone, r.country)
	if err != nil {
		return Resolution{}, err
	}
	res, err := r.find(ctx, account, p)
	if err != nil || res.Found() || create == nil {
		return res, err
	}
	// The flight runs on a context that no caller's cancellation ends:
	// when the first caller gives up, the others still wait for the
	// result, each only as long as its own ctx allows.
	leader := false
	flight := context.WithoutCancel(ctx)
	ch := r.group.DoChan(account+"\x00"+p, func() (any, error) {
		leader = true
		// Ask again: another resolution may have created the client
		// between our find and this flight.
		res, err := r.find(flight, account, p)
		if err != nil || res.Found() {
			return res, err
		}
		ch := create.Messenger
		if ch == "" {
			ch = ChannelTelephony
		}
		c, err := r.clients.CreateClient(flight, Client{
			Account:         account,
			Name:            create.Name,
			Phone:           p,
			Channel:         ch,
			Responsible:     create.Responsible,
			CreatedFromCall: true,
			Tags:            create.Tags,
		})
		if err != nil {
			return Resolution{}, fmt.Errorf("match: create client: %w", err)
		}
		return Resolution{Client: c, Match: MatchCreated}, nil
	})
	var v any
	select {
	case <-ctx.Done():
		return Resolution{}, fmt.Errorf("match: resolve: %w", ctx.Err())
	case out := <-ch:
		if out.Err != nil {
			return Resolution{}, out.Err
		}
		v = out.Val
	}
	res = v.(Resolution)
	if !leader && res.Match == MatchCreated {
		// Someone else's flight created it: for this caller it was found.
		res.Match = MatchPhone
	}
	return res, nil
}

// find runs steps 1 and 2 for a normalised phone.
func (r *Resolver) find(ctx context.Context, account, p string) (Resolution, error) {
	c, ok, err := r.clients.FindClientByPhone(ctx, account, p)
	if err != nil {
		return Resolution{}, fmt.Errorf("match: find client by phone: %w", err)
	}
	if ok {
		return Resolution{Client: c, Match: MatchPhone}, nil
	}
	cs, err := r.clients.FindClientsByField(ctx, account, p, maxFieldMatches)
	if err != nil {
		return Resolution{}, fmt.Errorf("match: find client by field: %w", err)
	}
	if len(cs) == 0 {
		return Resolution{}, nil
	}
	res := Resolution{Client: cs[0], Match: MatchField}
	for _, o := range cs[1:] {
		res.Others = append(res.Others, o.ID)
	}
	return res, nil
}
