package pipelines

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fires lists n fire times after from, in zone, as local wall-clock text.
func fires(t *testing.T, sc *Schedule, from time.Time, n int, zone string) []string {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	at := from
	for range n {
		next, err := sc.Next(from, at)
		if err != nil {
			t.Fatal(err)
		}
		if !next.After(at) {
			t.Fatalf("Next(%s) = %s, not after it", at, next)
		}
		out = append(out, next.In(loc).Format("01-02 15:04 MST"))
		at = next
	}
	return out
}

func TestScheduleDaylightSaving(t *testing.T) {
	cases := []struct {
		name, cron, zone, from string
		want                   []string
	}{
		// Clocks go forward at 02:00 on 29 March 2026 in Paris: 02:30 does not exist that day.
		{"spring daily skipped", "30 2 * * *", "Europe/Paris", "2026-03-27T12:00:00Z",
			[]string{"03-28 02:30 CET", "03-30 02:30 CEST", "03-31 02:30 CEST"}},
		{"spring hourly", "0 * * * *", "Europe/Paris", "2026-03-29T00:30:00Z",
			[]string{"03-29 03:00 CEST", "03-29 04:00 CEST"}},
		// Clocks go back at 03:00 on 25 October 2026: 02:30 happens twice, fires once.
		{"autumn daily once", "30 2 * * *", "Europe/Paris", "2026-10-23T12:00:00Z",
			[]string{"10-24 02:30 CEST", "10-25 02:30 CEST", "10-26 02:30 CET"}},
		{"autumn hourly once per wall-clock hour", "0 * * * *", "Europe/Paris", "2026-10-24T23:30:00Z",
			[]string{"10-25 02:00 CEST", "10-25 03:00 CET", "10-25 04:00 CET"}},
		// New York: forward on 8 March, back on 1 November 2026.
		{"new york spring", "30 2 * * *", "America/New_York", "2026-03-06T12:00:00Z",
			[]string{"03-07 02:30 EST", "03-09 02:30 EDT"}},
		{"new york autumn", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"11-01 01:30 EDT", "11-02 01:30 EST"}},
		// A zone without daylight-saving time and UTC, for contrast.
		{"utc", "0 3 * * *", "UTC", "2026-03-28T12:00:00Z", []string{"03-29 03:00 UTC", "03-30 03:00 UTC"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := &Schedule{Cron: c.cron, Timezone: c.zone}
			if c.zone == "UTC" {
				sc.Timezone = ""
			}
			got := fires(t, sc, mustTime(t, c.from), len(c.want), c.zone)
			for i := range c.want {
				if got[i] != c.want[i] {
					t.Fatalf("fire times %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestScheduleEvery(t *testing.T) {
	anchor := mustTime(t, "2026-01-01T00:00:00Z")
	sc := &Schedule{Every: "15m"}
	for _, c := range []struct{ after, want string }{
		{"2025-12-31T23:00:00Z", "2026-01-01T00:15:00Z"}, // before the anchor: its first interval
		{"2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z"},
		{"2026-01-01T00:14:59Z", "2026-01-01T00:15:00Z"},
		{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"}, // strictly after
		{"2026-01-02T10:07:00Z", "2026-01-02T10:15:00Z"},
	} {
		got, err := sc.Next(anchor, mustTime(t, c.after))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(mustTime(t, c.want)) {
			t.Errorf("Next(%s) = %s, want %s", c.after, got.Format(time.RFC3339), c.want)
		}
	}
	last := sc.lastBefore(anchor, mustTime(t, "2026-01-01T00:15:00Z"), mustTime(t, "2026-01-01T01:07:00Z"))
	if !last.Equal(mustTime(t, "2026-01-01T01:00:00Z")) {
		t.Errorf("lastBefore = %s, want 01:00", last)
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, c := range []struct {
		sc   Schedule
		want string
	}{
		{Schedule{Cron: "61 * * * *"}, `cron "61 * * * *"`},
		{Schedule{Cron: "0 3 * * *", Timezone: "Mars/Olympus"}, `unknown time zone "Mars/Olympus"`},
		{Schedule{Cron: "0 3 * * *", Timezone: "Local"}, `unknown time zone "Local"`},
		{Schedule{Cron: "CRON_TZ=UTC 0 3 * * *"}, "set the time zone in timezone"},
		{Schedule{Every: "10ms"}, "shorter than the scheduler's 1s resolution"},
		{Schedule{Every: "1h", Cron: "* * * * *"}, "not both"},
		{Schedule{}, "want cron or every"},
	} {
		err := c.sc.Check()
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.sc, err, c.want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
