// Package diagnostic prints what checking a policy found, its errors and
// warnings, in the forms qfw's users read them: text lines that editors
// jump from (file:line:col: path: message), GitHub Actions workflow
// commands that show as annotations on the policy's lines, and a JSON
// document for other tools.
//
// A [Report] holds a build's diagnostics as data; the caller chooses the
// form. Every form sorts by position, names files relative to the working
// directory, and gives the further places a diagnostic is about, such as
// the other side of a conflict. [WriteAnnotation] writes one workflow
// command for any message, as qfw test annotates its failing tests.
package diagnostic
