//go:build race

package gateway_test

// raceEnabled: the race detector multiplies memory, so memory is not measured.
const raceEnabled = true
