// Package doc holds the documents that lubdub's programs read: the
// differences page's one source, rendered as lubdub-differences(7).
package doc

import _ "embed"

// Differences is differences.md: where lubdub reads ha.cf, authkeys,
// haresources and ldirectord.cf differently from Heartbeat 3.0.6 and
// ldirectord, on purpose.
//
//go:embed differences.md
var Differences string
