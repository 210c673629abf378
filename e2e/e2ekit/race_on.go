//go:build race

package e2ekit

// raceEnabled: the tests run with the race detector, so the daemons under
// test are built with it too.
const raceEnabled = true
