package doors

// Echo5 is the echo5 door. TODO(redesign): filled in by the door's author.
var Echo5 = Door{Name: "echo5"}
