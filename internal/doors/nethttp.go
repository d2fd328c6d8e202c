package doors

// NetHTTP is the nethttp door. TODO(redesign): filled in by the door's author.
var NetHTTP = Door{Name: "nethttp"}
