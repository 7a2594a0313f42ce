package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RemoteDialer is a telephony system that dials a list by itself, with
// operators of its own: the dialer of the Finaz contract ("Envio
// automático de Contatos ao Discador", "Limpeza", "Retorno do
// Discador"). Package finazdialer adapts a finaz.Client.
//
// A Remote campaign runs in rounds over the same campaign API. Start (and
// Resume) loads the due targets (screened like any campaign's: calling
// hours at the moment of the upload, the do-not-call list, numbers worked
// elsewhere) into the remote dialer's queue, each as an attempt recorded
// before the upload; Sync reads the results and settles the attempts
// (answered, busy, invalid, …, with the campaign's retry policy), and
// once every target of the round has a result, loads the retries that
// are due as the next round; Pause and Stop clear the queue first and
// then read the results, so a target without a result was never dialled
// and goes back to the list. The remote dialer's own calling hours and
// retries are its own.
type RemoteDialer interface {
	// Load replaces the queue's list with contacts (clear, then upload).
	// failed lists by index the contacts not taken (each a failed
	// attempt); an error with failed empty means none was taken (they go
	// back to the list).
	Load(ctx context.Context, queue string, contacts []RemoteContact) (failed map[int]error, err error)
	// Clear withdraws the queue's list.
	Clear(ctx context.Context, queue string) error
	// Results returns the remote dialer's attempts for the queue. Results
	// it cannot read are reported in err beside the good ones.
	Results(ctx context.Context, queue string) ([]RemoteResult, error)
}

// RemoteContact is a target as a remote dialer gets it.
type RemoteContact struct {
	// ID is "<campaign id>:<target number>": the dialer reports it back
	// in its results and in its "answered" notification (Finaz pid).
	ID    string
	Name  string
	Phone string // "+" and the digits
}

// RemoteResult is one attempt of a remote dialer.
type RemoteResult struct {
	ContactID string
	// Phone is the number dialled (normalised), At when.
	Phone string
	At    time.Time
	// Outcome is the remote dialer's status mapped to an Outcome
	// (Answered, Busy, NoAnswer, Failed or Invalid).
	Outcome Outcome
	// Status is the remote dialer's own status code.
	Status string
}

// RemoteChecker is implemented by a RemoteDialer that can tell before a
// campaign starts whether it can work at all (its configuration has the
// requests it needs): Start and Resume call Check first and change
// nothing when it fails.
type RemoteChecker interface {
	Check() error
}

// queue is the remote dialer's queue of the campaign.
func (c *campaign) queue() string { return cmp.Or(c.spec.Queue, c.spec.ID) }

// remoteRound loads the due targets into the remote dialer, each an
// attempt recorded before the upload.
func (c *campaign) remoteRound(ctx context.Context) error {
	var idx []int32
	for {
		i, _, err := c.pop(ctx)
		if err != nil {
			for _, j := range idx {
				c.release(j)
			}
			return err
		}
		if i < 0 {
			break
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		c.maybeDone(ctx)
		return nil
	}
	now := c.d.clock.Now()
	contacts := make([]RemoteContact, 0, len(idx))
	begun := make([]int32, 0, len(idx))
	var errs []error
	for k, i := range idx {
		s := &c.slots[i]
		n := int(s.attempts) + 1
		ph := phoneString(s.phone)
		t, err := c.d.cfg.Store.Target(ctx, c.spec.ID, int(i)+1)
		if err == nil {
			err = c.d.cfg.Store.BeginAttempt(ctx, Attempt{Campaign: c.spec.ID, Target: int(i) + 1, Number: n, Phone: ph, StartedAt: now.UTC()})
		}
		if err != nil {
			for _, j := range idx[k:] {
				c.release(j)
			}
			errs = append(errs, fmt.Errorf("dialer: recording the attempts of campaign %q: %w", c.spec.ID, err))
			break
		}
		s.state, s.attempts = slotDialing, uint8(n)
		begun = append(begun, i)
		contacts = append(contacts, RemoteContact{ID: targetRef(c.spec.ID, int(i)+1), Name: t.Name, Phone: "+" + ph})
	}
	if len(begun) == 0 {
		return errors.Join(errs...)
	}
	c.roundAt = now.UnixNano()
	failed, err := c.remote.Load(ctx, c.queue(), contacts)
	if err != nil {
		errs = append(errs, fmt.Errorf("dialer: loading campaign %q into the remote dialer: %w", c.spec.ID, err))
		if len(failed) == 0 { // nothing taken: back to the list, not dialled
			for _, i := range begun {
				if werr := c.withdraw(ctx, i, now); werr != nil {
					errs = append(errs, werr)
				}
			}
			return errors.Join(errs...)
		}
	}
	for k, ferr := range failed {
		if k < 0 || k >= len(begun) {
			continue
		}
		i := begun[k]
		c.d.log.WarnContext(ctx, "dialer: target not taken by the remote dialer", "campaign", c.spec.ID, "target", i+1, "error", ferr)
		if err := c.settle(ctx, i, Failed, now, ""); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settle finishes the attempt in progress of slot i with o.
func (c *campaign) settle(ctx context.Context, i int32, o Outcome, at time.Time, callID string) error {
	s := &c.slots[i]
	p := c.after(i, o, c.d.clock.Now())
	a := Attempt{Campaign: c.spec.ID, Target: int(i) + 1, Number: int(s.attempts), Phone: p.Phone, CallID: callID,
		Outcome: o, EndedAt: at.UTC()}
	if err := c.finish(ctx, a, p); err != nil {
		return fmt.Errorf("dialer: campaign %q target %d: %w", c.spec.ID, i+1, err)
	}
	c.apply(i, p)
	if s.state == slotPending {
		c.heap.push(i)
	}
	return nil
}

// remoteResults settles the attempts in progress that the remote dialer
// reported; a target's latest result of the round counts.
func (c *campaign) remoteResults(ctx context.Context) error {
	results, rerr := c.remote.Results(ctx, c.queue())
	if rerr != nil && len(results) == 0 {
		return fmt.Errorf("dialer: results of campaign %q: %w", c.spec.ID, rerr)
	}
	if rerr != nil {
		c.d.log.WarnContext(ctx, "dialer: unreadable remote results skipped", "campaign", c.spec.ID, "error", rerr)
	}
	latest := map[int32]RemoteResult{}
	for _, r := range results {
		rest, ok := strings.CutPrefix(r.ContactID, c.spec.ID+":")
		n, err := strconv.Atoi(rest)
		if !ok || err != nil || n < 1 || n > len(c.slots) || c.slots[n-1].state != slotDialing {
			continue // another campaign's, or settled before
		}
		if !r.At.IsZero() && r.At.UnixNano() < c.roundAt {
			continue // an earlier round's
		}
		i := int32(n - 1)
		if prev, ok := latest[i]; !ok || !r.At.Before(prev.At) {
			latest[i] = r
		}
	}
	now := c.d.clock.Now()
	var errs []error
	for i, r := range latest {
		o := r.Outcome
		if o < Answered || o > Invalid {
			o = Failed
		}
		if err := c.settle(ctx, i, o, cmp.Or(r.At, now), ""); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// remoteWithdraw clears the remote queue, reads its results and puts the
// targets without one back on the list: cleared before any result, they
// were never dialled (their attempt ends as Skipped).
func (c *campaign) remoteWithdraw(ctx context.Context) error {
	if c.remote == nil {
		return fmt.Errorf("%w: %q has no remote dialer configured", ErrNoCaller, c.spec.Provider)
	}
	if err := c.remote.Clear(ctx, c.queue()); err != nil {
		return fmt.Errorf("dialer: clearing campaign %q from the remote dialer: %w", c.spec.ID, err)
	}
	if err := c.remoteResults(ctx); err != nil {
		return err
	}
	now := c.d.clock.Now()
	for i := range c.slots {
		if c.slots[i].state == slotDialing {
			if err := c.withdraw(ctx, int32(i), now); err != nil {
				return err
			}
		}
	}
	return nil
}

// withdraw ends the attempt in progress of slot i as Skipped (never
// dialled) and puts the target back on the list.
func (c *campaign) withdraw(ctx context.Context, i int32, now time.Time) error {
	s := &c.slots[i]
	p := c.progress(i)
	p.State = Pending
	a := Attempt{Campaign: c.spec.ID, Target: int(i) + 1, Number: int(s.attempts), Phone: p.Phone, Outcome: Skipped, EndedAt: now.UTC()}
	if err := c.finish(ctx, a, p); err != nil {
		return fmt.Errorf("dialer: campaign %q target %d: %w", c.spec.ID, i+1, err)
	}
	c.apply(i, p)
	c.heap.push(i)
	return nil
}

// Sync reads a Remote campaign's results from the remote dialer and
// settles its attempts; once the round is complete it loads the retries
// that are due (see RemoteDialer). The campaign is Done when every target
// is finished. Call it periodically while the campaign runs.
func (d *Dialer) Sync(ctx context.Context, id string) error {
	c, err := d.getChecked(ctx, id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.unlock()
	if c.spec.Mode != Remote {
		return fmt.Errorf("%w: campaign %q is not a remote campaign", ErrState, id)
	}
	if c.spec.State != Running {
		return fmt.Errorf("%w: campaign %q is %s, not running", ErrState, id, c.spec.State)
	}
	if err := c.remoteResults(ctx); err != nil {
		return err
	}
	for i := range c.slots {
		if c.slots[i].state == slotDialing {
			return nil // the round goes on
		}
	}
	return c.remoteRound(ctx)
}
