package dialer

import (
	"context"
	"errors"
	"time"
)

// Errors of a Store; compare with errors.Is.
var (
	// ErrNotFound reports an unknown campaign, target or attempt.
	ErrNotFound = errors.New("dialer: not found")
	// ErrExists reports a campaign id that is taken.
	ErrExists = errors.New("dialer: campaign exists")
	// ErrAttemptExists reports an attempt recorded before: BeginAttempt
	// refuses to record an attempt twice, so that a call is placed at
	// most once per attempt even across processes and restarts.
	ErrAttemptExists = errors.New("dialer: attempt already recorded")
)

// Store keeps campaigns, their targets and every attempt durably, so that
// a restarted Dialer resumes where it stopped without calling anyone
// twice. NewMemStore keeps them in memory (lost at exit); sqlstore.DB
// keeps them in SQLite or PostgreSQL. Implementations are safe for
// concurrent use; package storetest checks one.
//
// Phones are the normalised digits ("79161234567"). Times are stored to
// the nanosecond and read back in UTC.
type Store interface {
	// CreateCampaign stores c (its ID set, State Draft) with its targets,
	// numbered 1…len(targets) in order whatever their Number says, each
	// Pending without attempts. A taken id is an error wrapping
	// ErrExists.
	CreateCampaign(ctx context.Context, c Campaign, targets []Target) error
	// Campaign returns a campaign (ErrNotFound when unknown).
	Campaign(ctx context.Context, id string) (Campaign, error)
	// Campaigns returns every campaign, oldest first.
	Campaigns(ctx context.Context) ([]Campaign, error)
	// SetState changes a campaign's State and UpdatedAt.
	SetState(ctx context.Context, id string, s State, at time.Time) error
	// Target returns target number n of a campaign.
	Target(ctx context.Context, id string, n int) (Target, error)
	// Progress calls yield with every target's progress in number order,
	// without holding them all in memory; an error of yield stops it and
	// is returned.
	Progress(ctx context.Context, id string, yield func(Progress) error) error
	// SetProgress stores a target's progress outside an attempt (skipped,
	// on the do-not-call list, worked elsewhere, back to pending): its
	// State, Attempts, NextAt and Outcome. The phone, time zone and
	// disposition stay as they are (SetDisposition sets the latter), here
	// and in FinishAttempt.
	SetProgress(ctx context.Context, id string, p Progress) error
	// BeginAttempt records attempt a (a.Number = the target's attempts so
	// far + 1) and sets the target Dialing with a.Number attempts, in one
	// transaction, before the call is placed. An attempt recorded before
	// is an error wrapping ErrAttemptExists and changes nothing.
	BeginAttempt(ctx context.Context, a Attempt) error
	// PlacedAttempt stores the provider's call id of an attempt.
	PlacedAttempt(ctx context.Context, id string, target, number int, callID string) error
	// FinishAttempt stores the attempt's outcome and end (a.Outcome,
	// a.EndedAt, a.CallID when set) and the target's new progress p, in
	// one transaction; an outcome that works the number
	// (Outcome.WorksNumber) also records the number as worked by the
	// campaign.
	FinishAttempt(ctx context.Context, a Attempt, p Progress) error
	// SetDisposition stores the agent's disposition of an attempt, and of
	// its target.
	SetDisposition(ctx context.Context, id string, target, number int, d Disposition) error
	// Attempts returns a target's attempts in order.
	Attempts(ctx context.Context, id string, target int) ([]Attempt, error)
	// AddDoNotCall and RemoveDoNotCall edit the do-not-call list, which
	// holds for every campaign.
	AddDoNotCall(ctx context.Context, phones ...string) error
	RemoveDoNotCall(ctx context.Context, phones ...string) error
	// Screen says whether a number may be called: whether it is on the
	// do-not-call list, and which campaign worked it, if any.
	Screen(ctx context.Context, phone string) (Screening, error)
}

// Screening is what the Store knows of a number before it is dialled.
type Screening struct {
	DoNotCall bool
	// WorkedBy is the campaign that worked the number (answered or found
	// invalid), "" if none; WorkedAt when.
	WorkedBy string
	WorkedAt time.Time
}
