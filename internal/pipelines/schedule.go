package pipelines

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the same zone names on every machine, as the loader checks them

	"github.com/robfig/cron/v3"
)

// Schedule is when a pipeline triggers itself: Cron read in Timezone, or Every.
//
// Cron fires at wall-clock times of its zone, so daylight-saving transitions (tested in
// schedule_test.go) go as follows. When clocks go forward, a time that does not exist that
// day (02:30 in Europe/Paris on the last Sunday of March) is skipped: no run for it that
// day. When clocks go back, a time that occurs twice (02:30 on the last Sunday of October)
// fires once, at its first occurrence; robfig/cron alone would fire it twice. This holds
// for every expression: "0 * * * *" has no 02:00 run in March and one 02:00 run in
// October (two hours apart from the 03:00 run). Every counts real time from the first
// publication and knows nothing of zones.
type Schedule struct {
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Every    string `json:"every,omitempty"`
	// Catchup is what a server start does with fire times missed while no server ran:
	// "none" skips them (Azure's rule), "one" runs once for them.
	Catchup string `json:"catchup,omitempty"`
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// String is the schedule as the pipeline output shows it.
func (sc *Schedule) String() string {
	if sc == nil {
		return ""
	}
	if sc.Every != "" {
		return "every " + sc.Every
	}
	tz := sc.Timezone
	if tz == "" {
		tz = "UTC"
	}
	return sc.Cron + " (" + tz + ")"
}

// Check validates the schedule; the loader reports the same errors with positions.
func (sc *Schedule) Check() error {
	_, err := sc.Next(time.Time{}, time.Time{})
	return err
}

// Next is the first fire time strictly after after. anchor is when an Every schedule
// started counting.
func (sc *Schedule) Next(anchor, after time.Time) (time.Time, error) {
	switch {
	case sc.Every != "" && sc.Cron != "":
		return time.Time{}, fmt.Errorf("want cron or every, not both")
	case sc.Every != "":
		d, err := time.ParseDuration(sc.Every)
		if err != nil {
			return time.Time{}, fmt.Errorf("every %q: %v", sc.Every, err)
		}
		if d < time.Second {
			return time.Time{}, fmt.Errorf("every %q: shorter than the scheduler's 1s resolution", sc.Every)
		}
		if after.Before(anchor) {
			return anchor.Add(d).UTC(), nil
		}
		n := after.Sub(anchor)/d + 1
		return anchor.Add(n * d).UTC(), nil
	case sc.Cron != "":
		if strings.HasPrefix(sc.Cron, "TZ=") || strings.HasPrefix(sc.Cron, "CRON_TZ=") {
			return time.Time{}, fmt.Errorf("cron %q: set the time zone in timezone, not in the expression", sc.Cron)
		}
		loc := time.UTC
		if sc.Timezone != "" {
			l, err := time.LoadLocation(sc.Timezone)
			if err != nil || sc.Timezone == "Local" {
				return time.Time{}, fmt.Errorf("unknown time zone %q", sc.Timezone)
			}
			loc = l
		}
		spec, err := cronParser.Parse(sc.Cron)
		if err != nil {
			return time.Time{}, fmt.Errorf("cron %q: %v", sc.Cron, err)
		}
		t := after.In(loc)
		for range 8 {
			t = spec.Next(t)
			if t.IsZero() {
				return time.Time{}, fmt.Errorf("cron %q never fires", sc.Cron)
			}
			if !repeated(t) {
				return t.UTC(), nil
			}
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("want cron or every")
}

// lastBefore is the last fire time at or before now, from next (a fire time at or before
// now). Bounded: a long downtime of a frequent cron is counted through at most maxSteps
// fire times, then the latest of them is used.
func (sc *Schedule) lastBefore(anchor, next, now time.Time) time.Time {
	const maxSteps = 1 << 20
	last := next
	for range maxSteps {
		n, err := sc.Next(anchor, last)
		if err != nil || n.After(now) {
			break
		}
		last = n
	}
	return last
}

// repeated tells whether t's wall-clock time already occurred earlier that day, when clocks
// went back (by 30 minutes to 2 hours, the shifts zones use).
func repeated(t time.Time) bool {
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-d)
		if e.Hour() == t.Hour() && e.Minute() == t.Minute() && e.Day() == t.Day() {
			return true
		}
	}
	return false
}
