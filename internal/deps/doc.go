// Package deps checks that imports between berth's packages point down the
// layer map of DESIGN.md, never up; it has only a test.
package deps
