package openapi_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/clipia/apiguard/openapi"
)

type inner struct {
	Name string `json:"name" validate:"required,max=10"`
}

type Embedded struct {
	Shared string `json:"shared"`
}

type request struct {
	Embedded
	Model    string            `json:"model" validate:"required"`
	Prompt   string            `json:"prompt" validate:"required,min=1,max=4000"`
	Duration *int              `json:"duration" validate:"omitempty,min=1,max=60"`
	Code     string            `json:"code" validate:"len=4"`
	Quality  string            `json:"quality" validate:"oneof=low high 'very high'"`
	Steps    int               `json:"steps" validate:"oneof=10 20"`
	Ratio    float64           `json:"ratio" validate:"gt=0,lt=1"`
	Email    string            `json:"email" validate:"omitempty,email"`
	Site     string            `json:"site" validate:"url"`
	ID       string            `json:"id" validate:"uuid4"`
	Tags     []string          `json:"tags" validate:"max=3,dive,min=2"`
	Meta     map[string]string `json:"meta" validate:"min=1"`
	Inner    inner             `json:"inner"`
	When     time.Time         `json:"when"`
	Raw      json.RawMessage   `json:"raw"`
	Blob     []byte            `json:"blob"`
	Count    uint8             `json:"count,string"`
	Either   string            `json:"either" validate:"email|url"`
	Skipped  string            `json:"-"`
	hidden   string
	NoTag    bool
}

// TestReflect: the JSON Schema of a request type with its validator tags.
func TestReflect(t *testing.T) {
	_ = request{}.hidden
	got, err := json.Marshal(openapi.Reflect(reflect.TypeFor[request](), openapi.ReflectConfig{Strict: true}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"object","properties":{` +
		`"NoTag":{"type":"boolean"},` +
		`"blob":{"type":"string","format":"byte"},` +
		`"code":{"type":"string","minLength":4,"maxLength":4},` +
		`"count":{"type":"string"},` +
		`"duration":{"type":["integer","null"],"format":"int64","minimum":1,"maximum":60},` +
		`"either":{"type":"string"},` +
		`"email":{"type":"string","format":"email"},` +
		`"id":{"type":"string","format":"uuid"},` +
		`"inner":{"type":"object","properties":{"name":{"type":"string","maxLength":10}},"required":["name"],"additionalProperties":false},` +
		`"meta":{"type":"object","additionalProperties":{"type":"string"},"minProperties":1},` +
		`"model":{"type":"string"},` +
		`"prompt":{"type":"string","minLength":1,"maxLength":4000},` +
		`"quality":{"type":"string","enum":["low","high","very high"]},` +
		`"ratio":{"type":"number","format":"double","exclusiveMinimum":0,"exclusiveMaximum":1},` +
		`"raw":{},` +
		`"shared":{"type":"string"},` +
		`"site":{"type":"string","format":"uri"},` +
		`"steps":{"type":"integer","format":"int64","enum":[10,20]},` +
		`"tags":{"type":"array","items":{"type":"string","minLength":2},"maxItems":3},` +
		`"when":{"type":"string","format":"date-time"}},` +
		`"required":["model","prompt"],"additionalProperties":false}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

type generation struct {
	ID    string  `json:"id"`
	Note  string  `json:"note,omitempty"`
	Price float32 `json:"price"`
}

// TestReflectResponse: a response type's fields are required unless
// omitempty; validation tags are not read.
func TestReflectResponse(t *testing.T) {
	got, _ := json.Marshal(openapi.Reflect(reflect.TypeFor[[]generation](), openapi.ReflectConfig{Response: true}))
	want := `{"type":"array","items":{"type":"object","properties":{"id":{"type":"string"},"note":{"type":"string"},"price":{"type":"number","format":"float"}},"required":["id","price"]}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

type node struct {
	Next *node `json:"next"`
}

// TestReflectRecursive: a recursive type ends in any value.
func TestReflectRecursive(t *testing.T) {
	got, _ := json.Marshal(openapi.Reflect(reflect.TypeFor[node](), openapi.ReflectConfig{}))
	if want := `{"type":"object","properties":{"next":{}}}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
