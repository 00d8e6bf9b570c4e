// Package scenarios holds the load and fault scenarios of mpcrelay: the file format (spec), the
// bench runner that drives real tss-lib parties through a relay (run), the signed-traffic traces
// and their replay without cryptography (trace), the reports both write (report), and the
// checked-in example scenarios (examples/) and trace (testdata/).
package scenarios
