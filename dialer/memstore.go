package dialer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemStore is a Store in memory, lost at exit: the default for tests and
// for a program without a database. Targets are kept compact (their texts
// packed in one buffer, about 24 bytes of progress each besides), so a
// campaign of a million targets takes about a hundred megabytes.
type MemStore struct {
	mu     sync.Mutex
	camps  map[string]*memCampaign
	order  []string // campaign ids, oldest first
	dnc    map[string]struct{}
	worked map[string]Screening
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{camps: map[string]*memCampaign{}, dnc: map[string]struct{}{}, worked: map[string]Screening{}}
}

type memCampaign struct {
	c        Campaign
	data     []byte   // the targets' texts, packed (see packTarget)
	offs     []uint32 // target i's texts are data[offs[i]:offs[i+1]]
	prog     []memProgress
	zones    []string
	disps    []Disposition // interned; memProgress.disp is index+1
	attempts map[attemptKey]*Attempt
}

type memProgress struct {
	phone    uint64
	next     int64
	zone     uint16
	disp     uint16
	attempts uint16
	state    TargetState
	outcome  Outcome
}

type attemptKey struct {
	target int32
	number uint16
}

// MaxTargets bounds a campaign's targets.
const MaxTargets = 10_000_000

func (s *MemStore) campaign(id string) (*memCampaign, error) {
	mc := s.camps[id]
	if mc == nil {
		return nil, fmt.Errorf("dialer: campaign %q: %w", clip(id), ErrNotFound)
	}
	return mc, nil
}

// CreateCampaign implements Store.
func (s *MemStore) CreateCampaign(_ context.Context, c Campaign, targets []Target) error {
	if len(targets) > MaxTargets {
		return fmt.Errorf("%w: %d targets, more than %d", ErrInvalid, len(targets), MaxTargets)
	}
	mc := &memCampaign{c: cloneCampaign(c), prog: make([]memProgress, len(targets)), offs: make([]uint32, len(targets)+1),
		attempts: map[attemptKey]*Attempt{}}
	size := 0
	for i := range targets {
		size += packedLen(&targets[i])
	}
	if size > 1<<32-1 {
		return fmt.Errorf("%w: the targets' texts take more than 4 GiB", ErrInvalid)
	}
	mc.data = make([]byte, 0, size)
	zones := map[string]uint16{}
	for i := range targets {
		t := &targets[i]
		ph, err := phoneNumber(t.Phone)
		if err != nil {
			return fmt.Errorf("%w: target %d: %v", ErrInvalid, i+1, err)
		}
		z, ok := zones[t.TimeZone]
		if !ok {
			z = uint16(len(mc.zones))
			zones[t.TimeZone] = z
			mc.zones = append(mc.zones, t.TimeZone)
		}
		mc.data = packTarget(mc.data, t)
		mc.offs[i+1] = uint32(len(mc.data))
		mc.prog[i] = memProgress{phone: ph, zone: z, state: Pending}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.camps[c.ID] != nil {
		return fmt.Errorf("dialer: campaign %q: %w", c.ID, ErrExists)
	}
	s.camps[c.ID] = mc
	s.order = append(s.order, c.ID)
	return nil
}

func cloneCampaign(c Campaign) Campaign {
	c.Agents = slices.Clone(c.Agents)
	c.Hours.Days = slices.Clone(c.Hours.Days)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC().Round(0), c.UpdatedAt.UTC().Round(0)
	return c
}

// packedLen is the length of t's packed texts.
func packedLen(t *Target) int {
	n := 0
	str := func(s string) { n += uvarintLen(len(s)) + len(s) }
	str(t.Entity)
	str(t.EntityID)
	str(t.Name)
	n += uvarintLen(len(t.Fields))
	for k, v := range t.Fields {
		str(k)
		str(v)
	}
	return n
}

func uvarintLen(v int) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// packTarget appends t's texts: entity, entity id, name, the number of
// fields and each key and value (keys sorted), each string preceded by
// its length as a uvarint.
func packTarget(b []byte, t *Target) []byte {
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(t.Entity)
	str(t.EntityID)
	str(t.Name)
	b = binary.AppendUvarint(b, uint64(len(t.Fields)))
	for _, k := range slices.Sorted(maps.Keys(t.Fields)) {
		str(k)
		str(t.Fields[k])
	}
	return b
}

// unpackTarget reads what packTarget wrote.
func unpackTarget(b []byte, t *Target) {
	str := func() string {
		n, k := binary.Uvarint(b)
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s
	}
	t.Entity, t.EntityID, t.Name = str(), str(), str()
	n, k := binary.Uvarint(b)
	b = b[k:]
	if n > 0 {
		t.Fields = make(map[string]string, n)
		for range n {
			key := str()
			t.Fields[key] = str()
		}
	}
}

// Campaign implements Store.
func (s *MemStore) Campaign(_ context.Context, id string) (Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, err := s.campaign(id)
	if err != nil {
		return Campaign{}, err
	}
	return cloneCampaign(mc.c), nil
}

// Campaigns implements Store.
func (s *MemStore) Campaigns(context.Context) ([]Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Campaign, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, cloneCampaign(s.camps[id].c))
	}
	return out, nil
}

// SetState implements Store.
func (s *MemStore) SetState(_ context.Context, id string, st State, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, err := s.campaign(id)
	if err != nil {
		return err
	}
	mc.c.State, mc.c.UpdatedAt = st, at.UTC().Round(0)
	return nil
}

// target checks n of mc.
func (mc *memCampaign) target(n int) error {
	if n < 1 || n > len(mc.prog) {
		return fmt.Errorf("dialer: campaign %q target %d: %w", clip(mc.c.ID), n, ErrNotFound)
	}
	return nil
}

// Target implements Store.
func (s *MemStore) Target(_ context.Context, id string, n int) (Target, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, err := s.campaign(id)
	if err != nil {
		return Target{}, err
	}
	if err := mc.target(n); err != nil {
		return Target{}, err
	}
	p := &mc.prog[n-1]
	t := Target{Number: n, Phone: phoneString(p.phone), TimeZone: mc.zones[p.zone]}
	unpackTarget(mc.data[mc.offs[n-1]:mc.offs[n]], &t)
	return t, nil
}

func (mc *memCampaign) progress(i int) Progress {
	p := &mc.prog[i]
	out := Progress{Target: i + 1, Phone: phoneString(p.phone), TimeZone: mc.zones[p.zone], State: p.state,
		Attempts: int(p.attempts), Outcome: p.outcome}
	if p.next != 0 {
		out.NextAt = time.Unix(0, p.next).UTC()
	}
	if p.disp > 0 {
		out.Disposition = mc.disps[p.disp-1]
	}
	return out
}

// Progress implements Store; it holds the lock for a thousand targets at
// a time, never while yield runs.
func (s *MemStore) Progress(ctx context.Context, id string, yield func(Progress) error) error {
	buf := make([]Progress, 0, 1024)
	for from := 0; ; {
		s.mu.Lock()
		mc, err := s.campaign(id)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		buf = buf[:0]
		for i := from; i < len(mc.prog) && len(buf) < cap(buf); i++ {
			buf = append(buf, mc.progress(i))
		}
		s.mu.Unlock()
		if len(buf) == 0 {
			return nil
		}
		from += len(buf)
		for _, p := range buf {
			if err := yield(p); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// set stores p's state, attempts, next time and outcome (the phone, zone
// and disposition stay).
func (mc *memCampaign) set(p Progress) error {
	if err := mc.target(p.Target); err != nil {
		return err
	}
	mp := &mc.prog[p.Target-1]
	mp.state, mp.attempts, mp.outcome, mp.next = p.State, uint16(p.Attempts), p.Outcome, 0
	if !p.NextAt.IsZero() {
		mp.next = p.NextAt.UnixNano()
	}
	return nil
}

// SetProgress implements Store.
func (s *MemStore) SetProgress(_ context.Context, id string, p Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, err := s.campaign(id)
	if err != nil {
		return err
	}
	return mc.set(p)
}

// BeginAttempt implements Store.
func (s *MemStore) BeginAttempt(_ context.Context, a Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, err := s.campaign(a.Campaign)
	if err != nil {
		return err
	}
	if err := mc.target(a.Target); err != nil {
		return err
	}
	if a.Number < 1 || a.Number > 1<<16-1 {
		return fmt.Errorf("%w: attempt number %d", ErrInvalid, a.Number)
	}
	k := attemptKey{int32(a.Target), uint16(a.Number)}
	if mc.attempts[k] != nil {
		return fmt.Errorf("dialer: campaign %q target %d attempt %d: %w", a.Campaign, a.Target, a.Number, ErrAttemptExists)
	}
	a.StartedAt, a.EndedAt = a.StartedAt.UTC().Round(0), a.EndedAt.UTC().Round(0)
	mc.attempts[k] = &a
	mp := &mc.prog[a.Target-1]
	mp.state, mp.attempts = Dialing, uint16(a.Number)
	return nil
}

// attempt is attempt number of target of campaign id, and the campaign;
// s.mu is held.
func (s *MemStore) attempt(id string, target, number int) (*memCampaign, *Attempt, error) {
	mc, err := s.campaign(id)
	if err != nil {
		return nil, nil, err
	}
	a, err := mc.attempt(target, number)
	return mc, a, err
}

// attempt is the stored attempt number of target.
func (mc *memCampaign) attempt(target, number int) (*Attempt, error) {
	if number < 1 || number > 1<<16-1 {
		return nil, fmt.Errorf("dialer: campaign %q target %d attempt %d: %w", mc.c.ID, target, number, ErrNotFound)
	}
	a := mc.attempts[attemptKey{int32(target), uint16(number)}]
	if a == nil {
		return nil, fmt.Errorf("dialer: campaign %q target %d attempt %d: %w", mc.c.ID, target, number, ErrNotFound)
	}
	return a, nil
}

// PlacedAttempt implements Store.
func (s *MemStore) PlacedAttempt(_ context.Context, id string, target, number int, callID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, a, err := s.attempt(id, target, number)
	if err != nil {
		return err
	}
	a.CallID = callID
	return nil
}

// FinishAttempt implements Store.
func (s *MemStore) FinishAttempt(_ context.Context, a Attempt, p Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, err := s.campaign(a.Campaign)
	if err != nil {
		return err
	}
	if p.Target != a.Target {
		return fmt.Errorf("%w: progress of target %d for an attempt of target %d", ErrInvalid, p.Target, a.Target)
	}
	stored, err := mc.attempt(a.Target, a.Number)
	if err != nil {
		return err
	}
	if err := mc.set(p); err != nil {
		return err
	}
	stored.Outcome, stored.EndedAt = a.Outcome, a.EndedAt.UTC().Round(0)
	if a.CallID != "" {
		stored.CallID = a.CallID
	}
	if a.Outcome.WorksNumber() {
		ph := phoneString(mc.prog[a.Target-1].phone)
		if _, ok := s.worked[ph]; !ok {
			s.worked[ph] = Screening{WorkedBy: a.Campaign, WorkedAt: stored.EndedAt}
		}
	}
	return nil
}

// SetDisposition implements Store.
func (s *MemStore) SetDisposition(_ context.Context, id string, target, number int, d Disposition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, a, err := s.attempt(id, target, number)
	if err != nil {
		return err
	}
	a.Disposition = d
	k := slices.Index(mc.disps, d)
	if k < 0 {
		if len(mc.disps) == 1<<16-1 {
			return errors.New("dialer: more than 65535 dispositions in one campaign")
		}
		mc.disps = append(mc.disps, d)
		k = len(mc.disps) - 1
	}
	mc.prog[target-1].disp = uint16(k + 1)
	return nil
}

// Attempts implements Store.
func (s *MemStore) Attempts(_ context.Context, id string, target int) ([]Attempt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, err := s.campaign(id)
	if err != nil {
		return nil, err
	}
	if err := mc.target(target); err != nil {
		return nil, err
	}
	var out []Attempt
	for n := 1; n <= int(mc.prog[target-1].attempts); n++ {
		if a := mc.attempts[attemptKey{int32(target), uint16(n)}]; a != nil {
			out = append(out, *a)
		}
	}
	return out, nil
}

// AddDoNotCall implements Store.
func (s *MemStore) AddDoNotCall(_ context.Context, phones ...string) error {
	for _, p := range phones {
		if _, err := phoneNumber(p); err != nil {
			return fmt.Errorf("%w: do-not-call: %v", ErrInvalid, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range phones {
		s.dnc[p] = struct{}{}
	}
	return nil
}

// RemoveDoNotCall implements Store.
func (s *MemStore) RemoveDoNotCall(_ context.Context, phones ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range phones {
		delete(s.dnc, p)
	}
	return nil
}

// Screen implements Store.
func (s *MemStore) Screen(_ context.Context, phone string) (Screening, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.worked[phone]
	_, sc.DoNotCall = s.dnc[phone]
	return sc, nil
}
