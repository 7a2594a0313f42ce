package memstore

import "context"

// HasCall reports whether the call log has the call (reconcile.Calls).
func (s *Store) HasCall(_ context.Context, provider, account, callID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.callIndex[callKey{provider, account, callID}]
	return ok, nil
}
