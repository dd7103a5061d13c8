//go:build race

package automl

// raceEnabled widens timing tolerances: the race detector slows everything several times.
const raceEnabled = true
