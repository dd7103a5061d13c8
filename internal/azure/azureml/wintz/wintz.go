// Package wintz names IANA time zones the Windows way. Azure ML schedules take
// a Windows time-zone name ("Romance Standard Time"), while workflows write
// IANA names ("Europe/Paris") as the local scheduler does; the table is the
// common part of CLDR's windowsZones.xml (territory 001 entries and their
// usual aliases), enough for a workflow to say what it means.
package wintz

import "sort"

var table = map[string]string{
	"UTC":                            "UTC",
	"Etc/UTC":                        "UTC",
	"Etc/GMT":                        "UTC",
	"GMT":                            "UTC",
	"Europe/London":                  "GMT Standard Time",
	"Europe/Dublin":                  "GMT Standard Time",
	"Europe/Lisbon":                  "GMT Standard Time",
	"Europe/Paris":                   "Romance Standard Time",
	"Europe/Brussels":                "Romance Standard Time",
	"Europe/Madrid":                  "Romance Standard Time",
	"Europe/Copenhagen":              "Romance Standard Time",
	"Europe/Berlin":                  "W. Europe Standard Time",
	"Europe/Amsterdam":               "W. Europe Standard Time",
	"Europe/Rome":                    "W. Europe Standard Time",
	"Europe/Stockholm":               "W. Europe Standard Time",
	"Europe/Vienna":                  "W. Europe Standard Time",
	"Europe/Zurich":                  "W. Europe Standard Time",
	"Europe/Oslo":                    "W. Europe Standard Time",
	"Europe/Warsaw":                  "Central European Standard Time",
	"Europe/Prague":                  "Central Europe Standard Time",
	"Europe/Budapest":                "Central Europe Standard Time",
	"Europe/Athens":                  "GTB Standard Time",
	"Europe/Bucharest":               "GTB Standard Time",
	"Europe/Helsinki":                "FLE Standard Time",
	"Europe/Kiev":                    "FLE Standard Time",
	"Europe/Kyiv":                    "FLE Standard Time",
	"Europe/Istanbul":                "Turkey Standard Time",
	"Europe/Moscow":                  "Russian Standard Time",
	"Africa/Cairo":                   "Egypt Standard Time",
	"Africa/Johannesburg":            "South Africa Standard Time",
	"Africa/Lagos":                   "W. Central Africa Standard Time",
	"Africa/Nairobi":                 "E. Africa Standard Time",
	"Asia/Dubai":                     "Arabian Standard Time",
	"Asia/Jerusalem":                 "Israel Standard Time",
	"Asia/Riyadh":                    "Arab Standard Time",
	"Asia/Tehran":                    "Iran Standard Time",
	"Asia/Karachi":                   "Pakistan Standard Time",
	"Asia/Kolkata":                   "India Standard Time",
	"Asia/Calcutta":                  "India Standard Time",
	"Asia/Dhaka":                     "Bangladesh Standard Time",
	"Asia/Bangkok":                   "SE Asia Standard Time",
	"Asia/Jakarta":                   "SE Asia Standard Time",
	"Asia/Shanghai":                  "China Standard Time",
	"Asia/Hong_Kong":                 "China Standard Time",
	"Asia/Singapore":                 "Singapore Standard Time",
	"Asia/Taipei":                    "Taipei Standard Time",
	"Asia/Tokyo":                     "Tokyo Standard Time",
	"Asia/Seoul":                     "Korea Standard Time",
	"Australia/Perth":                "W. Australia Standard Time",
	"Australia/Adelaide":             "Cen. Australia Standard Time",
	"Australia/Brisbane":             "E. Australia Standard Time",
	"Australia/Sydney":               "AUS Eastern Standard Time",
	"Australia/Melbourne":            "AUS Eastern Standard Time",
	"Pacific/Auckland":               "New Zealand Standard Time",
	"Pacific/Honolulu":               "Hawaiian Standard Time",
	"America/Anchorage":              "Alaskan Standard Time",
	"America/Los_Angeles":            "Pacific Standard Time",
	"America/Vancouver":              "Pacific Standard Time",
	"America/Phoenix":                "US Mountain Standard Time",
	"America/Denver":                 "Mountain Standard Time",
	"America/Edmonton":               "Mountain Standard Time",
	"America/Chicago":                "Central Standard Time",
	"America/Winnipeg":               "Central Standard Time",
	"America/Mexico_City":            "Central Standard Time (Mexico)",
	"America/New_York":               "Eastern Standard Time",
	"America/Toronto":                "Eastern Standard Time",
	"America/Bogota":                 "SA Pacific Standard Time",
	"America/Lima":                   "SA Pacific Standard Time",
	"America/Halifax":                "Atlantic Standard Time",
	"America/Caracas":                "Venezuela Standard Time",
	"America/Santiago":               "Pacific SA Standard Time",
	"America/Sao_Paulo":              "E. South America Standard Time",
	"America/Argentina/Buenos_Aires": "Argentina Standard Time",
	"America/St_Johns":               "Newfoundland Standard Time",
	"Atlantic/Reykjavik":             "Greenwich Standard Time",
}

// Name is the Windows name of the IANA zone iana ("" defaults to UTC, as
// Azure's schedules do); ok is false for a zone the table does not hold.
func Name(iana string) (name string, ok bool) {
	if iana == "" {
		return "UTC", true
	}
	name, ok = table[iana]
	return name, ok
}

// Known lists the IANA names the table holds, sorted, for error messages.
func Known() []string {
	out := make([]string, 0, len(table))
	for k := range table {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
