// Package source reads the policies a review compares: a directory as it
// is, or a directory of a git revision, which [Open] reads with git
// archive into a temporary directory without touching the working tree or
// the index. The whole CUE module the directory is in comes along, so the
// policy's imports resolve as they do in the working tree; what the
// archive holds is checked as it is written, and anything that is not a
// file or a directory below the temporary directory is refused.
//
// A [Side] names the positions in its policy as the user knows them:
// relative to the working directory for a directory, and as REV:PATH,
// git's own form, for a revision.
package source
