package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The workspace's strings, in one place: messages[lang][id]. The pages'
// templates take them by id (pageView.T), the script gets its
// language's map (Workspace.Messages); {name} in a string is filled in
// by the script. To add a language, add its map with every id (a test
// checks that each language has the ids of the first) and its code to
// languages.

// languages are the workspace's languages, the default first.
var languages = []string{"ru", "en"}

// tr is the string with id of msgs, else the id itself.
func tr(msgs map[string]string, id string) string {
	if s, ok := msgs[id]; ok {
		return s
	}
	return id
}

// requestLang is the language of a request: the switch (?lang= or the
// form's lang) if it is one of languages, else the employee's setting,
// else the best of Accept-Language, else the default.
func requestLang(r *http.Request, setting string) string {
	if l := r.FormValue("lang"); slices.Contains(languages, l) {
		return l
	}
	if slices.Contains(languages, setting) {
		return setting
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage is the language of languages an Accept-Language header
// prefers most ("en-US,en;q=0.9,ru;q=0.8" → en), the default for none.
func acceptLanguage(h string) string {
	best, bestQ := languages[0], -1.0
	for part := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if !slices.Contains(languages, primary) {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = primary, q
		}
	}
	if bestQ <= 0 {
		return languages[0]
	}
	return best
}

// messages are the workspace's strings by language and id.
var messages = map[string]map[string]string{
	"ru": {
		"app.name":              "Телефония: рабочее место",
		"lang.label":            "Язык",
		"signin.title":          "Вход: рабочее место",
		"signin.employee":       "Сотрудник (id)",
		"signin.password":       "Пароль",
		"signin.submit":         "Войти",
		"signin.hint":           "Нет пароля? Попросите администратора прислать ссылку для входа.",
		"signin.wrong":          "Неверный сотрудник или пароль.",
		"signin.bad_form":       "Форма входа не прочитана: попробуйте ещё раз.",
		"signin.throttled":      "Слишком много неудачных попыток: попробуйте позже.",
		"signin.bad_link":       "Ссылка для входа недействительна.",
		"signin.expired_link":   "Срок действия ссылки истёк: попросите новую.",
		"status.label":          "Мой статус",
		"status.set":            "Статус: {status}",
		"nav.status_page":       "Состояние шлюза",
		"nav.logout":            "Выйти",
		"conn.lost":             "Нет связи с сервером: переподключаемся…",
		"conn.signed_out":       "Сессия закончилась: войдите снова",
		"error.failed":          "Не получилось: {error}",
		"calls.title":           "Звонки",
		"calls.none":            "Сейчас звонков нет.",
		"call.aria":             "Звонок {number}",
		"call.anonymous":        "номер скрыт",
		"call.hold":             "Удержать",
		"call.unhold":           "Снять с удержания",
		"call.transfer":         "Перевести",
		"call.hangup":           "Завершить",
		"call.dismiss":          "Закрыть",
		"call.waiting_hint":     "Ждёт: этот оператор не умеет ставить звонки на удержание.",
		"dir.inbound":           "Входящий",
		"dir.outbound":          "Исходящий",
		"dir.internal":          "Внутренний",
		"state.ringing":         "звонит",
		"state.talking":         "разговор",
		"state.on_hold":         "на удержании",
		"state.waiting":         "ждёт",
		"state.transferred":     "переведён",
		"state.ended":           "завершён",
		"card.loading":          "Загрузка…",
		"card.unknown":          "Номера нет в базе",
		"card.company":          "Компания: {name}",
		"card.created":          "Контакт создан по этому звонку",
		"card.leads":            "Открытые сделки",
		"card.last_calls":       "Последние звонки",
		"offer.name":            "Имя или название",
		"offer.contact":         "Создать контакт",
		"offer.company":         "Создать компанию",
		"offer.done":            "Создано: звонок прикрепится к карточке",
		"transfer.title":        "Перевести звонок",
		"transfer.number":       "Или номер",
		"transfer.go":           "Перевести",
		"transfer.cancel":       "Отмена",
		"transfer.ext":          "доб. {ext}",
		"transfer.nobody":       "Некому переводить.",
		"transfer.done":         "Переведено на {to}",
		"dial.title":            "Позвонить",
		"dial.number":           "Номер",
		"dial.provider":         "Через",
		"dial.call":             "Позвонить",
		"dial.call_number":      "Позвонить на {number}",
		"dial.placed":           "Звоним на {number}: возьмите трубку",
		"notes.title":           "Уведомления",
		"notes.none":            "Уведомлений нет.",
		"note.missed":           "Пропущенный",
		"note.missed_toast":     "Пропущенный звонок: {number}",
		"note.call":             "Звонок",
		"note.task_overdue":     "Просрочена задача",
		"note.integration":      "Интеграция",
		"history.title":         "История звонков",
		"history.phone":         "Номер",
		"history.status":        "Итог",
		"history.any":           "любой",
		"history.from":          "С",
		"history.to":            "По",
		"history.apply":         "Показать",
		"history.when":          "Когда",
		"history.direction":     "Направление",
		"history.number":        "Номер",
		"history.duration":      "Длительность",
		"history.recording":     "Запись",
		"history.none":          "Звонков не найдено.",
		"history.more":          "Ещё",
		"outcome.success":       "состоялся",
		"outcome.missed":        "пропущен",
		"outcome.canceled":      "отменён",
		"outcome.busy":          "занято",
		"outcome.not_available": "недоступен",
		"outcome.not_allowed":   "запрещён",
		"outcome.not_found":     "не найден",
		"outcome.failed":        "ошибка",
		"campaign.title":        "Обзвон",
		"campaign.position":     "{n} из {total}",
		"campaign.ready":        "Готов",
		"campaign.skip":         "Пропустить",
		"campaign.pause":        "Пауза",
		"campaign.outcome":      "Результат",
		"campaign.save":         "Сохранить",
		"campaign.next_in":      "Следующий звонок через {s} с",
		"campaign.dialing":      "набираем",
		"campaign.talking":      "разговор",
		"campaign.wrap_up":      "постобработка",
		"campaign.paused":       "пауза",
		"campaign.done":         "список пройден",
		"demo.title":            "Демо",
		"demo.hint":             "Демо-телефон: позвонить себе, ответить, положить трубку за клиента.",
		"demo.ring_known":       "Мне звонит клиент",
		"demo.ring_unknown":     "Мне звонит незнакомый номер",
		"demo.answer":           "Ответить (демо-телефон)",
		"demo.abandon":          "Клиент положил трубку",
	},
	"en": {
		"app.name":              "Telephony workspace",
		"lang.label":            "Language",
		"signin.title":          "Sign in: workspace",
		"signin.employee":       "Employee (id)",
		"signin.password":       "Password",
		"signin.submit":         "Sign in",
		"signin.hint":           "No password? Ask the administrator for a login link.",
		"signin.wrong":          "Wrong employee or password.",
		"signin.bad_form":       "The sign-in form could not be read: try again.",
		"signin.throttled":      "Too many failed attempts: try again later.",
		"signin.bad_link":       "This login link is not valid.",
		"signin.expired_link":   "This login link has expired: ask for a new one.",
		"status.label":          "My status",
		"status.set":            "Status: {status}",
		"nav.status_page":       "Gateway status",
		"nav.logout":            "Sign out",
		"conn.lost":             "Connection to the server lost: reconnecting…",
		"conn.signed_out":       "The session ended: sign in again",
		"error.failed":          "That did not work: {error}",
		"calls.title":           "Calls",
		"calls.none":            "No calls right now.",
		"call.aria":             "Call {number}",
		"call.anonymous":        "withheld number",
		"call.hold":             "Hold",
		"call.unhold":           "Resume",
		"call.transfer":         "Transfer",
		"call.hangup":           "Hang up",
		"call.dismiss":          "Close",
		"call.waiting_hint":     "Waiting: this provider cannot put calls on hold.",
		"dir.inbound":           "Inbound",
		"dir.outbound":          "Outbound",
		"dir.internal":          "Internal",
		"state.ringing":         "ringing",
		"state.talking":         "talking",
		"state.on_hold":         "on hold",
		"state.waiting":         "waiting",
		"state.transferred":     "transferred",
		"state.ended":           "ended",
		"card.loading":          "Loading…",
		"card.unknown":          "Unknown number",
		"card.company":          "Company: {name}",
		"card.created":          "Contact created for this call",
		"card.leads":            "Open deals",
		"card.last_calls":       "Last calls",
		"offer.name":            "Name",
		"offer.contact":         "Create contact",
		"offer.company":         "Create company",
		"offer.done":            "Created: the call will be attached to it",
		"transfer.title":        "Transfer the call",
		"transfer.number":       "Or a number",
		"transfer.go":           "Transfer",
		"transfer.cancel":       "Cancel",
		"transfer.ext":          "ext. {ext}",
		"transfer.nobody":       "Nobody to transfer to.",
		"transfer.done":         "Transferred to {to}",
		"dial.title":            "Call",
		"dial.number":           "Number",
		"dial.provider":         "Through",
		"dial.call":             "Call",
		"dial.call_number":      "Call {number}",
		"dial.placed":           "Calling {number}: pick up your phone",
		"notes.title":           "Notifications",
		"notes.none":            "No notifications.",
		"note.missed":           "Missed",
		"note.missed_toast":     "Missed call: {number}",
		"note.call":             "Call",
		"note.task_overdue":     "Task overdue",
		"note.integration":      "Integration",
		"history.title":         "Call history",
		"history.phone":         "Number",
		"history.status":        "Outcome",
		"history.any":           "any",
		"history.from":          "From",
		"history.to":            "To",
		"history.apply":         "Show",
		"history.when":          "When",
		"history.direction":     "Direction",
		"history.number":        "Number",
		"history.duration":      "Duration",
		"history.recording":     "Recording",
		"history.none":          "No calls found.",
		"history.more":          "More",
		"outcome.success":       "answered",
		"outcome.missed":        "missed",
		"outcome.canceled":      "canceled",
		"outcome.busy":          "busy",
		"outcome.not_available": "not available",
		"outcome.not_allowed":   "not allowed",
		"outcome.not_found":     "not found",
		"outcome.failed":        "failed",
		"campaign.title":        "Dialing list",
		"campaign.position":     "{n} of {total}",
		"campaign.ready":        "Ready",
		"campaign.skip":         "Skip",
		"campaign.pause":        "Pause",
		"campaign.outcome":      "Outcome",
		"campaign.save":         "Save",
		"campaign.next_in":      "Next call in {s} s",
		"campaign.dialing":      "dialing",
		"campaign.talking":      "talking",
		"campaign.wrap_up":      "wrap-up",
		"campaign.paused":       "paused",
		"campaign.done":         "list done",
		"demo.title":            "Demo",
		"demo.hint":             "The demo phone: ring yourself, answer, hang up as the client.",
		"demo.ring_known":       "A client calls me",
		"demo.ring_unknown":     "An unknown number calls me",
		"demo.answer":           "Answer (demo phone)",
		"demo.abandon":          "Client hangs up",
	},
}
