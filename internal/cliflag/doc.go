// Package cliflag checks a cobra program's flags before a command runs,
// so that a flag that is wrong, or that the command would ignore, is an
// error in the user's words and nothing is done:
//
//   - [Guard] wraps every flag's value: a flag given twice, where pflag
//     keeps the last value and drops the first, is an error, and so is an
//     empty value; [ErrorFunc] words the parser's errors as
//     "--flag value: reason".
//   - [Checks.Check] checks each value on its own, by its kind: durations
//     and times in range, names that a function accepts, and paths of the
//     kind that help names their value (FILE, DIR, SOCKET, PROGRAM).
//   - [CheckRules] checks the flags together, by [Rule]s that say when a
//     command ignores a flag.
//   - [Enum] and [Addrs] are flag values: one of a fixed set of values, and
//     a comma-separated list of IP addresses; [PathError] words the error
//     of a path a flag names that could not be used.
//
// What a program's flags are and which rules bind them is the program's:
// cliflag holds the machinery only. It imports nothing of qfw but
// internal/jsonfile, for its lists of words.
package cliflag
