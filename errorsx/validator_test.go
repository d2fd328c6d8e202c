package errorsx_test

import (
	"errors"
	"testing"

	"github.com/clipia/apiguard/bind"
	"github.com/clipia/apiguard/errorsx"
	"github.com/go-playground/validator/v10"
)

type vItem struct {
	Name string `json:"name" validate:"required"`
}

type vReq struct {
	Prompt     string   `json:"prompt,omitempty" validate:"omitempty,min=3,max=5"`
	Duration   int      `json:"duration" validate:"omitempty,min=1,max=60"`
	Count      *int     `json:"count" validate:"omitempty,gt=0"`
	Resolution string   `json:"resolution" validate:"omitempty,oneof=480p 720p 1080p"`
	Email      string   `json:"email" validate:"omitempty,email"`
	Tags       []string `json:"tags" validate:"omitempty,max=2,unique"`
	Items      []vItem  `json:"items" validate:"omitempty,dive"`
	Exact      string   `json:"exact" validate:"omitempty,len=4"`
	Kind       string   `json:"kind" validate:"omitempty,alphanum"`
	Webhook    string   `json:"webhook" validate:"omitempty,url"`
	Weird      string   `json:"weird" validate:"omitempty,e164"`
}

func TestFromValidationErrors(t *testing.T) {
	two := 0
	tests := []struct {
		name        string
		req         vReq
		wantParam   string
		wantMessage string
	}{
		{"string too short", vReq{Prompt: "ab"}, "prompt", "prompt must be at least 3 characters long"},
		{"string too long", vReq{Prompt: "abcdef"}, "prompt", "prompt must be at most 5 characters long"},
		{"number too large", vReq{Duration: 61}, "duration", "duration must be at most 60"},
		{"pointer not greater", vReq{Count: &two}, "count", "count must be greater than 0"},
		{"oneof", vReq{Resolution: "4k"}, "resolution", "resolution must be one of: 480p, 720p, 1080p"},
		{"email", vReq{Email: "nope"}, "email", "email must be a valid email address"},
		{"too many items", vReq{Tags: []string{"a", "b", "c"}}, "tags", "tags must be at most 2 items"},
		{"duplicates", vReq{Tags: []string{"a", "a"}}, "tags", "tags must not contain duplicates"},
		{"nested in a list", vReq{Items: []vItem{{Name: "x"}, {}}}, "items[1].name", "items[1].name is required"},
		{"exact length", vReq{Exact: "abc"}, "exact", "exact must be exactly 4 characters long"},
		{"alphanum", vReq{Kind: "a-b"}, "kind", "kind must contain only letters and digits"},
		{"url", vReq{Webhook: "not a url"}, "webhook", "webhook must be a valid URL"},
		{"other tag", vReq{Weird: "12"}, "weird", "weird must be a phone number in E.164 format"},
		{"first field wins", vReq{Prompt: "ab", Duration: 99}, "prompt", "prompt must be at least 3 characters long"},
	}
	v := newValidator()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ve validator.ValidationErrors
			if !errors.As(v.Struct(tc.req), &ve) {
				t.Fatalf("want validation errors for %+v", tc.req)
			}
			got := bind.FromValidationErrors(ve)
			if got.Code() != errorsx.CodeInvalidRequest || got.Param() != tc.wantParam || got.Message() != tc.wantMessage {
				t.Errorf("got %s param %q message %q, want invalid_request %q %q", got.Code(), got.Param(), got.Message(), tc.wantParam, tc.wantMessage)
			}
		})
	}
}

// validate.Var has no field: no param, and a message that still reads well.
func TestFromValidationErrorsVar(t *testing.T) {
	var ve validator.ValidationErrors
	if !errors.As(validator.New().Var("", "required"), &ve) {
		t.Fatal("want validation errors")
	}
	got := bind.FromValidationErrors(ve)
	if got.Param() != "" || got.Message() != "value is required" {
		t.Errorf("got param %q message %q, want none and %q", got.Param(), got.Message(), "value is required")
	}
	if got := bind.FromValidationErrors(nil); got.Code() != errorsx.CodeInvalidRequest || got.Message() == "" {
		t.Errorf("FromValidationErrors(nil): got %s %q", got.Code(), got.Message())
	}
}
