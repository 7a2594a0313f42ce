package megafontest

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// moscow is the +03:00 offset the legacy CSV history uses.
var moscow = time.FixedZone("MSK", 3*60*60)

// v1 serves crmapi v1.
func (s *Server) v1(r *http.Request, rec Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.Header.Get("X-API-KEY")
	switch {
	case key == "":
		return errorReply(http.StatusUnauthorized, "Empty token", false)
	case subtle.ConstantTimeCompare([]byte(key), []byte(s.key)) != 1:
		return errorReply(http.StatusUnauthorized, "Invalid token", false)
	}
	p := rec.Params
	segs := v1Segments(r.URL.EscapedPath())
	login := ""
	if len(segs) > 1 {
		login = segs[1]
	}
	switch {
	case rec.Op == OpMakeCall && r.Method == http.MethodPost:
		id, msg := s.makeCall(p)
		if msg != "" {
			return errorReply(http.StatusBadRequest, msg, false)
		}
		return jsonReply(http.StatusOK, map[string]string{"callid": id})
	case rec.Op == OpUsers && r.Method == http.MethodGet:
		return s.v1Users(p)
	case rec.Op == OpUser && r.Method == http.MethodGet:
		u, ok := s.findUser(login)
		if !ok || u.Login != login {
			return errorReply(http.StatusNotFound, "User not found", false)
		}
		return jsonReply(http.StatusOK, v1User(u, true))
	case rec.Op == OpGroups && r.Method == http.MethodGet:
		out := make([]map[string]string, len(s.groups))
		for i, g := range s.groups {
			out[i] = map[string]string{"id": g.ID, "name": g.Name, "ext": g.Ext}
		}
		return jsonReply(http.StatusOK, out)
	case rec.Op == OpHistory && r.Method == http.MethodGet && r.URL.Path == "/crmapi/v1/history/json":
		recs, msg := s.filterHistory(p)
		if msg != "" {
			return errorReply(http.StatusBadRequest, msg, false)
		}
		out := make([]map[string]any, len(recs))
		for i, h := range recs {
			out[i] = map[string]any{
				"uid": h.UID, "type": h.Type, "status": h.Status, "client": h.Client,
				"diversion": h.Diversion, "destination": "user", "user": h.User, "user_name": h.UserName,
				"group_name": h.Group, "start": h.Start.UTC().Format(time.RFC3339), "wait": h.Wait,
				"duration": h.Duration, "record": h.Record, "rating": h.Rating, "note": "",
			}
		}
		return jsonReply(http.StatusOK, out)
	case rec.Op == OpDND || rec.Op == OpSubscription:
		if _, ok := s.findUser(login); !ok {
			return errorReply(http.StatusNotFound, "User not found", false)
		}
		var state *bool
		if rec.Op == OpDND {
			on := s.dnd[login]
			state = &on
		}
		switch r.Method {
		case http.MethodPost, http.MethodDelete:
			on := r.Method == http.MethodPost
			if rec.Op == OpDND {
				s.dnd[login] = on
			} else {
				s.setSubscription(login, p.Get("group_id"), on)
			}
			return reply{http.StatusOK, "application/json", ""}
		case http.MethodGet:
			if rec.Op == OpSubscription {
				on := s.subs[login+"\x00"+p.Get("group_id")]
				state = &on
			}
			return jsonReply(http.StatusOK, map[string]bool{"state": *state})
		}
	}
	return errorReply(http.StatusNotFound, "Not found", false)
}

// recording serves GET /rec/{name}: the audio of SetRecording, for the
// API key.
func (s *Server) recording(r *http.Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := r.Header.Get("X-API-KEY")
	switch {
	case r.Method != http.MethodGet:
		return errorReply(http.StatusMethodNotAllowed, "Method not allowed", false)
	case key == "":
		return errorReply(http.StatusUnauthorized, "Empty token", false)
	case subtle.ConstantTimeCompare([]byte(key), []byte(s.key)) != 1:
		return errorReply(http.StatusUnauthorized, "Invalid token", false)
	}
	name, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/rec/"))
	audio, ok := s.records[name]
	if err != nil || !ok {
		return errorReply(http.StatusNotFound, "Record not found", false)
	}
	return reply{http.StatusOK, "audio/mpeg", string(audio)}
}

func v1User(u User, withStatus bool) map[string]any {
	m := map[string]any{
		"login": u.Login, "name": u.Name, "position": u.Position, "email": u.Email,
		"ext": u.Ext, "telnum": u.Telnum, "mobile": u.Mobile, "role": firstNonEmpty(u.Role, "user"),
		"mobile_redirect": map[string]any{"enabled": false, "forward": false, "delay": 0},
	}
	if withStatus {
		m["status"] = firstNonEmpty(u.Status, "offline")
	}
	return m
}

func (s *Server) v1Users(p url.Values) reply {
	start, _ := strconv.Atoi(p.Get("start"))
	limit, err := strconv.Atoi(p.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 100
	}
	start = min(max(start, 0), len(s.users))
	end := min(start+limit, len(s.users))
	items := make([]map[string]any, 0, end-start)
	for _, u := range s.users[start:end] {
		items = append(items, v1User(u, p.Get("with") == "status"))
	}
	return jsonReply(http.StatusOK, map[string]any{
		"items": items,
		"info":  map[string]any{"search": p.Get("search"), "start": start, "limit": limit, "total": len(s.users)},
	})
}

// legacy serves /sys/crm_api.wcgp.
func (s *Server) legacy(p url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok := p.Get("token"); tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.key)) != 1 {
		return errorReply(http.StatusUnauthorized, "Invalid token", true)
	}
	user := p.Get("user")
	switch strings.ToLower(p.Get("cmd")) {
	case "accounts":
		out := make([]map[string]string, len(s.users))
		for i, u := range s.users {
			out[i] = map[string]string{"name": u.Login, "realName": u.Name, "ext": u.Ext, "telnum": u.Telnum, "email": u.Email}
		}
		return jsonReply(http.StatusOK, out)
	case "groups":
		out := make([]map[string]string, len(s.groups))
		for i, g := range s.groups {
			out[i] = map[string]string{"id": g.ID, "realName": g.Name, "ext": g.Ext}
		}
		return jsonReply(http.StatusOK, out)
	case "makecall":
		if p.Get("group") != "" {
			return errorReply(http.StatusBadRequest, "Invalid parameters: [group]", true)
		}
		id, msg := s.makeCall(p)
		if msg != "" {
			return errorReply(http.StatusBadRequest, msg, true)
		}
		return jsonReply(http.StatusOK, map[string]string{"uuid": id})
	case "history":
		recs, msg := s.filterHistory(p)
		if msg != "" {
			return errorReply(http.StatusBadRequest, msg, true)
		}
		var b strings.Builder
		for _, h := range recs {
			client := h.Client
			if client != "" && !strings.HasPrefix(client, "+") {
				client = "+" + client
			}
			via := h.Diversion
			if via != "" && !strings.HasPrefix(via, "+") {
				via = "+" + via
			}
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%d,%d,%s\n", h.UID, h.Type, client, h.User, via,
				h.Start.In(moscow).Format(time.RFC3339), h.Wait, h.Duration, h.Record)
		}
		return reply{http.StatusOK, "text/csv; charset=utf-8", b.String()}
	case "subscribeoncalls":
		if _, ok := s.findUser(user); !ok {
			return errorReply(http.StatusBadRequest, "Invalid parameters: [user]", true)
		}
		st := p.Get("status")
		if st != "on" && st != "off" {
			return errorReply(http.StatusBadRequest, "Invalid parameters: [status]", true)
		}
		s.setSubscription(user, p.Get("group_id"), st == "on")
		return reply{http.StatusOK, "text/plain; charset=utf-8", "OK"}
	case "subscriptionstatus":
		st := "off"
		if s.subs[user+"\x00"+p.Get("group_id")] {
			st = "on"
		}
		return jsonReply(http.StatusOK, map[string]string{"status": st})
	case "get_dnd":
		return jsonReply(http.StatusOK, map[string]bool{"state": s.dnd[user]})
	case "set_dnd":
		v := firstNonEmpty(p.Get("state"), p.Get("status"))
		on, err := strconv.ParseBool(v)
		if err != nil {
			return errorReply(http.StatusBadRequest, "Invalid parameters: [state]", true)
		}
		s.dnd[user] = on
		return reply{http.StatusOK, "text/plain; charset=utf-8", "OK"}
	}
	return errorReply(http.StatusBadRequest, "Invalid parameters: [cmd]", true)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
