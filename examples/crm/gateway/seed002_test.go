package gateway_test

// Seed 002's ten scenarios (Telphin × amoCRM, «Сценарии работы») as one
// script that TestSeed002TenScenarios (the gateway in the test process,
// on a fake clock) and TestSeed002TenScenariosProcess (the crm command as
// a child process) both run against a gateway in amoCRM mode.

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbridge/callbridge/amocrm"
	"github.com/callbridge/callbridge/amocrm/amocrmtest"
	"github.com/callbridge/callbridge/telphin/telphintest"
)

// seed002Gateway is a gateway in amoCRM mode over an amoCRM fake, as the
// scenarios drive it. Its calls are on extension 101, amoCRM's first
// user.
type seed002Gateway interface {
	// amoFake is the amoCRM fake the gateway writes to.
	amoFake() *amocrmtest.Server
	// call is a new Telphin call with client that began ringing a while
	// ago (every webhook of it lies in the past).
	call(client string) telphintest.Call
	// send delivers Telphin webhooks, each acknowledged, and returns
	// when the engine has handled them.
	send(fields ...url.Values)
	// talk lets a conversation go on, at least as long as the gateway
	// reuses amoCRM's answer "no contact has this phone"
	// (amocrm.DefaultNotFoundTTL), as any real one does.
	talk()
	// end returns when the calls that hung up are decided (their settle
	// time passed).
	end()
	// callOn is the call of id in amoCRM, once it is there.
	callOn(id string) amocrmtest.Call
	// popups is the body of GET /api/popups?employee=employee.
	popups(employee int64) string
}

// seed002Call is Telphin call n of extension 101 with client, ringing
// from start.
func seed002Call(n int, client string, start time.Time) telphintest.Call {
	return telphintest.Call{CallID: fmt.Sprintf("ab00000000000000000000000000%04d", n),
		SubCallID: fmt.Sprintf("124575-ab00000000000000000000000000%04d", n), Client: client, Extension: "15400*101",
		Start: start}
}

// missedHangup is the hangup of c nobody answered.
func missedHangup(c telphintest.Call) url.Values {
	miss := c.Hangup()
	miss.Set("CallStatus", "NOANSWER")
	miss.Set("Duration", "0")
	return miss
}

// contactWith is amoCRM's contact with phone (digits compared), or nil.
func contactWith(amo *amocrmtest.Server, phone string) *amocrmtest.Contact {
	want := digitsOf(phone)
	for _, c := range amo.Contacts() {
		for _, p := range c.Phones {
			if digitsOf(p) == want {
				return &c
			}
		}
	}
	return nil
}

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// contactsNamed counts amoCRM's contacts named name.
func contactsNamed(amo *amocrmtest.Server, name string) int {
	n := 0
	for _, c := range amo.Contacts() {
		if c.Name == name {
			n++
		}
	}
	return n
}

// poppedTo reports whether amoCRM showed the pop-up for phone to user.
func poppedTo(amo *amocrmtest.Server, phone string, user int64) bool {
	for _, ev := range amo.Events() {
		if ev.Phone == phone && slices.Contains(ev.Users, user) {
			return true
		}
	}
	return false
}

// amoCallOn waits for the call of id (Telphin account account) in amoCRM
// and returns it.
func amoCallOn(t *testing.T, amo *amocrmtest.Server, account, id string) amocrmtest.Call {
	t.Helper()
	uniq := amocrm.CallUniq("telphin", account, id)
	var got amocrmtest.Call
	require.Eventually(t, func() bool {
		for _, c := range amo.Calls() {
			if c.Item["uniq"] == uniq {
				got = c
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "call %s in amoCRM", id)
	return got
}

// seed002CreateOn replays scenarios 1, 2, 4, 5, 6, 7, 9 and 10 on g,
// whose rules are the guide's defaults (create a contact for an unknown
// number: inbound answered, missed, outbound), and checks in amoCRM what
// the guide lists for each: the cards, the contacts created (name,
// responsible, the moment) and the card each call lands on. The calls
// overlap as a PBX's do: each is checked while it rings or talks, then
// they all hang up and settle together.
func seed002CreateOn(t *testing.T, g seed002Gateway) {
	amo := g.amoFake()
	op1 := amocrmtest.DefaultUsers[0].ID // extension 101
	known := amo.AddContact(amocrmtest.Contact{Name: "Иван Петров", Phones: []string{"+79161111111"}, ResponsibleUserID: amocrmtest.DefaultUsers[1].ID})

	// 1. Inbound, known, answered: the card for the one it rings.
	c1 := g.call("+79161111111")
	g.send(c1.DialIn())
	require.True(t, poppedTo(amo, "+79161111111", op1), "scenario 1: the card on ringing")
	g.send(c1.Answer())

	// 2. Inbound, unknown, answered: «Автоконтакт: Входящий» on answer,
	// for the one who picked up.
	c2 := g.call("+79160000002")
	g.send(c2.DialIn())
	require.Nil(t, contactWith(amo, "+79160000002"), "scenario 2: no contact while it rings")
	g.send(c2.Answer())
	in := contactWith(amo, "+79160000002")
	require.NotNil(t, in, "scenario 2: the contact exists during the call")
	require.Equal(t, "Автоконтакт: Входящий", in.Name)
	require.Equal(t, op1, in.ResponsibleUserID, "scenario 2: the one who picked up")

	// 4 and 5. Inbound, known and unknown, nobody answers (yet).
	c4, c5 := g.call("+79161111111"), g.call("+79160000005")
	g.send(c4.DialIn(), c5.DialIn())

	// 6 and 9. Outbound to the known client.
	c6, c9 := g.call("+79161111111"), g.call("+79161111111")
	g.send(c6.DialOut(), c9.DialOut())

	// 7 and 10. Outbound to unknown numbers: «Автоконтакт: Исходящий» on
	// dialing, for the manager who calls, and the caller's card.
	c7 := g.call("+79160000007")
	g.send(c7.DialOut())
	out := contactWith(amo, "+79160000007")
	require.NotNil(t, out, "scenario 7: created when the call is placed")
	require.Equal(t, "Автоконтакт: Исходящий", out.Name)
	require.Equal(t, op1, out.ResponsibleUserID, "scenario 7: the manager who calls")
	require.True(t, poppedTo(amo, "+79160000007", op1), "scenario 7: the caller's card")
	c10 := g.call("+79160000010")
	g.send(c10.DialOut())
	out10 := contactWith(amo, "+79160000010")
	require.NotNil(t, out10, "scenario 10: created when the call is placed, answered or not")
	require.Equal(t, "Автоконтакт: Исходящий", out10.Name)
	require.Equal(t, op1, out10.ResponsibleUserID)

	// They hang up: 1, 2, 6 and 7 after talking, 4 and 5 missed, 9 busy,
	// 10 not answered.
	g.send(c1.Hangup(), c2.Hangup(), missedHangup(c4), missedHangup(c5), c6.HangupOut("ANSWER"),
		c9.HangupOut("BUSY"), c7.HangupOut("ANSWER"), c10.HangupOut("NOANSWER"))
	g.end()

	require.Equal(t, known, g.callOn(c1.CallID).EntityID, "scenario 1: the call on the contact")
	require.Equal(t, in.ID, g.callOn(c2.CallID).EntityID, "scenario 2: the call on the contact made on answer")
	require.Equal(t, known, g.callOn(c4.CallID).EntityID, "scenario 4: the missed call on the contact")
	missed := contactWith(amo, "+79160000005")
	require.NotNil(t, missed, "scenario 5: a contact at the end")
	require.Equal(t, "Автоконтакт: Входящий-пропущенный", missed.Name)
	require.Equal(t, missed.ID, g.callOn(c5.CallID).EntityID, "scenario 5: the missed call on it")
	require.Equal(t, known, g.callOn(c6.CallID).EntityID, "scenario 6")
	require.Equal(t, known, g.callOn(c9.CallID).EntityID, "scenario 9")
	require.Equal(t, out.ID, g.callOn(c7.CallID).EntityID, "scenario 7: the call on the contact made on dialing")
	require.Equal(t, out10.ID, g.callOn(c10.CallID).EntityID, "scenario 10: the unanswered call on its new contact")
	require.Equal(t, 2, contactsNamed(amo, "Автоконтакт: Исходящий"), "scenarios 7 and 10: one contact each")
	require.Equal(t, 1, contactsNamed(amo, "Автоконтакт: Входящий"), "scenario 2: one contact")
}

// seed002CreateOff replays scenarios 3 and 8 on g, whose rules create no
// contacts: the card on answer offers to create one, and a contact made
// during the call gets it.
func seed002CreateOff(t *testing.T, g seed002Gateway) {
	amo := g.amoFake()
	op1 := amocrmtest.DefaultUsers[0].ID

	// 3. Inbound, unknown, answered: nothing created, the offer on
	// answer; a contact made during the call gets it.
	c3 := g.call("+79160000003")
	g.send(c3.DialIn(), c3.Answer())
	require.Nil(t, contactWith(amo, "+79160000003"), "scenario 3: nothing created")
	require.Equal(t, 1, strings.Count(g.popups(op1), `"offer":true`), "scenario 3: the card offers to create a contact")
	made := amo.AddContact(amocrmtest.Contact{Name: "ООО Ромашка", Phones: []string{"+79160000003"}})
	g.talk()
	g.send(c3.Hangup())
	g.end()
	require.Equal(t, made, g.callOn(c3.CallID).EntityID, "scenario 3: the call on the contact made during it")

	// 8. Outbound to an unknown number: nothing created on dialing, the
	// offer on answer.
	c8 := g.call("+79160000008")
	g.send(c8.DialOut())
	require.Nil(t, contactWith(amo, "+79160000008"), "scenario 8: nothing created")
	g.send(c8.AnswerOut())
	require.Equal(t, 2, strings.Count(g.popups(op1), `"offer":true`), "scenario 8: the offer on answer")
	require.Len(t, amo.Contacts(), 1, "only the contact made by hand")
}
