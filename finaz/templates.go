package finaz

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed templates/*.json
var templateFS embed.FS

// Templates returns the names of the shipped template sets, sorted:
//
//   - "generic-rest": a JSON REST PBX with a bearer token (param
//     "api_token"): every operation; uploads as a multipart CSV file
//     "arqMailing.csv" (the manual's "ID;CPF;DDD1Telefone1;…" layout);
//     results as JSON.
//   - "vicidial": VICIdial. Click2call is the agent API external_dial
//     (ramal_operador is the VICIdial agent user), transfer its
//     transfer_conference BLIND_TRANSFER, uploads the non-agent API
//     add_lead per contact (identificador_fila is the list_id; phones 2
//     and 3 go to alt_phone and address3; duplicate_check=DUPLIST), and
//     clear_dialer its update_list delete_leads=Y. Params "user" and
//     "pass" (secret) are an API user's. VICIdial has no single request for
//     per-lead dialer results or for a recording file by call id, so
//     dialer_results and download_recording are not configured.
//
// Set the base URL (callbridge.WithBaseURL or Config.BaseURL) and the empty Params
// (Config.SetParam / SetSecret) before NewClient.
func Templates() []string {
	entries, _ := fs.ReadDir(templateFS, "templates")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	return names
}

// TemplateFS returns the shipped template files ("templates/<name>.json"),
// e.g. to copy one as a starting point.
func TemplateFS() fs.FS { return templateFS }

// LoadTemplate loads and validates a shipped template set by name (see
// Templates). required is as for LoadConfig.
func LoadTemplate(name string, required ...Operation) (Config, error) {
	f, err := templateFS.Open(path.Join("templates", name+".json"))
	if err != nil || strings.ContainsAny(name, "/\\") {
		return Config{}, fmt.Errorf("finaz: no template %q (have %s)", name, strings.Join(Templates(), ", "))
	}
	defer f.Close()
	return LoadConfig(f, required...)
}
