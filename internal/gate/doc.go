// Package gate holds the test gates of berth: a test that needs root or a
// kernel feature calls one and is skipped, with the reason, where it is missing.
package gate
