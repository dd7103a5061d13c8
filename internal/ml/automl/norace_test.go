//go:build !race

package automl

const raceEnabled = false
