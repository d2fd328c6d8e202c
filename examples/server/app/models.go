package app

// model is one video model the API offers.
type model struct {
	ID             string   `json:"id"`
	MaxDuration    int      `json:"max_duration"`
	Resolutions    []string `json:"resolutions"`
	PricePerSecond int      `json:"price_per_second"`

	// state is what the handler does after the credit check: "" runs the
	// generation, "maintenance" answers 503, "faulty" fails with an internal
	// error. Not part of the public JSON.
	state string
}

const (
	stateMaintenance = "maintenance"
	stateFaulty      = "faulty"
)

// catalogue is the fixed list of models (examples/server/README.md, "Models").
var catalogue = []model{
	{ID: "clipia-fast", MaxDuration: 10, Resolutions: []string{"480p", "720p"}, PricePerSecond: 1},
	{ID: "clipia-pro", MaxDuration: 60, Resolutions: []string{"720p", "1080p", "4k"}, PricePerSecond: 5},
	{ID: "clipia-maintenance", MaxDuration: 10, Resolutions: []string{"720p"}, PricePerSecond: 1, state: stateMaintenance},
	{ID: "clipia-faulty", MaxDuration: 10, Resolutions: []string{"720p"}, PricePerSecond: 1, state: stateFaulty},
}

func findModel(id string) (model, bool) {
	for _, m := range catalogue {
		if m.ID == id {
			return m, true
		}
	}
	return model{}, false
}
