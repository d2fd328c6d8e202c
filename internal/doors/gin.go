package doors

// Gin is the gin door. TODO(redesign): filled in by the door's author.
var Gin = Door{Name: "gin"}
