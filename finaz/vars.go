package finaz

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/callbridge/callbridge/internal/phone"
)

// Operation names one configurable request of the Finaz contract. The
// string is the operation's key in the JSON configuration.
type Operation string

// The operations of the Finaz manual.
const (
	OpClick2Call        Operation = "click2call"         // Click2Call
	OpTransfer          Operation = "transfer"           // Transferência
	OpUploadContacts    Operation = "upload_contacts"    // Envio automático de Contatos ao Discador
	OpClearDialer       Operation = "clear_dialer"       // Limpeza de Contatos do Discador
	OpDialerResults     Operation = "dialer_results"     // Retorno do Discador
	OpDownloadRecording Operation = "download_recording" // Download Gravação
)

// operations lists every operation in the manual's order.
var operations = [...]Operation{OpClick2Call, OpTransfer, OpUploadContacts, OpClearDialer, OpDialerResults, OpDownloadRecording}

// command reports whether op changes state at the PBX, so that repeating it
// could place a second call, transfer twice or upload duplicates.
func (op Operation) command() bool {
	return op == OpClick2Call || op == OpTransfer || op == OpUploadContacts || op == OpClearDialer
}

// System variable names ("parâmetros de sistema" of the manual). The manual
// names them in Portuguese prose; the template names are those words in
// lower case, without accents and articles, joined by "_".
const (
	// VarFila is "Identificador da Fila": the queue (campaign, list) id.
	// Click2Call (Client.Call uses Config.DefaultQueue, GroupCall the
	// request's Group), Transfer, UploadContacts, ClearDialer, DialerResults.
	VarFila = "identificador_fila"
	// VarRamal is "Ramal do operador": the operator's extension. Click2Call, Transfer.
	VarRamal = "ramal_operador"
	// VarDDD is "DDD do telefone": the two-digit Brazilian area code of the
	// number to call. Click2Call.
	VarDDD = "ddd"
	// VarNumero is "Número do telefone": the 8- or 9-digit subscriber number
	// without the DDD. Click2Call.
	VarNumero = "numero"
	// VarTelefone is a callbridge addition: the whole number, digits with
	// the country code ("5511987654321"). Click2Call; it also works for
	// numbers of other countries, which have no DDD.
	VarTelefone = "telefone"
	// VarContatoCRM is "Identificador Contato CRM": the CRM's contact id. UploadContacts.
	VarContatoCRM = "identificador_contato_crm"
	// VarNomeCliente is "Nome Cliente": the client's name. UploadContacts.
	VarNomeCliente = "nome_cliente"
	// VarCPF is "CPF", digits only. UploadContacts.
	VarCPF = "cpf"
	// VarNumeroDestino is "Número do telefone de destino": where to transfer.
	// A Brazilian number is given in national form, DDD + number
	// ("11987654321"); another country's number as digits with its country
	// code; an internal extension as written. Transfer.
	VarNumeroDestino = "numero_destino"
	// VarChamada is "Identificador da Chamada": the PBX's call id.
	// DownloadRecording; also Transfer (callbridge addition, from
	// TransferRequest.CallID).
	VarChamada = "identificador_chamada"
)

// MaxContactPhones is the number of phones per contact the manual allows
// ("DDD 1" / "Número 1" … "DDD 5" / "Número 5").
const MaxContactPhones = 5

// VarDDDN names the UploadContacts variable "ddd1" … "ddd5" ("DDD 1" …
// "DDD 5" of the manual): the DDD of the contact's n-th phone (1-based).
func VarDDDN(n int) string { return "ddd" + strconv.Itoa(n) }

// VarNumeroN names the UploadContacts variable "numero1" … "numero5"
// ("Número 1" … "Número 5"): the n-th phone without its DDD.
func VarNumeroN(n int) string { return "numero" + strconv.Itoa(n) }

// VarTelefoneN names the UploadContacts variable "telefone1" … "telefone5",
// a callbridge addition: the n-th phone with country code.
func VarTelefoneN(n int) string { return "telefone" + strconv.Itoa(n) }

// kind is what a variable's values can look like; it decides which slots
// accept the variable.
type kind uint8

const (
	kindText   kind = iota // any text: not allowed as a JSON number or unescaped raw text
	kindID                 // an identifier: allowed as a JSON number if it is one at run time
	kindDigits             // always digits (or empty)
)

// varSet is the variables an operation offers, with their kinds.
type varSet map[string]kind

var (
	click2callVars = varSet{VarFila: kindID, VarRamal: kindID, VarDDD: kindDigits, VarNumero: kindDigits, VarTelefone: kindDigits}
	transferVars   = varSet{VarFila: kindID, VarRamal: kindID, VarNumeroDestino: kindID, VarChamada: kindID}
	queueVars      = varSet{VarFila: kindID}
	recordingVars  = varSet{VarChamada: kindID}
	contactVarSet  = func() varSet {
		s := varSet{VarContatoCRM: kindID, VarNomeCliente: kindText, VarCPF: kindDigits}
		for n := 1; n <= MaxContactPhones; n++ {
			s[VarDDDN(n)] = kindDigits
			s[VarNumeroN(n)] = kindDigits
			s[VarTelefoneN(n)] = kindDigits
		}
		return s
	}()
	uploadVars = func() varSet {
		s := varSet{VarFila: kindID}
		for k, v := range contactVarSet {
			s[k] = v
		}
		return s
	}()
)

// requestVars returns the system variables of op's request (URL, headers,
// query, body). In CSV mode the contact variables are only available in
// the CSV columns.
func requestVars(op Operation, csvMode bool) varSet {
	switch op {
	case OpClick2Call:
		return click2callVars
	case OpTransfer:
		return transferVars
	case OpUploadContacts:
		if csvMode {
			return queueVars
		}
		return uploadVars
	case OpClearDialer, OpDialerResults:
		return queueVars
	case OpDownloadRecording:
		return recordingVars
	}
	return nil
}

// ErrInvalidPhone reports a phone number that cannot be used: not a phone
// number, an internal extension or an anonymous value where a client's
// number is needed, or a number without DDD where one is required.
var ErrInvalidPhone = errors.New("finaz: invalid phone number")

// SplitPhone normalises raw (default country defaultCountry, "" meaning
// "BR") and, for a Brazilian number, splits it into DDD and subscriber
// number: "+55 (11) 98765-4321" → "11", "987654321". full is the
// normalised number with country code ("5511987654321"). A valid number of
// another country returns its full digits with empty ddd and number.
func SplitPhone(raw, defaultCountry string) (full, ddd, number string, err error) {
	if defaultCountry == "" {
		defaultCountry = "BR"
	}
	full, err = phone.Normalize(raw, defaultCountry)
	if err != nil {
		return "", "", "", phoneError(raw, err)
	}
	ddd, number, _ = splitBR(full)
	return full, ddd, number, nil
}

// JoinPhone is the inverse of SplitPhone for Brazilian numbers: it builds
// the normalised number ("5511987654321") from a DDD and a subscriber
// number, both possibly formatted ("(11)", "98765-4321"). If ddd is empty,
// number is normalised on its own with default country "BR" (it may then
// carry its DDD or a country code).
func JoinPhone(ddd, number string) (string, error) {
	raw := number
	if ddd != "" {
		raw = "+55 " + ddd + " " + number
	}
	full, err := phone.Normalize(raw, "BR")
	if err != nil {
		return "", phoneError(raw, err)
	}
	return full, nil
}

// splitBR splits a normalised Brazilian number "55" + DDD + 8 or 9 digits.
func splitBR(full string) (ddd, number string, ok bool) {
	if len(full) != 12 && len(full) != 13 || full[:2] != "55" {
		return "", "", false
	}
	return full[2:4], full[4:], true
}

func phoneError(raw string, err error) error {
	switch {
	case errors.Is(err, phone.ErrAnonymous):
		return fmt.Errorf("%w: %q is empty or anonymous", ErrInvalidPhone, raw)
	case errors.Is(err, phone.ErrInternal):
		return fmt.Errorf("%w: %q is an internal extension", ErrInvalidPhone, raw)
	case errors.Is(err, phone.ErrUnknownCountry):
		return fmt.Errorf("finaz: %w", err)
	}
	return fmt.Errorf("%w: %q", ErrInvalidPhone, raw)
}
