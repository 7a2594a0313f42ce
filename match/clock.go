package match

import "time"

// Clock is the engine's source of time: grace periods, the late-binding
// window, delayed notifications and forgetting finished calls all go
// through it, so tests can drive them without sleeping. The zero Engine
// uses the system clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, when
	// time is advanced) once d has passed, unless the Timer is stopped.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled call of a Clock: Stop prevents the call and
// reports false if it already ran or was stopped. It is an alias of the
// plain interface type, so a fake clock (such as matchtest.Clock) can
// implement Clock without importing this package.
type Timer = interface{ Stop() bool }

type systemClock struct{}

func (systemClock) Now() time.Time                            { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
