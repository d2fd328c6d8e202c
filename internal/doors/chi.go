package doors

// Chi is the chi door. TODO(redesign): filled in by the door's author.
var Chi = Door{Name: "chi"}
